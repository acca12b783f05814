import type { MigrateWorkflowResult, MigrationResult, TimerPolicy } from '@orderflow/client';
import type { Definition, Order } from '@orderflow/core';
import { useEffect, useMemo, useState } from 'react';
import { ErrorBox, Loading, PageHeader } from '../components/common';
import { api } from '../lib/api';
import { Link, useLocation } from '../lib/router';
import { useAbilities } from '../lib/session';
import { useResource } from '../lib/use-resource';
import { fateText } from '../versions/fate-text';

const POLICIES: { value: TimerPolicy; label: string; help: string }[] = [
  {
    value: 'recompute',
    label: 'Recompute',
    help: 'Timeouts and time-in-state timers are re-timed from the state entry under the new version; delayed actions whose rule still exists are kept.',
  },
  { value: 'keep', label: 'Keep', help: 'Every timer whose state, rule or action still exists keeps its due time.' },
  { value: 'cancel', label: 'Cancel', help: 'Every pending timer is cancelled.' },
];

/** How many orders one request migrates, so progress can be shown. */
const BATCH = 10;

type Row = MigrationResult & { orderId: string };

/** Moves orders of older versions to a newer one: choose them, map removed states, pick a timer policy, read the dry run, run. */
export function MigratePage({ workflowKey }: { workflowKey: string }) {
  const { query } = useLocation();
  const abilities = useAbilities();
  const base = `/workflows/${encodeURIComponent(workflowKey)}`;
  const meta = useResource(async () => {
    const [workflow, versions] = await Promise.all([api.getWorkflow(workflowKey), api.listVersions(workflowKey)]);
    return { workflow, versions: versions.items };
  }, [workflowKey]);
  const [from, setFrom] = useState<number | null>(Number(query.get('from')) || null);
  const [to, setTo] = useState<number | null>(null);
  const [state, setState] = useState(query.get('state') ?? '');
  const [text, setText] = useState('');
  const [stateMap, setStateMap] = useState<Record<string, string>>({});
  const [policy, setPolicy] = useState<TimerPolicy>('recompute');
  const [plan, setPlan] = useState<{ key: string; result: MigrateWorkflowResult } | null>(null);
  const [run, setRun] = useState<{ done: number; total: number; rows: Row[]; failed: MigrateWorkflowResult['failed'] } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);

  useEffect(() => {
    if (!meta.data) return;
    const latest = meta.data.workflow.publishedVersion;
    if (to === null && latest !== null) setTo(latest);
    if (from === null) {
      const older = [...meta.data.versions].reverse().find((v) => v.version !== latest && (v.orders?.inFlight ?? 0) > 0);
      if (older) setFrom(older.version);
    }
  }, [meta.data, from, to]);

  const defs = useResource(async () => {
    if (from === null || to === null) return null;
    const [a, b] = await Promise.all([api.getWorkflow(workflowKey, { version: from }), api.getWorkflow(workflowKey, { version: to })]);
    return { source: a.definition as Definition, target: b.definition as Definition };
  }, [workflowKey, from, to]);

  const orders = useResource(async () => {
    if (from === null) return [] as Order[];
    const page = await api.listOrders({ workflow: workflowKey, ...(state ? { state } : {}), ...(text ? { q: text } : {}), limit: 500 });
    return page.items.filter((o) => o.workflowVersion === from);
  }, [workflowKey, from, state, text]);

  const removed = useMemo(() => {
    if (!defs.data) return [];
    const keep = new Set(defs.data.target.states.map((s) => s.key));
    return defs.data.source.states.filter((s) => !keep.has(s.key));
  }, [defs.data]);
  const selected = orders.data ?? [];
  const ids = selected.map((o) => o.id);
  const body = {
    toVersion: to ?? 0,
    timers: policy,
    stateMap: Object.fromEntries(Object.entries(stateMap).filter(([k, v]) => v && removed.some((s) => s.key === k))),
    filter: { fromVersion: from ?? 0, ids },
  };
  const planKey = JSON.stringify(body);
  const planFresh = plan !== null && plan.key === planKey;

  if (meta.error !== undefined && !meta.data) return <ErrorBox error={meta.error} onRetry={meta.reload} />;
  if (!meta.data) return <Loading />;
  const { workflow, versions } = meta.data;
  const names = new Map((defs.data?.target.states ?? []).map((s) => [s.key, s.name]));

  const dryRun = async () => {
    setBusy(true);
    setError(undefined);
    setRun(null);
    try {
      setPlan({ key: planKey, result: await api.migrateOrders(workflowKey, { ...body, dryRun: true }) });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const migrate = async () => {
    setBusy(true);
    setError(undefined);
    const state = { done: 0, total: ids.length, rows: [] as Row[], failed: [] as MigrateWorkflowResult['failed'] };
    setRun({ ...state });
    try {
      for (let i = 0; i < ids.length; i += BATCH) {
        const chunk = ids.slice(i, i + BATCH);
        const r = await api.migrateOrders(workflowKey, { ...body, filter: { fromVersion: body.filter.fromVersion, ids: chunk } });
        state.rows.push(...r.orders);
        state.failed.push(...r.failed);
        state.done += chunk.length;
        setRun({ ...state, rows: [...state.rows], failed: [...state.failed] });
      }
      orders.reload();
      meta.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="page migrate-page" data-testid="migrate-page">
      <PageHeader
        title={`Migrate orders · ${workflow.name}`}
        subtitle={
          <>
            Moves orders to a newer version. Nothing changes until you run it; the dry run shows every order’s target state and what happens
            to each pending timer. <Link to={`${base}/versions`}>Versions</Link>
          </>
        }
      />
      <div className="migrate-form card">
        <div className="row wrap">
          <label>
            From version
            <select value={from ?? ''} onChange={(e) => setFrom(Number(e.target.value) || null)} data-testid="migrate-from">
              <option value="">—</option>
              {versions.map((v) => (
                <option key={v.version} value={v.version}>
                  v{v.version} ({v.orders?.inFlight ?? 0} in flight)
                </option>
              ))}
            </select>
          </label>
          <label>
            To version
            <select value={to ?? ''} onChange={(e) => setTo(Number(e.target.value) || null)} data-testid="migrate-to">
              {versions
                .filter((v) => from === null || v.version > from)
                .map((v) => (
                  <option key={v.version} value={v.version}>
                    v{v.version}
                  </option>
                ))}
            </select>
          </label>
          <label>
            In state
            <select value={state} onChange={(e) => setState(e.target.value)} data-testid="migrate-state">
              <option value="">any state</option>
              {(defs.data?.source.states ?? []).map((s) => (
                <option key={s.key} value={s.key}>
                  {s.name}
                </option>
              ))}
            </select>
          </label>
          <label>
            Matching
            <input
              value={text}
              placeholder="text in the order’s data"
              onChange={(e) => setText(e.target.value)}
              data-testid="migrate-filter"
            />
          </label>
        </div>
        <p data-testid="migrate-selection">
          {orders.loading ? 'Finding orders…' : `${selected.length} order(s) on version ${from ?? '—'} selected.`}
        </p>
        {removed.length > 0 && (
          <fieldset data-testid="migrate-state-map">
            <legend>States version {to} no longer has</legend>
            {removed.map((s) => {
              const here = selected.filter((o) => o.state === s.key).length;
              return (
                <label key={s.key} className="row">
                  <span>
                    {s.name} <span className="muted small">({here} order(s))</span> →
                  </span>
                  <select
                    value={stateMap[s.key] ?? ''}
                    onChange={(e) => setStateMap((m) => ({ ...m, [s.key]: e.target.value }))}
                    data-testid={`map-${s.key}`}
                  >
                    <option value="">— choose a state —</option>
                    {(defs.data?.target.states ?? [])
                      .filter((t) => t.group === s.group || (s.group !== 'completed' && s.group !== 'cancelled'))
                      .map((t) => (
                        <option key={t.key} value={t.key}>
                          {t.name}
                        </option>
                      ))}
                  </select>
                </label>
              );
            })}
          </fieldset>
        )}
        <fieldset data-testid="migrate-policy">
          <legend>Pending timers</legend>
          {POLICIES.map((p) => (
            <label key={p.value} className="radio">
              <input
                type="radio"
                name="policy"
                checked={policy === p.value}
                onChange={() => setPolicy(p.value)}
                data-testid={`policy-${p.value}`}
              />
              <strong>{p.label}</strong> <span className="muted small">{p.help}</span>
            </label>
          ))}
        </fieldset>
        <div className="row">
          <button type="button" onClick={dryRun} disabled={busy || ids.length === 0 || to === null} data-testid="migrate-dry-run">
            Dry run
          </button>
          {abilities.operate && (
            <button
              type="button"
              className="primary"
              onClick={migrate}
              disabled={busy || !planFresh || (plan?.result.orders.length ?? 0) === 0}
              title={planFresh ? undefined : 'Run the dry run first, with these settings'}
              data-testid="migrate-run"
            >
              Migrate {plan?.result.orders.length ?? 0} order(s)
            </button>
          )}
        </div>
      </div>
      {error !== undefined && <ErrorBox error={error} />}
      {run && (
        <section className="card" data-testid="migrate-progress">
          <h3>{run.done < run.total ? 'Migrating…' : 'Done'}</h3>
          <progress max={run.total} value={run.done} />
          <p data-testid="migrate-result">
            {run.rows.length} of {run.total} order(s) migrated to version {to}
            {run.failed.length > 0 ? `, ${run.failed.length} refused` : ''}.
          </p>
          <MigrationTable rows={run.rows} failed={run.failed} names={names} testId="migrate-result-table" />
        </section>
      )}
      {plan && !run && (
        <section className="card" data-testid="migrate-plan">
          <h3>Dry run {planFresh ? '' : '(settings changed since — run it again)'}</h3>
          <p className="muted small">Nothing was stored.</p>
          <MigrationTable rows={plan.result.orders} failed={plan.result.failed} names={names} testId="migrate-plan-table" />
        </section>
      )}
    </div>
  );
}

function MigrationTable({
  rows,
  failed,
  names,
  testId,
}: {
  rows: Row[];
  failed: MigrateWorkflowResult['failed'];
  names: Map<string, string>;
  testId: string;
}) {
  return (
    <table className="table compact stack" data-testid={testId}>
      <thead>
        <tr>
          <th>Order</th>
          <th>State</th>
          <th>Timers</th>
        </tr>
      </thead>
      <tbody>
        {failed.map((f) => (
          <tr key={f.orderId} className="refused" data-testid={`migrate-failed-${f.orderId}`}>
            <td>
              <Link to={`/orders/${encodeURIComponent(f.orderId)}`} className="mono">
                {f.orderId}
              </Link>
            </td>
            <td colSpan={2} className="error-text" data-label="State">
              Refused: {f.message}
            </td>
          </tr>
        ))}
        {rows.map((r) => (
          <tr key={r.orderId} data-testid={`migrate-row-${r.orderId}`}>
            <td>
              <Link to={`/orders/${encodeURIComponent(r.orderId)}`} className="mono">
                {r.orderId}
              </Link>
            </td>
            <td data-label="State">
              {r.from === r.to ? (
                <>stays in {names.get(r.to) ?? r.to}</>
              ) : (
                <>
                  {r.from} → <strong>{names.get(r.to) ?? r.to}</strong>
                </>
              )}
            </td>
            <td data-label="Timers">
              {r.timers.length === 0 ? (
                <span className="muted">no pending timers</span>
              ) : (
                <ul className="fates">
                  {r.timers.map((f) => (
                    <li key={f.timerId} className={`fate-${f.fate}`}>
                      {fateText(f)}
                    </li>
                  ))}
                </ul>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
