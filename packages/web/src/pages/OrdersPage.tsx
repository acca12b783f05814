import type { Order } from '@orderflow/core';
import { GROUPS, type Group } from '@orderflow/core';
import { useEffect, useState } from 'react';
import { Empty, ErrorBox, GroupBadge, Loading, PageHeader } from '../components/common';
import { useWorkflows } from '../components/workflow-picker';
import { api } from '../lib/api';
import { formatMoney, formatTime } from '../lib/format';
import { Link, navigate, useLocation, withQuery } from '../lib/router';

const FILTERS = ['workflow', 'state', 'group', 'kind', 'q', 'createdAfter', 'createdBefore'] as const;

export function OrdersPage() {
  const { query } = useLocation();
  const workflows = useWorkflows();
  const f = Object.fromEntries(FILTERS.map((k) => [k, query.get(k) ?? ''])) as Record<(typeof FILTERS)[number], string>;
  const [draft, setDraft] = useState(f);
  const [items, setItems] = useState<Order[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const [loadingMore, setLoadingMore] = useState(false);
  const key = query.toString();

  const filters = {
    workflow: f.workflow || undefined,
    state: f.state || undefined,
    group: (f.group || undefined) as Group | undefined,
    kind: f.kind || undefined,
    q: f.q || undefined,
    createdAfter: f.createdAfter ? new Date(f.createdAfter).toISOString() : undefined,
    // The end date is inclusive: up to the end of that day.
    createdBefore: f.createdBefore ? new Date(Date.parse(f.createdBefore) + 86_400_000).toISOString() : undefined,
    limit: 50,
  };

  // biome-ignore lint/correctness/useExhaustiveDependencies: the query string is the input
  useEffect(() => {
    setItems(null);
    setError(undefined);
    setDraft(f);
    api.listOrders(filters).then(
      (r) => {
        setItems(r.items);
        setCursor(r.nextCursor ?? null);
      },
      (err: unknown) => setError(err),
    );
  }, [key]);

  const apply = (next: Record<string, string>) => navigate(withQuery('/orders', next));
  const loadMore = async () => {
    if (!cursor) return;
    setLoadingMore(true);
    try {
      const r = await api.listOrders({ ...filters, cursor });
      setItems((list) => [...(list ?? []), ...r.items]);
      setCursor(r.nextCursor ?? null);
    } catch (err) {
      setError(err);
    } finally {
      setLoadingMore(false);
    }
  };

  return (
    <div className="page">
      <PageHeader title="Orders" subtitle="Every order, newest first." />
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          apply(draft);
        }}
        data-testid="order-filters"
      >
        <input
          type="search"
          placeholder="Search in order data…"
          value={draft.q}
          onChange={(e) => setDraft({ ...draft, q: e.target.value })}
          data-testid="orders-search"
        />
        <select
          value={draft.workflow}
          onChange={(e) => setDraft({ ...draft, workflow: e.target.value })}
          aria-label="Workflow"
          data-testid="orders-workflow"
        >
          <option value="">All workflows</option>
          {(workflows.data ?? []).map((w) => (
            <option key={w.key} value={w.key}>
              {w.name}
            </option>
          ))}
        </select>
        <select
          value={draft.group}
          onChange={(e) => setDraft({ ...draft, group: e.target.value })}
          aria-label="Group"
          data-testid="orders-group"
        >
          <option value="">All groups</option>
          {GROUPS.map((g) => (
            <option key={g} value={g}>
              {g}
            </option>
          ))}
        </select>
        <input
          placeholder="state key"
          value={draft.state}
          onChange={(e) => setDraft({ ...draft, state: e.target.value })}
          aria-label="State"
          className="short"
        />
        <input
          placeholder="kind"
          value={draft.kind}
          onChange={(e) => setDraft({ ...draft, kind: e.target.value })}
          aria-label="Kind"
          className="short"
        />
        <label className="inline">
          from
          <input type="date" value={draft.createdAfter} onChange={(e) => setDraft({ ...draft, createdAfter: e.target.value })} />
        </label>
        <label className="inline">
          to
          <input type="date" value={draft.createdBefore} onChange={(e) => setDraft({ ...draft, createdBefore: e.target.value })} />
        </label>
        <button type="submit" className="primary" data-testid="orders-apply">
          Apply
        </button>
        <button type="button" onClick={() => apply({})}>
          Clear
        </button>
      </form>
      {error !== undefined && <ErrorBox error={error} onRetry={() => apply(f)} />}
      {!items && !error && <Loading />}
      {items && items.length === 0 && <Empty>No orders match these filters.</Empty>}
      {items && items.length > 0 && (
        <table className="table stack" data-testid="orders-table">
          <thead>
            <tr>
              <th>Order</th>
              <th>Workflow</th>
              <th>State</th>
              <th>Customer</th>
              <th className="num">Total</th>
              <th>Created</th>
              <th className="stack-hide">Updated</th>
            </tr>
          </thead>
          <tbody>
            {items.map((o) => {
              const c = (o.data.customer ?? {}) as { name?: unknown; email?: unknown };
              return (
                <tr key={o.id} data-testid={`order-row-${o.id}`}>
                  <td>
                    <Link to={`/orders/${encodeURIComponent(o.id)}`} className="mono">
                      {o.id}
                    </Link>
                    {o.externalRef && <div className="muted small">{o.externalRef}</div>}
                  </td>
                  <td data-label="Workflow">
                    {o.workflow} <span className="muted small">v{o.workflowVersion}</span>
                  </td>
                  <td data-label="State">
                    <GroupBadge group={o.group} /> {o.state}
                  </td>
                  <td data-label="Customer">{[c.name, c.email].filter((x) => typeof x === 'string').join(' · ')}</td>
                  <td className="num" data-label="Total">
                    {formatMoney(o.data.total, o.data.currency)}
                  </td>
                  <td data-label="Created">{formatTime(o.createdAt)}</td>
                  <td className="stack-hide">{formatTime(o.updatedAt)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {cursor && (
        <button type="button" onClick={loadMore} disabled={loadingMore}>
          {loadingMore ? 'Loading…' : 'Load more'}
        </button>
      )}
    </div>
  );
}
