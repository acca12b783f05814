import type { Change } from '@orderflow/client';
import type { Definition } from '@orderflow/core';
import { workflowKinds } from '@orderflow/core';
import { useState } from 'react';
import { api, errorText } from '../lib/api';
import { Dialog, JsonField } from './common';

const SAMPLE = {
  customer: { email: 'ada@example.com', name: 'Ada Lovelace' },
  items: [{ sku: 'BOOK-1', qty: 1 }],
  total: 42,
  currency: 'EUR',
  deliveryEstimate: '3 days',
};

export function NewOrderDialog({
  definition,
  onClose,
  onCreated,
}: {
  definition: Definition;
  onClose: () => void;
  onCreated: (c: Change) => void;
}) {
  const kinds = workflowKinds(definition);
  const entry = definition.states.filter((s) => s.group === 'new');
  const [kind, setKind] = useState(kinds[0] ?? 'order');
  const [state, setState] = useState('');
  const [externalRef, setExternalRef] = useState('');
  const [data, setData] = useState<unknown>(SAMPLE);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <Dialog title={`New order in ${definition.name}`} onClose={onClose} testId="new-order-dialog">
      <form
        className="form"
        onSubmit={async (e) => {
          e.preventDefault();
          if (!data || typeof data !== 'object' || Array.isArray(data)) {
            setError('Data must be a JSON object.');
            return;
          }
          setBusy(true);
          setError(null);
          try {
            const change = await api.createOrder({
              workflow: definition.key,
              kind,
              data: data as Record<string, unknown>,
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
        <div className="row">
          <label className="grow">
            Kind
            <select value={kind} onChange={(e) => setKind(e.target.value)}>
              {kinds.map((k) => (
                <option key={k}>{k}</option>
              ))}
            </select>
          </label>
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
            placeholder="e.g. shop order number"
            data-testid="new-order-ref"
          />
        </label>
        <div className="field">
          Data (JSON)
          <JsonField value={data} onChange={setData} rows={10} testId="new-order-data" />
        </div>
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
