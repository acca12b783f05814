import type { AvailableTransition, NamedHistoryEntry } from '@orderflow/client';
import type { Order } from '@orderflow/core';
import { workflowCriteria } from '@orderflow/core';
import { type ReactNode, useCallback, useEffect, useState } from 'react';
import {
  Empty,
  ErrorBox,
  GroupBadge,
  JsonField,
  Loaded,
  Loading,
  PageHeader,
  StateBadge,
  StatusBadge,
  useToast,
} from '../components/common';
import { DeliverySummaryText } from '../components/delivery-summary';
import { useMoveOrder } from '../components/move-order';
import { api, errorText } from '../lib/api';
import { formatMoney, formatTime, pretty, relativeTime } from '../lib/format';
import { Link, withQuery } from '../lib/router';
import { useAbilities } from '../lib/session';
import { useResource } from '../lib/use-resource';
import { fateText } from '../versions/fate-text';

export function OrderPage({ orderId }: { orderId: string }) {
  const order = useResource(() => api.getOrder(orderId), [orderId]);
  if (order.error && !order.data) return <ErrorBox error={order.error} onRetry={order.reload} />;
  if (!order.data) return <Loading />;
  return <OrderView order={order.data} reload={order.reload} />;
}

function OrderView({ order, reload: reloadOrder }: { order: Order; reload: () => void }) {
  const can = useAbilities();
  const toast = useToast();
  const workflow = useResource(
    () => api.getWorkflow(order.workflow, { version: order.workflowVersion }),
    [order.workflow, order.workflowVersion],
  );
  const transitions = useResource(() => api.listTransitions(order.id), [order.id, order.version]);
  const history = useResource(() => api.orderHistory(order.id, { limit: 500 }), [order.id, order.version]);
  const deliveries = useResource(() => api.orderDeliveries(order.id, { limit: 500 }), [order.id, order.version]);
  const timers = useResource(() => api.listTimers({ orderId: order.id }), [order.id, order.version]);
  const runs = useResource(() => api.listRuns({ orderId: order.id }), [order.id, order.version]);
  const [refusal, setRefusal] = useState<string | null>(null);
  const definition = workflow.data?.definition ?? null;
  const stateOf = (key: string) => definition?.states.find((s) => s.key === key);
  const reload = useCallback(() => {
    setRefusal(null);
    reloadOrder();
  }, [reloadOrder]);
  const mover = useMoveOrder(reload, setRefusal);
  const current = stateOf(order.state);
  const customer = (order.data.customer ?? {}) as { name?: unknown; email?: unknown };
  // People know an order by its reference and customer; the id stays below, for copying.
  const who = typeof customer.name === 'string' ? customer.name : typeof customer.email === 'string' ? customer.email : '';
  const title = [order.externalRef ?? `Order …${order.id.slice(-8)}`, who].filter(Boolean).join(' · ');
  useEffect(() => {
    const before = document.title;
    document.title = `${title} — Orderflow`;
    return () => {
      document.title = before;
    };
  }, [title]);

  const move = (t: AvailableTransition) => {
    const state = stateOf(t.to);
    if (state && definition) mover.request(order, state, definition);
  };

  return (
    <div className="page order-page" data-testid="order-page">
      <PageHeader
        title={title}
        subtitle={
          <>
            <Link to={withQuery('/board', { workflow: order.workflow })}>{definition?.name ?? order.workflow}</Link>{' '}
            <Link
              to={withQuery(`/workflows/${encodeURIComponent(order.workflow)}/migrate`, { from: String(order.workflowVersion) })}
              title="Versions and migration"
              data-testid="order-version"
            >
              v{order.workflowVersion}
            </Link>{' '}
            · {order.kind} · created {formatTime(order.createdAt)} · id <span className="mono">{order.id}</span>{' '}
            <button
              type="button"
              className="small"
              aria-label="Copy order id"
              title="Copy order id"
              onClick={() => {
                navigator.clipboard?.writeText(order.id).then(
                  () => toast('Order id copied', 'success'),
                  () => toast(`Order id: ${order.id}`, 'info'),
                );
              }}
            >
              Copy
            </button>
          </>
        }
      >
        <button type="button" onClick={reload}>
          Refresh
        </button>
      </PageHeader>
      <div className="order-summary card">
        <div>
          <div className="muted small">State</div>
          <div className="big" data-testid="order-state">
            <StateBadge name={current?.name ?? order.state} color={current?.color} /> <GroupBadge group={order.group} />
          </div>
          <div className="muted small">since {relativeTime(order.stateEnteredAt)}</div>
        </div>
        <div>
          <div className="muted small">Customer</div>
          <div>{typeof customer.name === 'string' ? customer.name : '—'}</div>
          <div className="muted small">{typeof customer.email === 'string' ? customer.email : ''}</div>
        </div>
        <div>
          <div className="muted small">Total</div>
          <div className="big">{formatMoney(order.data.total, order.data.currency) || '—'}</div>
        </div>
        {order.cancellation && (
          <div data-testid="order-cancellation">
            <div className="muted small">Cancellation</div>
            <div>
              {order.cancellation.initiator} · {order.cancellation.code}
            </div>
            {order.cancellation.note && <div className="small">{order.cancellation.note}</div>}
            {order.cancellation.refund && (
              <div className="small">refund {formatMoney(order.cancellation.refund.amount, order.cancellation.refund.currency)}</div>
            )}
          </div>
        )}
      </div>

      {refusal && (
        <div className="banner banner-error" role="alert" data-testid="order-error">
          {refusal}
        </div>
      )}

      <section className="card">
        <h2>Move this order</h2>
        <Loaded resource={transitions}>
          {(r) =>
            r.items.length === 0 ? (
              <p className="muted">
                No transitions out of this state{order.group === 'cancelled' || order.group === 'completed' ? ': it is final.' : '.'}
              </p>
            ) : (
              <ul className="transitions" data-testid="order-transitions">
                {r.items.map((t) => {
                  // A missing reason or criterion is what the move dialogs ask for: those moves stay possible.
                  const askable =
                    !t.allowed &&
                    t.blocked.length > 0 &&
                    t.blocked.every((b) => b.code === 'reason_required' || b.code === 'criteria_unmet');
                  return (
                    <li key={t.to} className={t.allowed ? 'allowed' : 'blocked'}>
                      <button
                        type="button"
                        className={t.allowed || askable ? 'primary' : ''}
                        disabled={!(t.allowed || askable) || !can.operate || mover.busy}
                        onClick={() => move(t)}
                        data-testid={`transition-${t.to}`}
                      >
                        {t.name ?? stateOf(t.to)?.name ?? t.to}
                      </button>
                      <span className="muted small">
                        → {stateOf(t.to)?.name ?? t.to} <GroupBadge group={t.group} />
                      </span>
                      {!t.allowed && (
                        <ul className="blocked-reasons" data-testid={`blocked-${t.to}`}>
                          {t.blocked.map((b) => (
                            <li key={`${b.code}-${b.message}`}>
                              <span className="pill warn">{b.code.replaceAll('_', ' ')}</span> {b.message}
                              {'missing' in b && b.missing?.length ? (
                                <span className="muted"> (missing: {b.missing.join(', ')})</span>
                              ) : null}
                              {'roles' in b && b.roles?.length ? <span className="muted"> (roles: {b.roles.join(', ')})</span> : null}
                            </li>
                          ))}
                        </ul>
                      )}
                    </li>
                  );
                })}
              </ul>
            )
          }
        </Loaded>
        {!can.operate && <p className="muted small">Your role can look but not move orders.</p>}
      </section>

      <div className="two-col">
        <section className="card">
          <h2>Data</h2>
          <DataEditor order={order} editable={can.operate} onSaved={reload} />
        </section>
        <section className="card">
          <h2>Facts</h2>
          {Object.keys(order.facts ?? {}).length === 0 ? (
            <p className="muted">No criteria recorded yet.</p>
          ) : (
            <ul data-testid="order-facts">
              {Object.entries(order.facts).map(([k, f]) => (
                <li key={k}>
                  <strong>{k}</strong>{' '}
                  <span className="muted small">
                    {formatTime(f.at)} by {f.by?.type}
                  </span>
                  {f.evidence !== undefined && <pre className="code small">{pretty(f.evidence)}</pre>}
                </li>
              ))}
            </ul>
          )}
          {can.operate && definition && (
            <RecordFact
              criteria={workflowCriteria(definition).filter((c) => !order.facts?.[c])}
              onRecord={async (fact) => {
                try {
                  await api.recordFact(order.id, fact);
                  toast(`Recorded ${fact}`, 'success');
                  reload();
                } catch (err) {
                  toast(errorText(err), 'error');
                }
              }}
            />
          )}
          {order.links?.length > 0 && (
            <>
              <h3>Linked orders</h3>
              <ul>
                {order.links.map((l) => (
                  <li key={`${l.rel}-${l.orderId}`}>
                    {l.rel}: <Link to={`/orders/${encodeURIComponent(l.orderId)}`}>{l.orderId}</Link>
                  </li>
                ))}
              </ul>
            </>
          )}
          {can.operate && <PostEvent orderId={order.id} onDone={reload} />}
        </section>
      </div>

      <section className="card">
        <h2>Timeline</h2>
        <Loaded resource={history}>
          {(r) =>
            r.items.length === 0 ? (
              <Empty>No history.</Empty>
            ) : (
              <ol className="timeline" data-testid="order-timeline">
                {[...r.items].reverse().map((h, i) => (
                  <TimelineItem key={h.id ?? `${h.seq}-${i}`} entry={h} nameOf={(k) => stateOf(k)?.name ?? k} />
                ))}
              </ol>
            )
          }
        </Loaded>
      </section>

      <div className="two-col">
        <section className="card">
          <h2>Deliveries</h2>
          <Loaded resource={deliveries}>
            {(r) =>
              r.items.length === 0 ? (
                <p className="muted">No emails, webhooks or notifications for this order.</p>
              ) : (
                <table className="table compact stack" data-testid="order-deliveries">
                  <tbody>
                    {r.items.map((d) => (
                      <tr key={d.id}>
                        <td>
                          <span className="pill">{d.type}</span>
                        </td>
                        <td className="small">
                          <DeliverySummaryText delivery={d} />
                        </td>
                        <td>
                          <StatusBadge status={d.status} />
                        </td>
                        <td className="small">{d.ruleId}</td>
                        <td className="small">{d.attempts} attempt(s)</td>
                        <td className="small muted">{d.lastError}</td>
                        <td>
                          <Link to={withQuery('/deliveries', { orderId: order.id })}>details</Link>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )
            }
          </Loaded>
        </section>
        <section className="card">
          <h2>Pending timers</h2>
          <Loaded resource={timers}>
            {(r) =>
              r.items.length === 0 ? (
                <p className="muted">No pending timers.</p>
              ) : (
                <ul data-testid="order-timers">
                  {r.items.map((t) => (
                    <li key={t.id}>
                      <strong>{t.kind}</strong> in {t.state}, due {formatTime(t.dueAt)} ({relativeTime(t.dueAt)})
                      {t.ruleId ? ` · rule ${t.ruleId}` : ''}{' '}
                      {can.operate && (
                        <button
                          type="button"
                          className="small"
                          onClick={async () => {
                            try {
                              await api.cancelTimer(t.id);
                              timers.reload();
                            } catch (err) {
                              toast(errorText(err), 'error');
                            }
                          }}
                        >
                          Cancel
                        </button>
                      )}
                    </li>
                  ))}
                </ul>
              )
            }
          </Loaded>
        </section>
      </div>
      <section className="card">
        <h2>Rule runs</h2>
        <Loaded resource={runs}>
          {(r) =>
            r.items.length === 0 ? (
              <p className="muted">No rule has run for this order yet.</p>
            ) : (
              <table className="table compact stack" data-testid="order-runs">
                <thead>
                  <tr>
                    <th>When</th>
                    <th>Rule</th>
                    <th>Trigger</th>
                    <th>Matched</th>
                    <th>Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {r.items.map((run) => (
                    <tr key={run.id}>
                      <td className="small" data-label="When">
                        {formatTime(run.at)}
                      </td>
                      <td className="mono small" data-label="Rule">
                        {run.ruleId}
                      </td>
                      <td className="small" data-label="Trigger">
                        {run.trigger}
                      </td>
                      <td data-label="Matched">
                        {run.matched ? <span className="status status-delivered">yes</span> : <span className="status">no</span>}
                      </td>
                      <td className="small" data-label="Actions">
                        {(run.actions ?? [])
                          .map((a) => {
                            const x = a as { type?: string; outcome?: string; detail?: string };
                            return `${x.type ?? '?'}: ${x.outcome ?? '?'}${x.detail ? ` (${x.detail})` : ''}`;
                          })
                          .join(' · ')}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )
          }
        </Loaded>
      </section>
      {mover.dialog}
    </div>
  );
}

/** "bootstrap (admin)", "rule delay-apology", "timer": a name where there is one; the token id only on hover. */
function actorText(entry: NamedHistoryEntry): ReactNode {
  const a = entry.actor;
  if (!a) return 'someone';
  if (entry.actorName)
    return (
      <span title={`${a.type} ${a.id}`} data-actor-id={a.id}>
        {entry.actorName}
      </span>
    );
  if (a.type === 'rule') return `rule ${a.id}`;
  if (a.type === 'user' || a.type === 'api') return <span title={a.id}>{a.type === 'user' ? 'a signed-in user' : 'an API client'}</span>;
  return a.type;
}

function TimelineItem({ entry, nameOf }: { entry: NamedHistoryEntry; nameOf: (k: string) => string }) {
  let what: string;
  switch (entry.type) {
    case 'created':
      what = `Created in ${nameOf(entry.to ?? '')}`;
      break;
    case 'transition':
      what = `${nameOf(entry.from ?? '')} → ${nameOf(entry.to ?? '')}${entry.forced ? ' (forced)' : ''}`;
      break;
    case 'data':
      what = 'Data changed';
      break;
    case 'fact':
      what = `Fact recorded: ${entry.fact ?? ''}`;
      break;
    case 'event':
      what = `Event received: ${entry.event?.type ?? ''}`;
      break;
    case 'rule_failed':
      what = `Rule failed${entry.ruleId ? ` (${entry.ruleId})` : ''}: ${entry.error?.message ?? ''}`;
      break;
    case 'migrated':
      what = `Migrated: ${nameOf(entry.from ?? '')} → ${nameOf(entry.to ?? '')}`;
      break;
    case 'timer':
      what = `Timer ${entry.timer?.action ?? 'changed'} by hand`;
      break;
    default:
      what = entry.type;
  }
  return (
    <li className={`timeline-item t-${entry.type}`}>
      <div className="when muted small">{formatTime(entry.at)}</div>
      <div>
        <strong>{what}</strong>
        <span className="muted small">
          {' '}
          by {actorText(entry)}
          {entry.ruleId && entry.type !== 'rule_failed' ? ` · rule ${entry.ruleId}` : ''}
        </span>
        {entry.reason && (
          <div className="small">
            Reason: {entry.reason.initiator} · {entry.reason.code}
            {entry.reason.note ? ` — ${entry.reason.note}` : ''}
          </div>
        )}
        {entry.note && <div className="small">{entry.note}</div>}
        {entry.type === 'data' && entry.patch !== undefined && <pre className="code small">{pretty(entry.patch)}</pre>}
        {entry.timers && entry.timers.length > 0 && (
          <ul className="fates small">
            {entry.timers.map((f) => (
              <li key={f.timerId} className={`fate-${f.fate}`}>
                {fateText(f)}
              </li>
            ))}
          </ul>
        )}
      </div>
    </li>
  );
}

function DataEditor({ order, editable, onSaved }: { order: Order; editable: boolean; onSaved: () => void }) {
  const toast = useToast();
  const [editing, setEditing] = useState(false);
  const [value, setValue] = useState<unknown>(order.data);
  if (!editing)
    return (
      <>
        <pre className="code" data-testid="order-data">
          {pretty(order.data)}
        </pre>
        {editable && (
          <button type="button" onClick={() => setEditing(true)} data-testid="edit-data">
            Edit data
          </button>
        )}
      </>
    );
  return (
    <form
      onSubmit={async (e) => {
        e.preventDefault();
        if (!value || typeof value !== 'object' || Array.isArray(value)) {
          toast('Data must be a JSON object', 'error');
          return;
        }
        // A merge patch: keys removed in the editor are sent as null.
        const patch: Record<string, unknown> = { ...(value as Record<string, unknown>) };
        for (const k of Object.keys(order.data)) if (!(k in patch)) patch[k] = null;
        try {
          await api.patchOrderData(order.id, patch);
          setEditing(false);
          onSaved();
        } catch (err) {
          toast(errorText(err), 'error');
        }
      }}
    >
      <JsonField value={value} onChange={setValue} rows={12} testId="order-data-editor" />
      <div className="row">
        <button type="submit" className="primary">
          Save data
        </button>
        <button type="button" onClick={() => setEditing(false)}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function RecordFact({ criteria, onRecord }: { criteria: string[]; onRecord: (fact: string) => void }) {
  const [fact, setFact] = useState('');
  if (criteria.length === 0) return null;
  return (
    <form
      className="row"
      onSubmit={(e) => {
        e.preventDefault();
        if (fact) onRecord(fact);
      }}
    >
      <select value={fact} onChange={(e) => setFact(e.target.value)} aria-label="Fact" data-testid="fact-select">
        <option value="">record a fact…</option>
        {criteria.map((c) => (
          <option key={c}>{c}</option>
        ))}
      </select>
      <button type="submit" disabled={!fact} data-testid="fact-record">
        Record
      </button>
    </form>
  );
}

function PostEvent({ orderId, onDone }: { orderId: string; onDone: () => void }) {
  const toast = useToast();
  const [type, setType] = useState('');
  return (
    <form
      className="row post-event"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          const c = await api.postEvent(orderId, type.trim());
          toast(`Event ${type} posted${c.applied.length ? `; moved to ${c.applied.map((a) => a.to).join(' → ')}` : ''}`, 'success');
          setType('');
          onDone();
        } catch (err) {
          toast(errorText(err), 'error');
        }
      }}
    >
      <input
        placeholder="event type, e.g. payment.received"
        value={type}
        onChange={(e) => setType(e.target.value)}
        aria-label="Event type"
        data-testid="event-type"
      />
      <button type="submit" disabled={!type.trim()}>
        Post event
      </button>
    </form>
  );
}
