import type { OutboxEntry } from '@orderflow/core';
import type { ActionOutcome } from '../actions/outcome.js';
import { hasNotificationOfDelivery } from '../store/notifications.js';
import type { DeliveryRow } from '../store/queue.js';
import * as queue from '../store/queue.js';
import { raiseAlert } from './alerts.js';
import { claimOptions, LeaseLostError, renewWhileBusy, SimulatedCrashError, type WorkerContext, type WorkerCounts } from './context.js';
import { applyEndpointHealth } from './endpoint-health.js';
import { alertFoldKey, insertNotification, type Notification, raiseFolded } from './notifications.js';
import { type PrepareContext, type PreparedDelivery, prepareDelivery } from './prepare.js';
import type { AutomationState } from './settings.js';
import { deliveryVerdict, endpointOf, utf8Prefix } from './verdict.js';

/**
 * Where a delivery goes, for the in-flight bound per destination: a named endpoint, the origin
 * of a webhook URL, the mail server, or the notification channel. Read from the stored action,
 * without rendering anything.
 */
export function destinationOf(action: OutboxEntry['action']): string {
  switch (action.type) {
    case 'webhook':
      if (action.endpoint !== undefined) return `endpoint:${action.endpoint}`;
      try {
        return `url:${new URL(action.url ?? '').origin}`;
      } catch {
        return 'url:';
      }
    case 'send_email':
      return 'email';
    default:
      return 'notify';
  }
}

/**
 * Runs `fn` over `items`, at most `limit` at once in all and `perKey` at once per `keyOf` key:
 * items of a busy key wait while items of other keys go ahead. The first error stops starting
 * new ones; it is rethrown once the running ones are done.
 */
export function dispatch<T>(
  items: readonly T[],
  keyOf: (item: T) => string,
  limit: number,
  perKey: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const waiting = items.map((item) => ({ item, key: keyOf(item) }));
    const running = new Map<string, number>();
    let active = 0;
    let failure: { error: unknown } | null = null;
    let settled = false;
    const pump = (): void => {
      for (let i = 0; failure === null && i < waiting.length && active < limit; ) {
        const next = waiting[i] as { item: T; key: string };
        const n = running.get(next.key) ?? 0;
        if (n >= perKey) {
          i++;
          continue;
        }
        waiting.splice(i, 1);
        active++;
        running.set(next.key, n + 1);
        fn(next.item)
          .catch((error: unknown) => {
            failure ??= { error };
          })
          .finally(() => {
            active--;
            running.set(next.key, (running.get(next.key) ?? 1) - 1);
            pump();
          });
      }
      if (!settled && active === 0 && (waiting.length === 0 || failure !== null)) {
        settled = true;
        if (failure !== null) reject(failure.error);
        else resolve();
      }
    };
    pump();
  });
}

/** Stores the notification of a notify delivery (once, also across retries); publishing is the caller's. */
async function storeNotification(
  ctx: WorkerContext,
  row: DeliveryRow,
  token: string,
  p: Extract<PreparedDelivery, { type: 'notify' }>,
): Promise<{ stored: Notification | null; folded: boolean }> {
  return ctx.store.transaction(async (tx) => {
    if (!(await queue.holdsDelivery(tx, row.id, token))) throw new LeaseLostError(`lease of ${row.id} was taken over`);
    // A retry (the admin email failed) must not store the notification twice.
    if (await hasNotificationOfDelivery(tx, row.id)) return { stored: null, folded: false };
    const n = {
      id: ctx.newId('ntf'),
      channel: p.channel,
      severity: p.severity,
      message: p.message,
      orderId: row.order_id,
      deliveryId: row.id,
      createdAt: ctx.clock.now().toISOString(),
    };
    const key = alertFoldKey(JSON.parse(row.envelope_json) as OutboxEntry['envelope']);
    if (key) {
      const r = await raiseFolded(tx, n, key);
      return { stored: r.notification, folded: r.folded };
    }
    return { stored: await insertNotification(tx, n), folded: false };
  });
}

async function send(ctx: WorkerContext, row: DeliveryRow, token: string, p: PreparedDelivery): Promise<ActionOutcome> {
  switch (p.type) {
    case 'invalid':
      return { ok: false, retryable: false, error: p.error, durationMs: 0 };
    case 'email':
      return ctx.senders().email.send(p.message);
    case 'webhook':
      return ctx.senders().webhook.send(p.request);
    case 'notify': {
      const { stored, folded } = await storeNotification(ctx, row, token, p);
      if (stored) ctx.publish([stored]);
      // A repeat of an open alert only counts; the admins were emailed the first time.
      if (!p.email || folded) return { ok: true, durationMs: 0 };
      return ctx.senders().email.send(p.email);
    }
  }
}

function describe(p: PreparedDelivery, row: DeliveryRow): string {
  switch (p.type) {
    case 'email':
      return `email to ${p.message.to.join(', ')}`;
    case 'webhook':
      return `webhook to ${p.request.url}`;
    case 'notify':
      return `notification to ${p.channel}`;
    case 'invalid':
      return row.type;
  }
}

/** One finished attempt, waiting to be recorded. */
interface Attempt {
  row: DeliveryRow;
  token: string;
  attempt: number;
  startedAt: Date;
  prepared: PreparedDelivery;
  outcome: ActionOutcome;
}

/** Renders and sends one claimed delivery; answers the attempt to record (null when the lease was lost). */
async function attemptDelivery(ctx: WorkerContext, row: DeliveryRow, token: string, counts: WorkerCounts): Promise<Attempt | null> {
  const attempt = Number(row.attempts) + 1;
  const startedAt = ctx.clock.now();
  const pctx: PrepareContext = {
    db: ctx.store.db,
    renderer: ctx.renderer,
    ...(ctx.renderPool ? { renderPool: ctx.renderPool } : {}),
    adminEmails: ctx.config.adminEmails,
    loadDefinition: ctx.loadDefinition,
    webhookSecret: ctx.webhookSecret,
    now: startedAt,
  };
  let prepared: PreparedDelivery;
  let outcome: ActionOutcome;
  try {
    prepared = await prepareDelivery(pctx, {
      id: row.id,
      action: JSON.parse(row.action_json) as OutboxEntry['action'],
      envelope: JSON.parse(row.envelope_json) as OutboxEntry['envelope'],
    });
    outcome = await send(ctx, row, token, prepared);
  } catch (e) {
    if (e instanceof LeaseLostError) {
      counts.leaseLost++;
      ctx.log.warn({ deliveryId: row.id, orderId: row.order_id }, 'delivery lease was taken over; leaving it to the new owner');
      return null;
    }
    // Infrastructure trouble (database, renderer crash): try again later.
    prepared = { type: 'invalid', error: String(e) };
    outcome = { ok: false, retryable: true, error: `internal error: ${e instanceof Error ? e.message : String(e)}`, durationMs: 0 };
  }
  ctx.crash('after-send');
  return { row, token, attempt, startedAt, prepared, outcome };
}

/** Records an attempt: the delivery's new status, the attempt row, the endpoint's health and alerts. */
async function complete(ctx: WorkerContext, a: Attempt, counts: WorkerCounts): Promise<void> {
  const { row, token, attempt, startedAt, prepared, outcome } = a;
  const now = ctx.clock.now();
  const nowIso = now.toISOString();
  const endpoint = endpointOf(prepared);
  const verdict = deliveryVerdict({
    outcome,
    attempt,
    endpoint,
    nextAttemptAt: row.next_attempt_at,
    now,
    retry: { baseMs: ctx.config.retryBaseMs, maxAttempts: ctx.config.retryMaxAttempts, random: ctx.random },
  });
  const { error } = verdict;
  const direct: Notification[] = [];
  let alerted = false;
  try {
    await ctx.store.transaction(async (tx) => {
      const held = await queue.completeDelivery(tx, {
        id: row.id,
        token,
        status: verdict.status,
        attempt,
        nextAttemptAt: verdict.nextAttemptAt,
        error,
        at: nowIso,
        attemptRow: {
          id: ctx.newId('att'),
          startedAt: startedAt.toISOString(),
          durationMs: Math.max(0, Math.round(outcome.durationMs)),
          outcome: verdict.outcome,
          statusCode: outcome.status ?? null,
          responseBody: outcome.responseBody === undefined ? null : utf8Prefix(outcome.responseBody, 1024),
        },
      });
      if (!held) throw new LeaseLostError(`lease of ${row.id} was taken over`);
      if (await applyEndpointHealth(ctx, tx, row, verdict, outcome.status, direct)) alerted = true;
      if (verdict.status === 'dead') {
        alerted = true;
        await raiseAlert(
          ctx,
          tx,
          row,
          'delivery.dead',
          `Delivery ${row.id} (${describe(prepared, row)}) for order ${row.order_id} is dead after ${attempt} attempts: ${error}`,
          direct,
          endpoint,
        );
      }
      ctx.crash('before-ack');
    });
  } catch (e) {
    if (e instanceof LeaseLostError) {
      counts.leaseLost++;
      ctx.log.warn({ deliveryId: row.id, orderId: row.order_id }, 'delivery lease was taken over; the attempt is left to the new owner');
      return;
    }
    throw e;
  }
  ctx.publish(direct);
  ctx.metrics?.deliveryAttempt(row.type, verdict.outcome, outcome.durationMs);
  const fields = {
    deliveryId: row.id,
    orderId: row.order_id,
    type: row.type,
    attempt,
    outcome: verdict.outcome,
    ...(outcome.status !== undefined ? { status: outcome.status } : {}),
    durationMs: outcome.durationMs,
    ...(error !== null ? { error } : {}),
    ...(verdict.status === 'pending' ? { nextAttemptAt: verdict.nextAttemptAt } : {}),
  };
  switch (verdict.outcome) {
    case 'delivered':
      counts.delivered++;
      ctx.metrics?.deliveryLatency(now.getTime() - Date.parse(row.created_at));
      ctx.log.info(fields, 'delivered');
      break;
    case 'retry':
      counts.retried++;
      ctx.log.warn(fields, 'delivery attempt failed; retrying later');
      break;
    case 'failed':
      counts.failed++;
      ctx.log.warn(fields, 'delivery failed');
      break;
    case 'dead':
      counts.dead++;
      ctx.log.error(fields, 'delivery is dead');
      break;
  }
  if (alerted) ctx.wake();
}

/**
 * Claims due deliveries and sends them, at most `concurrency` at once and `perDestination` at
 * once to one destination; answers how many were claimed.
 */
export async function deliveriesRound(ctx: WorkerContext, automation: AutomationState, counts: WorkerCounts): Promise<number> {
  const o = claimOptions(ctx, automation);
  const rows = await ctx.store.transaction((tx) => queue.claimDue(tx, 'deliveries', o));
  if (rows.length === 0) return 0;
  counts.claimed += rows.length;
  ctx.crash('after-claim');
  const stopRenewing = renewWhileBusy(ctx, 'deliveries', o.token);
  try {
    await dispatch(
      rows,
      (row) => destinationOf(JSON.parse(row.action_json) as OutboxEntry['action']),
      ctx.concurrency,
      ctx.perDestination,
      async (row) => {
        if (ctx.stopping()) return queue.releaseClaim(ctx.store.db, 'deliveries', row.id, o.token);
        try {
          const a = await attemptDelivery(ctx, row, o.token, counts);
          if (a) await complete(ctx, a, counts);
        } catch (e) {
          if (e instanceof SimulatedCrashError) throw e;
          // The lease runs out and the row is tried again; nothing is lost.
          ctx.log.error({ deliveryId: row.id, orderId: row.order_id, err: e }, 'delivery processing failed');
        }
      },
    );
  } finally {
    stopRenewing();
  }
  return rows.length;
}
