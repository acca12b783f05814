import { GROUPS } from '@orderflow/core';
import { Empty, GroupBadge, Loaded, PageHeader, StatusBadge } from '../components/common';
import { useWorkflows, WorkflowPicker } from '../components/workflow-picker';
import { api } from '../lib/api';
import { formatDuration, formatTime, relativeTime } from '../lib/format';
import { Link, navigate, useLocation, withQuery } from '../lib/router';
import { useResource } from '../lib/use-resource';

function Bars({ rows, testId }: { rows: { label: string; value: number; hint?: string; color?: string }[]; testId: string }) {
  const max = Math.max(1, ...rows.map((r) => r.value));
  return (
    <ul className="bars" data-testid={testId}>
      {rows.map((r, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: two workflows may share a state name; the rows never reorder in place
        <li key={`${r.label}-${i}`}>
          <span className="bar-label" title={r.hint}>
            {r.label}
          </span>
          <span className="bar-track">
            <span className="bar" style={{ width: `${(r.value / max) * 100}%`, background: r.color }} />
          </span>
          <span className="bar-value">{r.hint ?? r.value}</span>
        </li>
      ))}
    </ul>
  );
}

/** State names of the given workflows: `names('awaiting_payment', 'orders')` → "Awaiting payment"; the key until they load. */
function useStateNames(keys: string[]): (state: string, workflow?: string) => string {
  const defs = useResource(() => Promise.all(keys.map((k) => api.getWorkflow(k).catch(() => null))), [keys.join(',')]);
  return (state, workflow) => {
    for (const w of defs.data ?? []) {
      if (!w || (workflow && w.key !== workflow)) continue;
      const found = (w.definition ?? w.draft)?.states.find((x) => x.key === state);
      if (found) return found.name;
    }
    return state;
  };
}

const GROUP_COLOR: Record<string, string> = { new: '#64748b', processing: '#3b82f6', cancelled: '#9ca3af', completed: '#16a34a' };

export function DashboardPage() {
  const { query } = useLocation();
  const workflow = query.get('workflow') ?? '';
  const workflows = useWorkflows();
  const stats = useResource(() => api.stats({ workflow: workflow || undefined }), [workflow]);
  const names = useStateNames(workflow ? [workflow] : (workflows.data ?? []).map((w) => w.key));
  return (
    <div className="page dashboard" data-testid="dashboard">
      <PageHeader title="Dashboard">
        <WorkflowPicker
          workflows={workflows.data ?? []}
          value={workflow}
          allowAll
          onChange={(k) => navigate(withQuery('/', { workflow: k }))}
        />
        <button type="button" onClick={stats.reload}>
          Refresh
        </button>
      </PageHeader>
      <Loaded resource={stats}>
        {(s) => {
          const total = GROUPS.reduce((n, g) => n + (s.groups?.[g] ?? 0), 0);
          return (
            <>
              <div className="stat-cards" data-testid="group-counts">
                {GROUPS.map((g) => (
                  <Link
                    key={g}
                    to={withQuery('/orders', { group: g, workflow })}
                    className={`stat-card group-${g}`}
                    data-testid={`stat-${g}`}
                  >
                    <GroupBadge group={g} />
                    <span className="stat-number">{s.groups?.[g] ?? 0}</span>
                    <span className="muted small">{total ? Math.round(((s.groups?.[g] ?? 0) / total) * 100) : 0}% of orders</span>
                  </Link>
                ))}
              </div>
              <div className="two-col">
                <section className="card">
                  <h2>Orders per state</h2>
                  {s.states.length === 0 ? (
                    <Empty>No orders yet.</Empty>
                  ) : (
                    <Bars
                      testId="state-counts"
                      rows={[...s.states]
                        .sort((a, b) => GROUPS.indexOf(a.group) - GROUPS.indexOf(b.group) || b.count - a.count)
                        .map((x) => ({
                          label: names(x.state, (x as { workflow?: string }).workflow ?? workflow),
                          value: x.count,
                          color: GROUP_COLOR[x.group],
                        }))}
                    />
                  )}
                </section>
                <section className="card">
                  <h2>Cancellation reasons</h2>
                  {s.cancellations.length === 0 ? (
                    <Empty>No cancellations.</Empty>
                  ) : (
                    <Bars
                      testId="cancellation-chart"
                      rows={[...s.cancellations]
                        .sort((a, b) => b.count - a.count)
                        .map((c) => ({
                          label: `${c.initiator} · ${c.code.replaceAll('_', ' ')}`,
                          value: c.count,
                          color: c.initiator === 'customer' ? '#a855f7' : '#f97316',
                        }))}
                    />
                  )}
                  <p className="muted small">
                    <span className="legend" style={{ background: '#a855f7' }} /> customer{' '}
                    <span className="legend" style={{ background: '#f97316' }} /> provider
                  </p>
                </section>
              </div>
              <div className="two-col">
                <section className="card">
                  <h2>Median time in state</h2>
                  {s.medianTimeInState.length === 0 ? (
                    <Empty>Not enough history yet.</Empty>
                  ) : (
                    <Bars
                      testId="time-in-state"
                      rows={s.medianTimeInState.map((m) => ({ label: names(m.state, workflow), value: m.ms, hint: formatDuration(m.ms) }))}
                    />
                  )}
                </section>
                <section className="card">
                  <h2>Recent delivery failures</h2>
                  {s.recentFailures.length === 0 ? (
                    <Empty>No failures. </Empty>
                  ) : (
                    <table className="table compact stack" data-testid="recent-failures">
                      <tbody>
                        {s.recentFailures.map((d) => (
                          <tr key={d.id}>
                            <td>{d.type}</td>
                            <td>
                              <StatusBadge status={d.status} />
                              <div className="small muted">
                                {d.attempts} attempt{d.attempts === 1 ? '' : 's'}
                                {d.status === 'pending' && d.nextAttemptAt ? `, next ${relativeTime(d.nextAttemptAt)}` : ''}
                              </div>
                            </td>
                            <td className="small error-text">{d.lastError}</td>
                            <td className="small">
                              <Link to={`/orders/${encodeURIComponent(d.orderId)}`}>order</Link> · {formatTime(d.createdAt)}
                            </td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  )}
                  <p className="small">
                    <Link to={withQuery('/deliveries', { status: 'pending' })}>Pending deliveries</Link> ·{' '}
                    <Link to={withQuery('/deliveries', { status: 'dead' })}>Dead deliveries</Link>
                  </p>
                </section>
              </div>
            </>
          );
        }}
      </Loaded>
    </div>
  );
}
