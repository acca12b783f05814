import type { Timer } from '@orderflow/core';
import type { Kysely } from 'kysely';
import { ApiError } from '../errors.js';
import type { TimerRow } from '../store/queue.js';
import * as queue from '../store/queue.js';
import * as repo from '../store/repo.js';
import type { DB } from '../store/schema.js';
import { claimOptions, LeaseLostError, renewWhileBusy, SimulatedCrashError, type WorkerContext, type WorkerCounts } from './context.js';
import type { AutomationState } from './settings.js';

/** Fires one claimed timer through the runtime; marks it fired in the same transaction. */
async function fireTimer(ctx: WorkerContext, row: TimerRow, token: string, counts: WorkerCounts): Promise<void> {
  const { status: _status, ...timer } = repo.rowToTimer(row);
  const firedAt = ctx.clock.now();
  const markFired = async (tx: Kysely<DB>, status: 'fired' | 'failed') => {
    if (!(await queue.completeTimer(tx, row.id, token, status, firedAt.toISOString())))
      throw new LeaseLostError(`lease of timer ${row.id} was taken over`);
  };
  const fields = { timerId: row.id, orderId: row.order_id, kind: row.kind, dueAt: row.due_at };
  const lagMs = firedAt.getTime() - Date.parse(row.due_at);
  try {
    const r = await ctx.runtime.applyCommand({
      orderId: row.order_id,
      command: { type: 'timer', timer: timer as Timer },
      alsoInTransaction: (tx) => markFired(tx, 'fired'),
    });
    const noop = r.decision?.noop === true;
    if (noop) counts.timersSkipped++;
    else counts.timersFired++;
    ctx.metrics?.timerFired(noop ? 'skipped' : 'fired', lagMs);
    ctx.log.info({ ...fields, lagMs, noop }, noop ? 'timer fired; the order had moved on' : 'timer fired');
  } catch (e) {
    if (e instanceof LeaseLostError) {
      counts.leaseLost++;
      ctx.log.warn(fields, 'timer lease was taken over; leaving it to the new owner');
      return;
    }
    if (e instanceof ApiError && e.code === 'not_found') {
      counts.timersFailed++;
      ctx.log.error({ ...fields, err: e.message }, 'timer cannot fire');
      await ctx.store.transaction((tx) => markFired(tx, 'failed')).catch(() => undefined);
      return;
    }
    if (e instanceof ApiError && e.code === 'version_conflict') {
      // Someone changed the order meanwhile: release and fire against the new version.
      await queue.releaseClaim(ctx.store.db, 'timers', row.id, token);
      return;
    }
    throw e;
  }
}

/** Claims due timers and fires them one by one; answers how many were claimed. */
export async function timersRound(ctx: WorkerContext, automation: AutomationState, counts: WorkerCounts): Promise<number> {
  const o = claimOptions(ctx, automation);
  const rows = await ctx.store.transaction((tx) => queue.claimDue(tx, 'timers', o));
  if (rows.length === 0) return 0;
  ctx.crash('after-claim');
  const stopRenewing = renewWhileBusy(ctx, 'timers', o.token);
  try {
    for (const row of rows) {
      if (ctx.stopping()) {
        await queue.releaseClaim(ctx.store.db, 'timers', row.id, o.token);
        continue;
      }
      try {
        await fireTimer(ctx, row, o.token, counts);
      } catch (e) {
        if (e instanceof SimulatedCrashError) throw e;
        ctx.log.error({ timerId: row.id, orderId: row.order_id, err: e }, 'timer failed; it is tried again when its lease ends');
        // Let it go to another round only after the lease: a timer that keeps failing must not spin.
      }
    }
  } finally {
    stopRenewing();
  }
  return rows.length;
}
