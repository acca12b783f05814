import type { Change, WorkflowSummary } from '@orderflow/client';
import type { Definition } from '@orderflow/core';
import { workflowKinds } from '@orderflow/core';
import { useId, useState } from 'react';
import { api, errorText } from '../lib/api';
import { useResource } from '../lib/use-resource';
import { Dialog } from './common';

/**
 * A new order from a form: workflow, kind, external reference, customer,
 * total and currency, plus JSON for anything else. Nothing is prefilled that
 * could pass for a real customer.
 */
export function NewOrderDialog({
  definition: initial,
  workflows,
  onClose,
  onCreated,
}: {
  definition: Definition;
  workflows?: WorkflowSummary[];
  onClose: () => void;
  onCreated: (c: Change) => void;
}) {
  const [workflowKey, setWorkflowKey] = useState(initial.key);
  const other = useResource(
    () => (workflowKey === initial.key ? Promise.resolve(initial) : api.getWorkflow(workflowKey).then((w) => w.definition ?? initial)),
    [workflowKey],
  );
  const definition = other.data ?? initial;
  const kinds = workflowKinds(definition);
  const entry = definition.states.filter((s) => s.group === 'new');
  const [kind, setKind] = useState('');
  const [state, setState] = useState('');
  const [externalRef, setExternalRef] = useState('');
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [total, setTotal] = useState('');
  const [currency, setCurrency] = useState('EUR');
  const [extra, setExtra] = useState('{}');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  const choices = workflows && workflows.length > 0 ? workflows : [{ key: initial.key, name: initial.name }];

  const buildData = (): Record<string, unknown> | string => {
    let rest: unknown;
    try {
      rest = extra.trim() ? JSON.parse(extra) : {};
    } catch (err) {
      return `Other data is not valid JSON: ${(err as Error).message}`;
    }
    if (!rest || typeof rest !== 'object' || Array.isArray(rest)) return 'Other data must be a JSON object, like {"giftWrap": true}.';
    const data: Record<string, unknown> = { ...(rest as Record<string, unknown>) };
    const customer: Record<string, string> = {};
    if (name.trim()) customer.name = name.trim();
    if (email.trim()) customer.email = email.trim();
    if (Object.keys(customer).length > 0) data.customer = { ...((data.customer as object | undefined) ?? {}), ...customer };
    if (total.trim()) {
      const n = Number(total);
      if (!Number.isFinite(n)) return 'Total must be a number.';
      data.total = n;
      if (currency.trim()) data.currency = currency.trim().toUpperCase();
    }
    return data;
  };

  return (
    <Dialog title={`New order in ${definition.name}`} onClose={onClose} testId="new-order-dialog">
      <form
        className="form"
        onSubmit={async (e) => {
          e.preventDefault();
          const data = buildData();
          if (typeof data === 'string') {
            setError(data);
            return;
          }
          setBusy(true);
          setError(null);
          try {
            const change = await api.createOrder({
              workflow: definition.key,
              kind: kind || kinds[0] || 'order',
              data,
              ...(externalRef.trim() ? { externalRef: externalRef.trim() } : {}),
              ...(state ? { state } : {}),
            });
            onCreated(change);
          } catch (err) {
            setError(errorText(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <div className="row wrap">
          <div className="field grow">
            <label htmlFor={`${id}-workflow`}>Workflow</label>
            <select
              id={`${id}-workflow`}
              value={workflowKey}
              onChange={(e) => {
                setWorkflowKey(e.target.value);
                setKind('');
                setState('');
              }}
            >
              {choices.map((w) => (
                <option key={w.key} value={w.key}>
                  {w.name}
                </option>
              ))}
            </select>
          </div>
          <div className="field grow">
            <label htmlFor={`${id}-kind`}>Kind</label>
            <select id={`${id}-kind`} value={kind || kinds[0] || ''} onChange={(e) => setKind(e.target.value)}>
              {kinds.map((k) => (
                <option key={k}>{k}</option>
              ))}
            </select>
          </div>
          <label className="grow">
            Entry state
            <select value={state} onChange={(e) => setState(e.target.value)}>
              <option value="">initial ({entry.find((s) => s.initial)?.name ?? '—'})</option>
              {entry.map((s) => (
                <option key={s.key} value={s.key}>
                  {s.name}
                </option>
              ))}
            </select>
          </label>
        </div>
        <label>
          External reference
          <input
            value={externalRef}
            onChange={(e) => setExternalRef(e.target.value)}
            placeholder="e.g. the shop's order number"
            data-testid="new-order-ref"
          />
        </label>
        <div className="row wrap">
          <label className="grow">
            Customer name
            <input value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />
          </label>
          <label className="grow">
            Customer email
            <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} autoComplete="off" />
          </label>
        </div>
        <div className="row wrap">
          <label className="grow">
            Total
            <input type="number" step="0.01" min="0" inputMode="decimal" value={total} onChange={(e) => setTotal(e.target.value)} />
          </label>
          <label>
            Currency
            <input className="short mono" value={currency} maxLength={3} onChange={(e) => setCurrency(e.target.value)} />
          </label>
        </div>
        <label>
          Other data (JSON)
          <textarea
            className="mono"
            rows={4}
            spellCheck={false}
            value={extra}
            onChange={(e) => setExtra(e.target.value)}
            data-testid="new-order-data"
          />
        </label>
        {error && (
          <p className="field-error" role="alert">
            {error}
          </p>
        )}
        <footer>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy} data-testid="new-order-create">
            {busy ? 'Creating…' : 'Create order'}
          </button>
        </footer>
      </form>
    </Dialog>
  );
}
