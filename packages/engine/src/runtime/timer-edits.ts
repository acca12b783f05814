import type { Actor, HistoryEntry, TimerEdit } from '@orderflow/core';
import { ApiError } from '../errors.js';
import { appendHistory, cancelPendingTimer, getOrderWithCounters, getTimerRow, updatePendingTimer } from '../store/changes.js';
import * as repo from '../store/repo.js';
import type { Store } from '../store/store.js';

/** A timer as the API answers it after an edit. */
export type EditedTimer = ReturnType<typeof repo.rowToTimer> & { createdAt: string; firedAt: string | null };

/**
 * Reschedules (`dueAt`) or cancels (`dueAt` null) one pending timer by hand, and
 * writes a history entry on its order with the actor and the old and new due time,
 * in one transaction. Pending only: a fired or cancelled timer answers 409.
 */
export async function editTimer(
  store: Store,
  opts: { id: string; dueAt: string | null; actor: Actor; now: string; newId: (prefix: string) => string },
): Promise<EditedTimer> {
  return store.transaction(async (tx) => {
    const row = await getTimerRow(tx, opts.id);
    if (!row) throw new ApiError('not_found', `Timer ${opts.id} does not exist.`);
    // Lock the order first: its history is appended in sequence with every other change to it.
    const order = (await getOrderWithCounters(tx, row.order_id, store.capabilities.rowLocks))?.order;
    const fresh = await getTimerRow(tx, opts.id);
    if (!fresh) throw new ApiError('not_found', `Timer ${opts.id} does not exist.`);
    if (fresh.status !== 'pending')
      throw new ApiError('conflict', `Timer ${opts.id} is ${fresh.status}; only pending timers can be changed.`);
    const done = opts.dueAt === null ? await cancelPendingTimer(tx, opts.id) : await updatePendingTimer(tx, opts.id, { dueAt: opts.dueAt });
    if (!done) throw new ApiError('conflict', `Timer ${opts.id} fired or was cancelled meanwhile.`);
    const edit: TimerEdit = {
      id: fresh.id,
      kind: repo.rowToTimer(fresh).kind,
      action: opts.dueAt === null ? 'cancelled' : 'rescheduled',
      dueAt: fresh.due_at,
    };
    if (opts.dueAt !== null) edit.newDueAt = opts.dueAt;
    if (fresh.rule_id !== null) edit.ruleId = fresh.rule_id;
    if (order) {
      const what = fresh.kind === 'timeout' ? `timeout of "${fresh.state}"` : fresh.rule_id ? `timer of rule "${fresh.rule_id}"` : 'timer';
      const entry: HistoryEntry = {
        id: opts.newId('hst'),
        version: order.version,
        at: opts.now,
        type: 'timer',
        actor: opts.actor,
        timer: edit,
        note:
          opts.dueAt === null
            ? `Cancelled the ${what} (was due ${fresh.due_at}).`
            : `Rescheduled the ${what} from ${fresh.due_at} to ${opts.dueAt}.`,
      };
      if (edit.ruleId !== undefined) entry.ruleId = edit.ruleId;
      await appendHistory(tx, order.id, [entry]);
    }
    const after = await getTimerRow(tx, opts.id);
    if (!after) throw new ApiError('not_found', `Timer ${opts.id} does not exist.`);
    return { ...repo.rowToTimer(after), createdAt: after.created_at, firedAt: after.fired_at };
  });
}
