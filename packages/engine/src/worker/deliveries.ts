import type { OutboxEntry } from '@orderflow/core';
import type { Kysely } from 'kysely';
import type { ActionOutcome } from '../actions/outcome.js';
import { hasNotificationOfDelivery } from '../store/notifications.js';
import type { DeliveryRow } from '../store/queue.js';
import * as queue from '../store/queue.js';
import type { DB } from '../store/schema.js';
import { raiseAlert } from './alerts.js';
import { claimOptions, LeaseLostError, renewWhileBusy, SimulatedCrashError, type WorkerContext, type WorkerCounts } from './context.js';
import { applyEndpointHealth } from './endpoint-health.js';
import { alertFoldKey, insertNotification, type Notification, raiseFolded } from './notifications.js';
import { type PrepareContext, type PreparedDelivery, prepareDelivery } from './prepare.js';
import type { AutomationState } from './settings.js';
import { type DeliveryVerdict, deliveryVerdict, endpointOf, utf8Prefix } from './verdict.js';

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
export interface Attempt {
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

/** What recording one attempt wrote, for the work after the commit. */
interface Recorded {
  attempt: Attempt;
  /** False when the lease was taken over: nothing was written for this attempt. */
  held: boolean;
  verdict: DeliveryVerdict;
  /** Notifications stored directly, published after the commit. */
  direct: Notification[];
  alerted: boolean;
  at: Date;
}

/** Writes one attempt inside `tx`: the delivery's new status, the attempt row, the endpoint's health and alerts. */
async function recordAttempt(ctx: WorkerContext, tx: Kysely<DB>, a: Attempt): Promise<Recorded> {
  const { row, token, attempt, startedAt, prepared, outcome } = a;
  const now = ctx.clock.now();
  const endpoint = endpointOf(prepared);
  const verdict = deliveryVerdict({
    outcome,
    attempt,
    endpoint,
    nextAttemptAt: row.next_attempt_at,
    now,
    retry: { baseMs: ctx.config.retryBaseMs, maxAttempts: ctx.config.retryMaxAttempts, random: ctx.random },
  });
  const direct: Notification[] = [];
  const held = await queue.completeDelivery(tx, {
    id: row.id,
    token,
    status: verdict.status,
    attempt,
    nextAttemptAt: verdict.nextAttemptAt,
    error: verdict.error,
    at: now.toISOString(),
    attemptRow: {
      id: ctx.newId('att'),
      startedAt: startedAt.toISOString(),
      durationMs: Math.max(0, Math.round(outcome.durationMs)),
      outcome: verdict.outcome,
      statusCode: outcome.status ?? null,
      responseBody: outcome.responseBody === undefined ? null : utf8Prefix(outcome.responseBody, 1024),
    },
  });
  if (!held) return { attempt: a, held, verdict, direct, alerted: false, at: now };
  let alerted = await applyEndpointHealth(ctx, tx, row, verdict, outcome.status, direct);
  if (verdict.status === 'dead') {
    alerted = true;
    await raiseAlert(
      ctx,
      tx,
      row,
      'delivery.dead',
      `Delivery ${row.id} (${describe(prepared, row)}) for order ${row.order_id} is dead after ${attempt} attempts: ${verdict.error}`,
      direct,
      endpoint,
    );
  }
  return { attempt: a, held, verdict, direct, alerted, at: now };
}

/** After the commit: counts, metrics, the log line, notifications. */
function afterCommit(ctx: WorkerContext, r: Recorded, counts: WorkerCounts): void {
  const { row, attempt, outcome } = r.attempt;
  if (!r.held) {
    counts.leaseLost++;
    ctx.log.warn({ deliveryId: row.id, orderId: row.order_id }, 'delivery lease was taken over; the attempt is left to the new owner');
    return;
  }
  const { verdict } = r;
  ctx.publish(r.direct);
  ctx.metrics?.deliveryAttempt(row.type, verdict.outcome, outcome.durationMs);
  const fields = {
    deliveryId: row.id,
    orderId: row.order_id,
    type: row.type,
    attempt,
    outcome: verdict.outcome,
    ...(outcome.status !== undefined ? { status: outcome.status } : {}),
    durationMs: outcome.durationMs,
    ...(verdict.error !== null ? { error: verdict.error } : {}),
    ...(verdict.status === 'pending' ? { nextAttemptAt: verdict.nextAttemptAt } : {}),
  };
  switch (verdict.outcome) {
    case 'delivered':
      counts.delivered++;
      ctx.metrics?.deliveryLatency(r.at.getTime() - Date.parse(row.created_at));
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
  if (r.alerted) ctx.wake();
}

/**
 * Records finished attempts in batches: attempts that finish while a batch is being written
 * wait and share the next transaction, so one commit acknowledges many deliveries. A delivery
 * is acknowledged only by that commit; a crash before it leaves the row leased and it is sent
 * again after the lease (at least once). If a batch fails, its attempts are written one by one,
 * so one attempt that cannot be written does not hold back the others.
 */
export function createCompleter(ctx: WorkerContext, counts: WorkerCounts): (a: Attempt) => Promise<void> {
  type Item = { a: Attempt; resolve: () => void; reject: (e: unknown) => void };
  let waiting: Item[] = [];
  let writing = false;

  const write = async (items: Item[]): Promise<void> => {
    const recorded = await ctx.store.transaction(async (tx) => {
      const out: Recorded[] = [];
      for (const item of items) out.push(await recordAttempt(ctx, tx, item.a));
      ctx.crash('before-ack');
      return out;
    });
    for (const r of recorded) afterCommit(ctx, r, counts);
  };

  const flush = async (items: Item[]): Promise<void> => {
    try {
      await write(items);
      for (const item of items) item.resolve();
    } catch (e) {
      if (items.length === 1 || e instanceof SimulatedCrashError) {
        for (const item of items) item.reject(e);
        return;
      }
      for (const item of items) {
        await write([item]).then(item.resolve, item.reject);
      }
    }
  };

  const kick = (): void => {
    if (writing || waiting.length === 0) return;
    writing = true;
    // setImmediate: attempts that finished in this turn of the event loop join the batch.
    setImmediate(() => {
      const items = waiting;
      waiting = [];
      void flush(items).finally(() => {
        writing = false;
        kick();
      });
    });
  };

  return (a) =>
    new Promise<void>((resolve, reject) => {
      waiting.push({ a, resolve, reject });
      kick();
    });
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
  const complete = createCompleter(ctx, counts);
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
          if (a) await complete(a);
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
