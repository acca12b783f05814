import type { Delivery, DeliveryStatus, DeliveryType } from '@orderflow/client';
import { useState } from 'react';
import { AutomationSwitch } from '../components/automation';
import { Empty, ErrorBox, Loaded, Loading, PageHeader, StatusBadge, useToast } from '../components/common';
import { DeliverySummaryText } from '../components/delivery-summary';
import { api, errorText } from '../lib/api';
import { formatTime, relativeTime } from '../lib/format';
import { Link, navigate, useLocation, withQuery } from '../lib/router';
import { useAbilities } from '../lib/session';
import { useResource } from '../lib/use-resource';

const STATUSES: DeliveryStatus[] = ['pending', 'delivered', 'failed', 'dead'];
const TYPES: DeliveryType[] = ['email', 'webhook', 'notify'];

export function DeliveriesPage() {
  const { query } = useLocation();
  const can = useAbilities();
  const toast = useToast();
  const status = (query.get('status') ?? '') as DeliveryStatus | '';
  const type = (query.get('type') ?? '') as DeliveryType | '';
  const orderId = query.get('orderId') ?? '';
  const list = useResource(
    () => api.listDeliveries({ status: status || undefined, type: type || undefined, orderId: orderId || undefined }),
    [status, type, orderId],
  );
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [open, setOpen] = useState<string | null>(null);
  const set = (k: string, v: string) => navigate(withQuery('/deliveries', { status, type, orderId, [k]: v }));

  const retry = async (ids: string[]) => {
    try {
      if (ids.length === 1) await api.retryDelivery(ids[0] as string);
      else await api.retryDeliveries({ ids });
      toast(`Retry scheduled for ${ids.length} deliver${ids.length === 1 ? 'y' : 'ies'}`, 'success');
      setSelected(new Set());
      list.reload();
    } catch (err) {
      toast(errorText(err), 'error');
    }
  };
  const retryable = (d: Delivery) => d.status === 'failed' || d.status === 'dead';

  return (
    <div className="page">
      <PageHeader
        title="Deliveries"
        subtitle="Emails, webhooks and notifications leave through a durable outbox and are retried until they succeed or die."
      >
        <AutomationSwitch />
        <button type="button" onClick={list.reload}>
          Refresh
        </button>
        {can.operate && (
          <button
            type="button"
            className="primary"
            disabled={selected.size === 0}
            onClick={() => retry([...selected])}
            data-testid="retry-selected"
          >
            Retry selected ({selected.size})
          </button>
        )}
      </PageHeader>
      <div className="filters">
        <div className="segmented" data-testid="delivery-status-filter">
          <button type="button" className={status === '' ? 'on' : ''} onClick={() => set('status', '')}>
            All
          </button>
          {STATUSES.map((s) => (
            <button
              type="button"
              key={s}
              className={status === s ? 'on' : ''}
              onClick={() => set('status', s)}
              data-testid={`delivery-status-${s}`}
            >
              {s}
            </button>
          ))}
        </div>
        <select value={type} onChange={(e) => set('type', e.target.value)} aria-label="Type">
          <option value="">All types</option>
          {TYPES.map((t) => (
            <option key={t}>{t}</option>
          ))}
        </select>
        {orderId && (
          <span className="pill">
            order {orderId}{' '}
            <button type="button" className="icon" aria-label="Clear order filter" onClick={() => set('orderId', '')}>
              ×
            </button>
          </span>
        )}
      </div>
      <Loaded resource={list}>
        {(r) =>
          r.items.length === 0 ? (
            <Empty>No deliveries{status ? ` with status ${status}` : ''}.</Empty>
          ) : (
            <div className="table-scroll">
              <table className="table stack" data-testid="deliveries-table">
                <thead>
                  <tr>
                    {can.operate && (
                      <th className="stack-keep">
                        <input
                          type="checkbox"
                          aria-label="Select all retryable"
                          checked={selected.size > 0 && r.items.filter(retryable).every((d) => selected.has(d.id))}
                          onChange={(e) => setSelected(e.target.checked ? new Set(r.items.filter(retryable).map((d) => d.id)) : new Set())}
                        />
                        <span className="stack-only" aria-hidden="true">
                          {' '}
                          All retryable
                        </span>
                      </th>
                    )}
                    <th>Delivery</th>
                    <th>To / subject</th>
                    <th>Type</th>
                    <th>Status</th>
                    <th className="num">Attempts</th>
                    <th>Order</th>
                    <th>Rule</th>
                    <th>Created</th>
                    <th>Next attempt / delivered</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {r.items.map((d) => (
                    <DeliveryRow
                      key={d.id}
                      delivery={d}
                      canRetry={can.operate}
                      selectable={can.operate && retryable(d)}
                      selected={selected.has(d.id)}
                      onSelect={(on) => {
                        const next = new Set(selected);
                        if (on) next.add(d.id);
                        else next.delete(d.id);
                        setSelected(next);
                      }}
                      open={open === d.id}
                      onToggle={() => setOpen(open === d.id ? null : d.id)}
                      onRetry={() => retry([d.id])}
                    />
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Loaded>
    </div>
  );
}

function DeliveryRow({
  delivery: d,
  canRetry,
  selectable,
  selected,
  onSelect,
  open,
  onToggle,
  onRetry,
}: {
  delivery: Delivery;
  canRetry: boolean;
  selectable: boolean;
  selected: boolean;
  onSelect: (on: boolean) => void;
  open: boolean;
  onToggle: () => void;
  onRetry: () => void;
}) {
  return (
    <>
      <tr data-testid={`delivery-row-${d.id}`} className={d.status === 'dead' ? 'error' : ''}>
        {canRetry && (
          <td>
            {selectable && (
              <input type="checkbox" checked={selected} onChange={(e) => onSelect(e.target.checked)} aria-label={`Select ${d.id}`} />
            )}
          </td>
        )}
        <td>
          <button type="button" className="link mono" onClick={onToggle}>
            {d.id}
          </button>
          {d.lastError && <div className="small error-text">{d.lastError}</div>}
        </td>
        <td className="small" data-label="To / subject">
          <DeliverySummaryText delivery={d} />
        </td>
        <td data-label="Type">{d.type}</td>
        <td data-label="Status">
          <StatusBadge status={d.status} />
        </td>
        <td className="num" data-label="Attempts">
          {d.attempts}
        </td>
        <td data-label="Order">
          <Link to={`/orders/${encodeURIComponent(d.orderId)}`} className="mono small">
            {d.orderId}
          </Link>
        </td>
        <td className="small" data-label="Rule">
          {d.ruleId}
        </td>
        <td className="small" data-label="Created">
          {formatTime(d.createdAt)}
        </td>
        <td className="small" data-label={d.deliveredAt ? 'Delivered' : 'Next attempt'}>
          {d.deliveredAt ? formatTime(d.deliveredAt) : d.nextAttemptAt ? relativeTime(d.nextAttemptAt) : '—'}
        </td>
        <td>
          {canRetry && d.status !== 'delivered' && (
            <button type="button" className="small" onClick={onRetry} data-testid={`retry-${d.id}`}>
              Retry
            </button>
          )}
        </td>
      </tr>
      {open && (
        <tr className="detail-row">
          <td colSpan={11}>
            <Attempts id={d.id} />
          </td>
        </tr>
      )}
    </>
  );
}

function Attempts({ id }: { id: string }) {
  const detail = useResource(() => api.getDelivery(id), [id]);
  if (detail.error) return <ErrorBox error={detail.error} onRetry={detail.reload} />;
  if (!detail.data) return <Loading />;
  const log = detail.data.attemptLog ?? [];
  if (log.length === 0) return <p className="muted">No attempt yet.</p>;
  return (
    <table className="table compact stack" data-testid={`attempts-${id}`}>
      <thead>
        <tr>
          <th>When</th>
          <th>Outcome</th>
          <th>Status</th>
          <th className="num">Duration</th>
          <th>Response / error</th>
        </tr>
      </thead>
      <tbody>
        {log.map((a, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: attempts are an append-only log
          <tr key={`${a.at}-${i}`}>
            <td className="small" data-label="When">
              {formatTime(a.at)}
            </td>
            <td data-label="Outcome">{a.outcome}</td>
            <td data-label="Status">{a.status ?? '—'}</td>
            <td className="num" data-label="Duration">
              {a.durationMs} ms
            </td>
            <td className="small mono pre-wrap" data-label="Response / error">
              {a.error ?? a.responseBody ?? ''}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
