import type { Order, State } from '@orderflow/core';
import { GROUP_LABELS, GROUPS } from '@orderflow/core';
import { type DragEvent, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Empty, ErrorBox, Loaded, Loading, PageHeader, useToast } from '../components/common';
import { useMoveOrder } from '../components/move-order';
import { NewOrderDialog } from '../components/new-order-dialog';
import { useWorkflows, WorkflowPicker } from '../components/workflow-picker';
import { api } from '../lib/api';
import { formatMoney, relativeTime } from '../lib/format';
import { Link, navigate, useLocation, withQuery } from '../lib/router';
import { useAbilities } from '../lib/session';
import { useResource } from '../lib/use-resource';

export function BoardPage() {
  const { query } = useLocation();
  const workflows = useWorkflows();
  const requested = query.get('workflow') ?? '';
  return (
    <Loaded resource={workflows}>
      {(items) => {
        const published = items.filter((w) => w.publishedVersion);
        const key = requested || published[0]?.key || '';
        if (!key)
          return (
            <div className="page">
              <PageHeader title="Board" />
              <Empty>
                No published workflow yet. <Link to="/workflows">Design and publish one</Link> first.
              </Empty>
            </div>
          );
        return (
          <Board
            key={key}
            workflowKey={key}
            picker={<WorkflowPicker workflows={published} value={key} onChange={(k) => navigate(withQuery('/board', { workflow: k }))} />}
          />
        );
      }}
    </Loaded>
  );
}

function Board({ workflowKey, picker }: { workflowKey: string; picker: React.ReactNode }) {
  const can = useAbilities();
  const toast = useToast();
  const workflow = useResource(() => api.getWorkflow(workflowKey), [workflowKey]);
  const orders = useResource(() => api.listOrders({ workflow: workflowKey, limit: 500 }), [workflowKey]);
  const [refusal, setRefusal] = useState<string | null>(null);
  // The order being moved: a refusal names the version it runs on when that is not the board's.
  const moving = useRef<Order | null>(null);
  const [migrateHint, setMigrateHint] = useState<Order | null>(null);
  const [creating, setCreating] = useState(false);
  const [dragging, setDragging] = useState<string | null>(null);
  const [over, setOver] = useState<string | null>(null);
  const [filter, setFilter] = useState('');
  const { reload } = orders;

  useEffect(() => {
    const t = setInterval(reload, 15_000);
    return () => clearInterval(t);
  }, [reload]);

  const onMoved = useCallback(() => {
    setRefusal(null);
    reload();
  }, [reload]);
  const latest = workflow.data?.publishedVersion ?? null;
  const onRefused = useCallback(
    (message: string) => {
      const o = moving.current;
      const old = o && latest !== null && o.workflowVersion !== latest;
      setMigrateHint(old ? o : null);
      setRefusal(
        old
          ? `${message} (order ${o.externalRef ?? o.id} runs on version ${o.workflowVersion}; this board shows version ${latest}.)`
          : message,
      );
    },
    [latest],
  );
  const mover = useMoveOrder(onMoved, onRefused);

  const definition = workflow.data?.definition ?? null;
  const byState = useMemo(() => {
    const map = new Map<string, Order[]>();
    const f = filter.trim().toLowerCase();
    for (const o of orders.data?.items ?? []) {
      if (f && !`${o.id} ${o.externalRef ?? ''} ${JSON.stringify(o.data)}`.toLowerCase().includes(f)) continue;
      map.set(o.state, [...(map.get(o.state) ?? []), o]);
    }
    return map;
  }, [orders.data, filter]);

  if (workflow.error) return <ErrorBox error={workflow.error} onRetry={workflow.reload} />;
  if (!workflow.data) return <Loading />;
  if (!definition)
    return (
      <div className="page">
        <PageHeader title="Board">{picker}</PageHeader>
        <Empty>This workflow has not been published yet.</Empty>
      </div>
    );

  const known = new Set(definition.states.map((s) => s.key));
  const strays = [...byState.keys()].filter((k) => !known.has(k));
  const onDrop = (e: DragEvent, state: State) => {
    e.preventDefault();
    setOver(null);
    const id = e.dataTransfer.getData('text/plain') || dragging;
    setDragging(null);
    const order = orders.data?.items.find((o) => o.id === id);
    if (!order || !can.operate) return;
    moving.current = order;
    setMigrateHint(null);
    const latestVersion = workflow.data?.publishedVersion ?? null;
    if (latestVersion !== null && order.workflowVersion !== latestVersion) {
      // The board draws the newest version; the order moves under its own.
      void api.getWorkflow(workflowKey, { version: order.workflowVersion }).then(
        (own) => {
          const ownState = own.definition?.states.find((s) => s.key === state.key);
          if (own.definition && ownState) mover.request(order, ownState, own.definition);
          else {
            setMigrateHint(order);
            setRefusal(
              `Order ${order.externalRef ?? order.id} runs on version ${order.workflowVersion}, which has no state “${state.name}”: that state is new in version ${latestVersion}. Migrate the order to version ${latestVersion} first.`,
            );
          }
        },
        (err: unknown) => setRefusal(String(err)),
      );
      return;
    }
    mover.request(order, state, definition);
  };
  const older = (orders.data?.items ?? []).filter(
    (o) => latest !== null && o.workflowVersion < latest && o.group !== 'completed' && o.group !== 'cancelled',
  );

  return (
    <div className="page board-page">
      <PageHeader title="Board" subtitle={`${definition.name} · version ${workflow.data.publishedVersion ?? '—'}`}>
        {picker}
        <input
          className="search"
          type="search"
          placeholder="Filter cards…"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
          data-testid="board-filter"
        />
        <button type="button" onClick={reload}>
          Refresh
        </button>
        {older.length > 0 && (
          <Link to={`/workflows/${encodeURIComponent(workflowKey)}/migrate`} data-testid="board-migrate">
            Migrate {older.length} order(s) on older versions…
          </Link>
        )}
        {can.operate && (
          <button type="button" className="primary" onClick={() => setCreating(true)} data-testid="new-order">
            New order
          </button>
        )}
      </PageHeader>
      {refusal && (
        <div className="banner banner-error" role="alert" data-testid="board-error">
          {refusal}
          {migrateHint && (
            <>
              {' '}
              <Link
                to={withQuery(`/workflows/${encodeURIComponent(workflowKey)}/migrate`, { from: String(migrateHint.workflowVersion) })}
                data-testid="board-error-migrate"
              >
                Migrate orders of version {migrateHint.workflowVersion}…
              </Link>
            </>
          )}
          <button type="button" className="icon" aria-label="Dismiss" onClick={() => setRefusal(null)}>
            ×
          </button>
        </div>
      )}
      {orders.error ? <ErrorBox error={orders.error} onRetry={reload} /> : null}
      {!orders.data && !orders.error && <Loading />}
      <div className="board" data-testid="board">
        {GROUPS.map((g) => {
          const states = definition.states.filter((s) => s.group === g);
          return (
            <section key={g} className={`board-group group-${g}`} data-testid={`board-group-${g}`}>
              <h2>
                {GROUP_LABELS[g]} <span className="muted small">{states.reduce((n, s) => n + (byState.get(s.key)?.length ?? 0), 0)}</span>
              </h2>
              <div className="board-columns">
                {states.map((s) => {
                  const cards = byState.get(s.key) ?? [];
                  return (
                    // biome-ignore lint/a11y/noStaticElementInteractions: a drop target; the order page offers the same moves as buttons
                    <div
                      key={s.key}
                      className={`board-column${over === s.key ? ' over' : ''}`}
                      data-testid={`board-column-${s.key}`}
                      onDragOver={(e) => {
                        if (!can.operate) return;
                        e.preventDefault();
                        e.dataTransfer.dropEffect = 'move';
                        if (over !== s.key) setOver(s.key);
                      }}
                      onDragLeave={() => setOver((o) => (o === s.key ? null : o))}
                      onDrop={(e) => onDrop(e, s)}
                    >
                      <h3>
                        <span className="dot" style={{ background: s.color ?? '#94a3b8' }} />
                        {s.name}
                        <span className="count">{cards.length}</span>
                      </h3>
                      <div className="cards">
                        {cards.length === 0 && <p className="muted small column-empty">No orders</p>}
                        {cards.map((o) => (
                          <OrderCard key={o.id} order={o} latest={latest} draggable={can.operate} onDrag={setDragging} />
                        ))}
                      </div>
                    </div>
                  );
                })}
              </div>
            </section>
          );
        })}
        {strays.length > 0 && (
          <section className="board-group">
            <h2>Other states (older versions)</h2>
            <div className="board-columns">
              {strays.map((k) => (
                <div className="board-column" key={k} data-testid={`board-column-${k}`}>
                  <h3>{k}</h3>
                  <div className="cards">
                    {(byState.get(k) ?? []).map((o) => (
                      <OrderCard key={o.id} order={o} latest={latest} draggable={false} onDrag={setDragging} />
                    ))}
                  </div>
                </div>
              ))}
            </div>
          </section>
        )}
      </div>
      {mover.dialog}
      {creating && (
        <NewOrderDialog
          definition={definition}
          onClose={() => setCreating(false)}
          onCreated={(c) => {
            setCreating(false);
            toast(`Order ${c.order.id} created in ${c.order.state}`, 'success');
            reload();
          }}
        />
      )}
    </div>
  );
}

function OrderCard({
  order,
  latest,
  draggable,
  onDrag,
}: {
  order: Order;
  latest: number | null;
  draggable: boolean;
  onDrag: (id: string | null) => void;
}) {
  const customer = (order.data.customer ?? {}) as { name?: unknown; email?: unknown };
  const label = typeof customer.name === 'string' ? customer.name : typeof customer.email === 'string' ? customer.email : '';
  return (
    <article
      className={`order-card${draggable ? ' draggable' : ''}`}
      draggable={draggable}
      data-testid={`board-card-${order.id}`}
      onDragStart={(e) => {
        e.dataTransfer.setData('text/plain', order.id);
        e.dataTransfer.effectAllowed = 'move';
        onDrag(order.id);
      }}
      onDragEnd={() => onDrag(null)}
    >
      <Link to={`/orders/${encodeURIComponent(order.id)}`} className="order-card-id mono" draggable={false}>
        {order.externalRef ?? order.id.slice(-10)}
      </Link>
      {label && <div className="order-card-customer">{label}</div>}
      <div className="order-card-meta muted small">
        <span>{formatMoney(order.data.total, order.data.currency)}</span>
        <span title={order.stateEnteredAt}>{relativeTime(order.stateEnteredAt)}</span>
        <span
          className={`pill version-pill${latest !== null && order.workflowVersion < latest ? ' old' : ''}`}
          title={`Runs on version ${order.workflowVersion}`}
          data-testid="card-version"
        >
          v{order.workflowVersion}
        </span>
      </div>
      {order.cancellation && (
        <div className="small muted">
          {order.cancellation.initiator}: {order.cancellation.code}
        </div>
      )}
    </article>
  );
}
