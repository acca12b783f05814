import type { AvailableTransition, Change, WorkflowSummary } from '@orderflow/client';
import type { Definition, Order, State } from '@orderflow/core';
import { GROUP_LABELS, GROUPS } from '@orderflow/core';
import { type DragEvent, type ReactNode, useCallback, useEffect, useId, useMemo, useRef, useState } from 'react';
import { Empty, ErrorBox, Loaded, Loading, PageHeader, useToast } from '../components/common';
import { useMoveOrder } from '../components/move-order';
import { NewOrderDialog } from '../components/new-order-dialog';
import { useWorkflows, WorkflowPicker } from '../components/workflow-picker';
import { api, errorText } from '../lib/api';
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
            workflows={published}
            picker={<WorkflowPicker workflows={published} value={key} onChange={(k) => navigate(withQuery('/board', { workflow: k }))} />}
          />
        );
      }}
    </Loaded>
  );
}

function Board({ workflowKey, workflows, picker }: { workflowKey: string; workflows: WorkflowSummary[]; picker: ReactNode }) {
  const can = useAbilities();
  const toast = useToast();
  const workflow = useResource(() => api.getWorkflow(workflowKey), [workflowKey]);
  const orders = useResource(() => api.listOrders({ workflow: workflowKey, limit: 500 }), [workflowKey]);
  // A refused move is explained on the card itself, where the person dropped it.
  const [refusals, setRefusals] = useState<Record<string, Refusal>>({});
  const [creating, setCreating] = useState(false);
  const [dragging, setDragging] = useState<string | null>(null);
  const [over, setOver] = useState<string | null>(null);
  const [filter, setFilter] = useState('');
  const { reload } = orders;
  const targets = useTargets();

  useEffect(() => {
    const t = setInterval(reload, 15_000);
    return () => clearInterval(t);
  }, [reload]);

  const onMoved = useCallback(
    (change: Change) => {
      setRefusals((r) => {
        const next = { ...r };
        delete next[change.order.id];
        return next;
      });
      reload();
    },
    [reload],
  );
  const latest = workflow.data?.publishedVersion ?? null;
  const onRefused = useCallback(
    (message: string, order: Order) => {
      // A refusal names the version the order runs on when that is not the board's.
      const old = latest !== null && order.workflowVersion !== latest;
      const refusal: Refusal = old
        ? {
            message: `${message} (order ${order.externalRef ?? order.id} runs on version ${order.workflowVersion}; this board shows version ${latest}.)`,
            migrateFrom: order.workflowVersion,
          }
        : { message };
      setRefusals((r) => ({ ...r, [order.id]: refusal }));
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
  const moveTo = (order: Order, state: State) => {
    if (latest !== null && order.workflowVersion !== latest) {
      // The board draws the newest version; the order moves under its own.
      void api.getWorkflow(workflowKey, { version: order.workflowVersion }).then(
        (own) => {
          const ownState = own.definition?.states.find((s) => s.key === state.key);
          if (own.definition && ownState) mover.request(order, ownState, own.definition);
          else
            setRefusals((r) => ({
              ...r,
              [order.id]: {
                message: `Order ${order.externalRef ?? order.id} runs on version ${order.workflowVersion}, which has no state “${state.name}”: that state is new in version ${latest}. Migrate the order to version ${latest} first.`,
                migrateFrom: order.workflowVersion,
              },
            }));
        },
        (err: unknown) => setRefusals((r) => ({ ...r, [order.id]: { message: errorText(err) } })),
      );
      return;
    }
    mover.request(order, state, definition);
  };
  const onDrop = (e: DragEvent, state: State) => {
    e.preventDefault();
    setOver(null);
    const id = e.dataTransfer.getData('text/plain') || dragging;
    setDragging(null);
    const order = orders.data?.items.find((o) => o.id === id);
    if (order && can.operate) moveTo(order, state);
  };
  const older = (orders.data?.items ?? []).filter(
    (o) => latest !== null && o.workflowVersion < latest && o.group !== 'completed' && o.group !== 'cancelled',
  );
  const migrateLink = (from: number) => withQuery(`/workflows/${encodeURIComponent(workflowKey)}/migrate`, { from: String(from) });
  const draggedOrder = dragging ? orders.data?.items.find((o) => o.id === dragging) : undefined;
  const hint = (s: State) => (draggedOrder ? targets.verdict(draggedOrder, s, definition) : undefined);
  const startDrag = (id: string | null) => {
    setDragging(id);
    const order = id ? orders.data?.items.find((o) => o.id === id) : undefined;
    if (order) targets.load(order);
  };

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
                  const verdict = hint(s);
                  const drop = verdict === undefined || verdict === 'loading' ? '' : verdict.allowed ? ' drop-ok' : ' drop-blocked';
                  return (
                    // biome-ignore lint/a11y/noStaticElementInteractions: a drop target; each card's "Move to…" menu offers the same moves
                    <div
                      key={s.key}
                      className={`board-column${over === s.key ? ' over' : ''}${dragging ? ' dragging' : ''}${drop}`}
                      aria-dropeffect={verdict && verdict !== 'loading' ? (verdict.allowed ? 'move' : 'none') : undefined}
                      title={verdict && verdict !== 'loading' && !verdict.allowed ? verdict.why : undefined}
                      data-testid={`board-column-${s.key}`}
                      onDragOver={(e) => {
                        if (!can.operate) return;
                        e.preventDefault();
                        e.dataTransfer.dropEffect = 'move';
                        // Always set (React skips an unchanged value): a check against `over` can read a value a
                        // dragleave in the same burst of events has already replaced, and the hint would vanish.
                        setOver(s.key);
                      }}
                      // Entering marks the column at once; dragover alone may not come before the pointer rests.
                      onDragEnter={(e) => {
                        if (!can.operate) return;
                        e.preventDefault();
                        setOver(s.key);
                      }}
                      onDragLeave={(e) => {
                        // Moving onto a card or the header inside the column is no leaving.
                        if (e.relatedTarget instanceof Node && e.currentTarget.contains(e.relatedTarget)) return;
                        setOver((o) => (o === s.key ? null : o));
                      }}
                      onDrop={(e) => onDrop(e, s)}
                    >
                      <h3>
                        <span className="dot" style={{ background: s.color ?? '#94a3b8' }} />
                        {s.name}
                        <span className="count">{cards.length}</span>
                      </h3>
                      {over === s.key && verdict && verdict !== 'loading' && !verdict.allowed && (
                        <div className="drop-why" role="tooltip">
                          Cannot move here: {verdict.why}
                        </div>
                      )}
                      <div className="cards">
                        {cards.length === 0 && <p className="muted small column-empty">No orders</p>}
                        {cards.map((o) => (
                          <OrderCard
                            key={o.id}
                            order={o}
                            latest={latest}
                            draggable={can.operate}
                            onDrag={startDrag}
                            refusal={refusals[o.id]}
                            migrateLink={migrateLink}
                            onDismiss={() => setRefusals(({ [o.id]: _, ...rest }) => rest)}
                            menu={
                              can.operate ? (
                                <MoveMenu order={o} definition={definition} targets={targets} onPick={(to) => moveTo(o, to)} />
                              ) : null
                            }
                          />
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
                      <OrderCard key={o.id} order={o} latest={latest} draggable={false} onDrag={setDragging} refusal={refusals[o.id]} />
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
          workflows={workflows}
          onClose={() => setCreating(false)}
          onCreated={(c) => {
            setCreating(false);
            const entered = definition.states.find((x) => x.key === c.order.state)?.name ?? c.order.state;
            toast(`Order ${c.order.externalRef ?? c.order.id} created in ${entered}`, 'success');
            reload();
          }}
        />
      )}
    </div>
  );
}

interface Refusal {
  message: string;
  /** Set when the order runs on an older version: migrating it is the way forward. */
  migrateFrom?: number;
}

function OrderCard({
  order,
  latest,
  draggable,
  onDrag,
  refusal,
  onDismiss,
  migrateLink,
  menu,
}: {
  order: Order;
  latest: number | null;
  draggable: boolean;
  onDrag: (id: string | null) => void;
  refusal?: Refusal | undefined;
  onDismiss?: () => void;
  migrateLink?: (from: number) => string;
  menu?: ReactNode;
}) {
  const customer = (order.data.customer ?? {}) as { name?: unknown; email?: unknown };
  const label = typeof customer.name === 'string' ? customer.name : typeof customer.email === 'string' ? customer.email : '';
  const ref = useRef<HTMLElement>(null);
  useEffect(() => {
    if (refusal) ref.current?.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  }, [refusal]);
  return (
    <article
      ref={ref}
      className={`order-card${draggable ? ' draggable' : ''}${refusal ? ' refused' : ''}`}
      draggable={draggable}
      data-testid={`board-card-${order.id}`}
      onDragStart={(e) => {
        e.dataTransfer.setData('text/plain', order.id);
        e.dataTransfer.effectAllowed = 'move';
        onDrag(order.id);
      }}
      onDragEnd={() => onDrag(null)}
    >
      {/* The menu sits in the top row, so the middle of the card is free to grab. */}
      <div className="order-card-head">
        <Link to={`/orders/${encodeURIComponent(order.id)}`} className="order-card-id mono" draggable={false}>
          {order.externalRef ?? order.id.slice(-10)}
        </Link>
        {menu}
      </div>
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
          {order.cancellation.initiator}: {order.cancellation.code.replaceAll('_', ' ')}
        </div>
      )}
      {refusal && (
        <div className="card-refusal" role="alert" data-testid="board-error">
          <span>
            {refusal.message}
            {refusal.migrateFrom !== undefined && migrateLink && (
              <>
                {' '}
                <Link to={migrateLink(refusal.migrateFrom)} data-testid="board-error-migrate">
                  Migrate orders of version {refusal.migrateFrom}…
                </Link>
              </>
            )}
          </span>
          {onDismiss && (
            <button type="button" className="icon" aria-label="Dismiss" onClick={onDismiss}>
              ×
            </button>
          )}
        </div>
      )}
    </article>
  );
}

type Verdict = { allowed: true } | { allowed: false; why: string };

/** Where an order may move: loaded from the API when a drag starts or a menu opens. */
function useTargets() {
  const [loaded, setLoaded] = useState<{ id: string; version: number; items: AvailableTransition[] } | null>(null);
  const load = useCallback((order: Order) => {
    api.listTransitions(order.id).then(
      (r) => setLoaded({ id: order.id, version: order.version, items: r.items }),
      () => setLoaded(null),
    );
  }, []);
  const ready = (order: Order) => (loaded && loaded.id === order.id && loaded.version === order.version ? loaded.items : null);
  const verdict = (order: Order, state: State, definition: Definition): Verdict | 'loading' | undefined => {
    if (state.key === order.state) return undefined;
    const items = ready(order);
    if (!items) return 'loading';
    const t = items.find((x) => x.to === state.key);
    if (t?.allowed) return { allowed: true };
    if (t && t.blocked.length > 0) return { allowed: false, why: t.blocked.map((b) => b.message).join(' ') };
    const from = definition.states.find((x) => x.key === order.state)?.name ?? order.state;
    return { allowed: false, why: `The workflow has no transition from "${from}" to "${state.name}".` };
  };
  return { load, ready, verdict };
}

/**
 * "Move to…": the same moves as dragging, for touch screens and keyboards.
 * Arrow keys walk the list, Enter picks, Escape closes.
 */
function MoveMenu({
  order,
  definition,
  targets,
  onPick,
}: {
  order: Order;
  definition: Definition;
  targets: ReturnType<typeof useTargets>;
  onPick: (state: State) => void;
}) {
  const [open, setOpen] = useState(false);
  const button = useRef<HTMLButtonElement>(null);
  const list = useRef<HTMLDivElement>(null);
  const items = open ? targets.ready(order) : null;
  const menuId = useId();
  useEffect(() => {
    if (items) list.current?.querySelector<HTMLElement>('[role="menuitem"]:not([aria-disabled="true"])')?.focus();
  }, [items]);
  const close = (refocus: boolean) => {
    setOpen(false);
    if (refocus) button.current?.focus();
  };
  const states = (items ?? [])
    .map((t) => ({ t, state: definition.states.find((x) => x.key === t.to) }))
    .filter((x): x is { t: AvailableTransition; state: State } => !!x.state);
  return (
    <div className="move-menu">
      <button
        ref={button}
        type="button"
        className="small move-menu-button"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-controls={open ? menuId : undefined}
        aria-label="Move to…"
        title="Move to…"
        onClick={() => {
          if (!open) targets.load(order);
          setOpen(!open);
        }}
      >
        <span aria-hidden="true">⋯</span>
      </button>
      {open && (
        <div
          className="move-menu-list"
          role="menu"
          id={menuId}
          aria-label={`Move ${order.externalRef ?? order.id} to`}
          ref={list}
          tabIndex={-1}
          onKeyDown={(e) => {
            const all = [...(list.current?.querySelectorAll<HTMLElement>('[role="menuitem"]') ?? [])];
            const i = all.indexOf(document.activeElement as HTMLElement);
            if (e.key === 'Escape') {
              e.preventDefault();
              close(true);
            } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
              e.preventDefault();
              const next = all[(i + (e.key === 'ArrowDown' ? 1 : all.length - 1)) % all.length];
              next?.focus();
            } else if (e.key === 'Tab') close(false);
          }}
        >
          {!items && <span className="muted small">Loading…</span>}
          {items && states.length === 0 && <span className="muted small">No moves from here.</span>}
          {states.map(({ t, state }) => (
            <button
              key={state.key}
              type="button"
              role="menuitem"
              aria-disabled={!t.allowed}
              className={t.allowed ? '' : 'blocked'}
              title={t.allowed ? undefined : t.blocked.map((b) => b.message).join(' ')}
              onClick={() => {
                if (!t.allowed) return;
                close(false);
                onPick(state);
              }}
            >
              <span className="dot" style={{ background: state.color ?? '#94a3b8' }} />
              {state.name}
              {!t.allowed && <span className="small muted block">{t.blocked[0]?.message ?? 'blocked'}</span>}
            </button>
          ))}
        </div>
      )}
    </div>
  );
}
