import type { Change } from '@orderflow/client';
import type { Definition, Order, Reason, State } from '@orderflow/core';
import { workflowReasons } from '@orderflow/core';
import { type ReactNode, useCallback, useEffect, useRef, useState } from 'react';
import { api, errorText } from '../lib/api';
import { Dialog, useToast } from './common';

interface Pending {
  order: Order;
  state: State;
  definition: Definition;
}

/**
 * Moves orders: asks for a reason when entering Cancelled and for the missing
 * criteria when entering Completed, then calls the API. A refusal is reported
 * with the API's own explanation and nothing moves.
 */
export function useMoveOrder(onMoved: (change: Change) => void, onRefused?: (message: string, order: Order) => void) {
  const toast = useToast();
  const [pending, setPending] = useState<Pending | null>(null);
  const [busy, setBusy] = useState(false);
  // A refusal of a move asked for in a dialog is shown in that dialog, where the person is looking.
  const [dialogError, setDialogError] = useState<string | null>(null);

  const send = useCallback(
    async (order: Order, state: State, body: { reason?: Reason; note?: string; facts?: string[] }, fromDialog = false) => {
      setBusy(true);
      setDialogError(null);
      try {
        const change = await api.transition(order.id, { to: state.key, expectedVersion: order.version, ...body });
        setPending(null);
        const cascade =
          change.applied.length > 1
            ? ` (then ${change.applied
                .slice(1)
                .map((a) => a.to)
                .join(' → ')})`
            : '';
        toast(`Moved to ${state.name}${cascade}`, 'success');
        onMoved(change);
        return true;
      } catch (err) {
        const message = `Cannot move to ${state.name}: ${errorText(err)}`;
        if (fromDialog) setDialogError(message);
        else if (onRefused) onRefused(message, order);
        else toast(message, 'error');
        return false;
      } finally {
        setBusy(false);
      }
    },
    [onMoved, onRefused, toast],
  );

  const request = useCallback(
    (order: Order, state: State, definition: Definition) => {
      if (order.state === state.key) return;
      setDialogError(null);
      const missing = (state.requires ?? []).filter((c) => !order.facts?.[c]);
      if (state.group === 'cancelled' || (state.group === 'completed' && missing.length > 0)) setPending({ order, state, definition });
      else void send(order, state, {});
    },
    [send],
  );

  let dialog: ReactNode = null;
  if (pending?.state.group === 'cancelled')
    dialog = (
      <ReasonDialog
        pending={pending}
        busy={busy}
        error={dialogError}
        onCancel={() => setPending(null)}
        onSubmit={(body) => send(pending.order, pending.state, body, true)}
      />
    );
  else if (pending?.state.group === 'completed')
    dialog = (
      <CriteriaDialog
        pending={pending}
        busy={busy}
        error={dialogError}
        onCancel={() => setPending(null)}
        onSubmit={(body) => send(pending.order, pending.state, body, true)}
      />
    );
  return { request, dialog, busy };
}

/** The server's refusal, inside the dialog just above its buttons. */
function Refusal({ error }: { error: string | null }) {
  const ref = useRef<HTMLParagraphElement>(null);
  useEffect(() => {
    if (error) ref.current?.scrollIntoView({ block: 'nearest' });
  }, [error]);
  if (!error) return null;
  return (
    <p className="field-error refusal" role="alert" data-testid="move-refusal" ref={ref}>
      {error}
    </p>
  );
}

function ReasonDialog({
  pending,
  busy,
  error,
  onCancel,
  onSubmit,
}: {
  pending: Pending;
  busy: boolean;
  error: string | null;
  onCancel: () => void;
  onSubmit: (body: { reason: Reason; note?: string }) => void;
}) {
  const { state, definition, order } = pending;
  const [initiator, setInitiator] = useState<Reason['initiator']>(state.cancellation?.initiator ?? 'customer');
  const [code, setCode] = useState(state.cancellation?.code ?? workflowReasons(definition, initiator)[0] ?? '');
  const [note, setNote] = useState('');
  const [refund, setRefund] = useState('');
  const [currency, setCurrency] = useState(typeof order.data.currency === 'string' ? order.data.currency : 'EUR');
  const codes = workflowReasons(definition, initiator);
  return (
    <Dialog title={`Cancel order: ${state.name}`} onClose={onCancel} testId="reason-dialog">
      <form
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          const reason: Reason = { initiator, code };
          if (note.trim()) reason.note = note.trim();
          if (refund.trim()) reason.refund = { amount: Number(refund), currency: currency.toUpperCase() };
          onSubmit({ reason });
        }}
      >
        <p className="muted">Entering a cancelled state needs a reason: who initiated it, and why.</p>
        <label>
          Initiator
          <select
            value={initiator}
            onChange={(e) => {
              const i = e.target.value as Reason['initiator'];
              setInitiator(i);
              setCode(workflowReasons(definition, i)[0] ?? '');
            }}
            data-testid="reason-initiator"
          >
            <option value="customer">Customer</option>
            <option value="provider">Provider</option>
          </select>
        </label>
        <label>
          Reason
          <select value={code} onChange={(e) => setCode(e.target.value)} data-testid="reason-code">
            {codes.map((c) => (
              <option key={c} value={c}>
                {c.replaceAll('_', ' ')}
              </option>
            ))}
          </select>
        </label>
        <label>
          Note
          <textarea rows={2} value={note} onChange={(e) => setNote(e.target.value)} data-testid="reason-note" />
        </label>
        <div className="row">
          <label className="grow">
            Refund amount (optional)
            <input
              type="number"
              min="0"
              step="0.01"
              value={refund}
              onChange={(e) => setRefund(e.target.value)}
              data-testid="reason-refund"
            />
          </label>
          <label>
            Currency
            <input className="short mono" value={currency} maxLength={3} onChange={(e) => setCurrency(e.target.value)} />
          </label>
        </div>
        <Refusal error={error} />
        <footer>
          <button type="button" onClick={onCancel}>
            Keep the order
          </button>
          <button type="submit" className="primary danger" disabled={busy || !code} data-testid="reason-submit">
            {busy ? 'Cancelling…' : `Move to ${state.name}`}
          </button>
        </footer>
      </form>
    </Dialog>
  );
}

function CriteriaDialog({
  pending,
  busy,
  error,
  onCancel,
  onSubmit,
}: {
  pending: Pending;
  busy: boolean;
  error: string | null;
  onCancel: () => void;
  onSubmit: (body: { facts: string[]; note?: string }) => void;
}) {
  const { state, order } = pending;
  const missing = (state.requires ?? []).filter((c) => !order.facts?.[c]);
  const [checked, setChecked] = useState<Set<string>>(() => new Set());
  return (
    <Dialog title={`Complete order: ${state.name}`} onClose={onCancel} testId="criteria-dialog">
      <form
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          onSubmit({ facts: [...checked] });
        }}
      >
        <p>This state requires these criteria. Confirm the ones that are met; they are recorded on the order.</p>
        {missing.map((c) => (
          <label className="check" key={c}>
            <input
              type="checkbox"
              checked={checked.has(c)}
              data-testid={`criterion-${c}`}
              onChange={(e) => {
                const next = new Set(checked);
                if (e.target.checked) next.add(c);
                else next.delete(c);
                setChecked(next);
              }}
            />
            {c.replaceAll('_', ' ')}
          </label>
        ))}
        <Refusal error={error} />
        <footer>
          <button type="button" onClick={onCancel}>
            Not yet
          </button>
          <button type="submit" className="primary" disabled={busy} data-testid="criteria-submit">
            {busy ? 'Completing…' : `Move to ${state.name}`}
          </button>
        </footer>
      </form>
    </Dialog>
  );
}
