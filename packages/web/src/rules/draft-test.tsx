import type { TransitionPreview } from '@orderflow/client';
import { type Definition, type Order, type Rule, workflowCriteria } from '@orderflow/core';
import { useEffect, useState } from 'react';
import { ErrorBox, Loading } from '../components/common';
import { PreviewView } from '../components/preview-view';
import { api } from '../lib/api';
import { pretty } from '../lib/format';

type Kind = 'transition' | 'event' | 'fact';

/** What the rule reacts to, to prefill the test. */
function prefill(rule: Rule): { kind: Kind; to: string; event: string; fact: string } {
  const c = rule.conditions as Record<string, unknown> | undefined;
  const v = c?.new_state;
  const to = typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : '';
  const kind: Kind = rule.trigger === 'event_received' ? 'event' : rule.trigger === 'fact_recorded' ? 'fact' : 'transition';
  return { kind, to, event: rule.event ?? '', fact: rule.fact ?? '' };
}

/**
 * Tests the rules being edited — the draft, saved or not — against a real order:
 * a transition, an event or a fact, previewed under the draft. Nothing is stored.
 */
export function DraftRuleTest({ rule, definition, workflowKey }: { rule: Rule; definition: Definition; workflowKey: string }) {
  const start = prefill(rule);
  const [open, setOpen] = useState(false);
  const [orders, setOrders] = useState<Order[] | null>(null);
  const [orderId, setOrderId] = useState('');
  const [kind, setKind] = useState<Kind>(start.kind);
  const [to, setTo] = useState(start.to);
  const [event, setEvent] = useState(start.event);
  const [eventData, setEventData] = useState('');
  const [fact, setFact] = useState(start.fact || (workflowCriteria(definition)[0] ?? ''));
  const [result, setResult] = useState<TransitionPreview | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!open || orders) return;
    api.listOrders({ workflow: workflowKey, limit: 50 }).then(
      (r) => {
        setOrders(r.items);
        const first = r.items.find((o) => o.group === 'new' || o.group === 'processing');
        if (first) setOrderId(first.id);
      },
      (err: unknown) => setError(err),
    );
  }, [open, orders, workflowKey]);

  if (!open)
    return (
      <button type="button" onClick={() => setOpen(true)} data-testid="rule-test">
        Test the draft against an order…
      </button>
    );

  const ready = !!orderId && (kind === 'transition' ? !!to : kind === 'event' ? !!event : !!fact);
  const runTest = async () => {
    setBusy(true);
    setError(undefined);
    setResult(null);
    try {
      if (kind === 'transition') setResult(await api.previewTransition(orderId, { to, definition }));
      else if (kind === 'event') {
        const data = eventData.trim() ? (JSON.parse(eventData) as unknown) : undefined;
        setResult(await api.previewEvent(orderId, { type: event, ...(data !== undefined ? { data } : {}), definition }));
      } else setResult(await api.previewFact(orderId, { fact, definition }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const order = orders?.find((o) => o.id === orderId);

  return (
    <fieldset className="rule-test" data-testid="rule-test-panel">
      <legend>Test the draft against an order</legend>
      <p className="muted small">
        Runs the rules as they are in this editor — unsaved changes included — against a real order. Nothing is stored and nothing is sent.
      </p>
      {!orders && error === undefined && <Loading />}
      {orders && orders.length === 0 && <p className="muted">This workflow has no orders yet.</p>}
      {orders && orders.length > 0 && (
        <div className="row wrap">
          <select value={orderId} onChange={(e) => setOrderId(e.target.value)} aria-label="Order" data-testid="rule-test-order">
            {orders.map((o) => (
              // Named as people know the order: its reference and the state's name; the id only when there is no reference.
              <option key={o.id} value={o.id} title={o.id}>
                {o.externalRef ?? o.id} · {definition.states.find((st) => st.key === o.state)?.name ?? o.state} · v{o.workflowVersion}
              </option>
            ))}
          </select>
          <select value={kind} onChange={(e) => setKind(e.target.value as Kind)} aria-label="What happens" data-testid="rule-test-kind">
            <option value="transition">moves to</option>
            <option value="event">receives the event</option>
            <option value="fact">records the fact</option>
          </select>
          {kind === 'transition' && (
            <select value={to} onChange={(e) => setTo(e.target.value)} aria-label="Target state" data-testid="rule-test-to">
              <option value="">— state —</option>
              {definition.states.map((s) => (
                <option key={s.key} value={s.key}>
                  {s.name}
                </option>
              ))}
            </select>
          )}
          {kind === 'event' && (
            <>
              <input value={event} placeholder="event type" onChange={(e) => setEvent(e.target.value)} data-testid="rule-test-event" />
              <input
                value={eventData}
                placeholder='data (JSON), e.g. {"at": "hub"}'
                onChange={(e) => setEventData(e.target.value)}
                data-testid="rule-test-event-data"
              />
            </>
          )}
          {kind === 'fact' && (
            <select value={fact} onChange={(e) => setFact(e.target.value)} data-testid="rule-test-fact">
              {workflowCriteria(definition).map((c) => (
                <option key={c} value={c}>
                  {c}
                </option>
              ))}
            </select>
          )}
          <button type="button" className="primary" disabled={!ready || busy} data-testid="rule-test-run" onClick={runTest}>
            {busy ? 'Running…' : 'Run test'}
          </button>
        </div>
      )}
      {order && order.workflowVersion !== undefined && (
        <p className="muted small">The order runs on version {order.workflowVersion}; the test uses the draft instead.</p>
      )}
      {error !== undefined && <ErrorBox error={error} />}
      {result && (
        <>
          <div className="card" data-testid="rule-test-runs">
            <h4>Rules evaluated</h4>
            {(result.ruleRuns ?? []).length === 0 ? (
              <p className="muted">No rule reacted.</p>
            ) : (
              <ul>
                {(result.ruleRuns ?? []).map((r, i) => (
                  // biome-ignore lint/suspicious/noArrayIndexKey: one rule may run several times in a cascade
                  <li key={`${r.ruleId}-${i}`} data-testid={`rule-run-${r.ruleId}`}>
                    <span className="mono">{r.ruleId}</span> ({r.trigger}): {r.matched ? <strong>matched</strong> : 'did not match'}
                    {r.matched && r.actions.length > 0 && (
                      <span className="muted small"> — {r.actions.map((a) => `${a.type} ${a.outcome}`).join(', ')}</span>
                    )}
                  </li>
                ))}
              </ul>
            )}
          </div>
          <div className="card" data-testid="rule-test-order-after">
            <h4>
              The order afterwards: {result.order.state}, version {result.order.version}
            </h4>
            <pre className="code small">{pretty(result.order.data)}</pre>
          </div>
          <PreviewView preview={result} />
        </>
      )}
    </fieldset>
  );
}
