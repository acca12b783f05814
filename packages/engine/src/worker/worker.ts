import { type Definition, nextAttemptDelayMs, type OutboxEntry, type Timer } from '@orderflow/core';
import type { Kysely } from 'kysely';
import { createEmailSender, type EmailSender, type MailboxMessage } from '../actions/email.js';
import type { ActionOutcome } from '../actions/outcome.js';
import { createTemplateRenderer, type TemplateRenderer } from '../actions/template.js';
import { createWebhookSender, type WebhookSender } from '../actions/webhook.js';
import type { Config } from '../config.js';
import { ApiError } from '../errors.js';
import type { Clock } from '../runtime/clock.js';
import type { RenderPool } from '../runtime/render-pool.js';
import type { Runtime } from '../runtime/runtime.js';
import * as endpoints from '../store/endpoints.js';
import { insertMailboxMessage } from '../store/mailbox.js';
import { hasNotificationOfDelivery } from '../store/notifications.js';
import type { DeliveryRow, TimerRow } from '../store/queue.js';
import * as queue from '../store/queue.js';
import * as repo from '../store/repo.js';
import type { DB } from '../store/schema.js';
import type { Store } from '../store/store.js';
import type { Metrics } from './metrics.js';
import { alertFoldKey, insertNotification, liquidLiteral, type Notification, type NotificationBus, raiseFolded } from './notifications.js';
import { type PrepareContext, type PreparedDelivery, prepareDelivery } from './prepare.js';
import { type AutomationState, ensureWebhookSecret, getAutomation } from './settings.js';

/** Named points where a test can simulate a crash (the hook throws). Never set in production. */
export type WorkerCrashPoint = 'after-claim' | 'after-send' | 'before-ack';

/** The structured logger the worker writes to (pino's Logger fits). */
export interface WorkerLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** The senders the worker delivers through. */
export interface WorkerSenders {
  email: EmailSender;
  webhook: WebhookSender;
}

/** Options of {@link createWorker}. */
export interface WorkerOptions {
  store: Store;
  runtime: Runtime;
  clock: Clock;
  newId: (prefix: string) => string;
  config: Readonly<Config>;
  /** Senders to use; missing ones are created from `config` (and closed by `close()`). */
  senders?: Partial<WorkerSenders>;
  renderer?: TemplateRenderer;
  /** Render threads for delivery templates (rendering stays in this thread without them). */
  renderPool?: RenderPool;
  notifications?: NotificationBus;
  metrics?: Metrics;
  logger?: WorkerLogger;
  /** Rows claimed per batch. @default 32 */
  batchSize?: number;
  /** Deliveries sent at once. @default 8 */
  concurrency?: number;
  /**
   * How long a claim is held before another worker may take the row over. A live worker
   * renews its claims every third of this while it works on them, so this is the time a
   * crashed worker's claims stay blocked. @default 15_000
   */
  leaseMs?: number;
  /** How often claims being worked on are renewed; 0 never renews. @default leaseMs / 3 */
  renewMs?: number;
  /** Polling interval when nothing wakes the worker. @default 500 */
  pollMs?: number;
  /** Jitter source of the retry schedule. @default Math.random */
  random?: () => number;
  /** Test-only crash points: the hook throws to simulate a crash there. */
  crashPoint?: (name: WorkerCrashPoint) => void;
}

/** What one `runOnce()` did. */
export interface WorkerCounts {
  /** Deliveries claimed. */
  claimed: number;
  delivered: number;
  /** Failed attempts scheduled for another try. */
  retried: number;
  /** Failed for good (not retryable); retryable by hand. */
  failed: number;
  dead: number;
  timersFired: number;
  /** Timers that fired but changed nothing (the order had moved on). */
  timersSkipped: number;
  timersFailed: number;
  /** Rows whose lease another worker had taken over; nothing was recorded for them. */
  leaseLost: number;
  /** Automation is paused globally; nothing was claimed. */
  paused: boolean;
}

/** The worker: delivers the outbox and fires timers. */
export interface Worker {
  /** Starts polling (and waking on commits). */
  start(): void;
  /** Stops claiming, waits for in-flight work and releases unstarted claims. */
  stop(): Promise<void>;
  /** Stops and closes the senders the worker created itself. */
  close(): Promise<void>;
  /** Claims and processes everything due now (repeatedly, until nothing is due); for tests and tools. */
  runOnce(): Promise<WorkerCounts>;
  /** Asks the running worker to look for work now. */
  wake(): void;
  readonly running: boolean;
}

/** A lease was taken over by another worker: this one may not complete the row. */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
}

/** Raised when a test crash hook fires; propagates out of `runOnce()` like a dying process. */
export class SimulatedCrashError extends Error {
  override readonly name = 'SimulatedCrashError';
}

const MAX_ROUNDS = 1000;
const ERROR_LIMIT = 2000;
const noopLogger: WorkerLogger = { debug() {}, info() {}, warn() {}, error() {} };

const zeroCounts = (): WorkerCounts => ({
  claimed: 0,
  delivered: 0,
  retried: 0,
  failed: 0,
  dead: 0,
  timersFired: 0,
  timersSkipped: 0,
  timersFailed: 0,
  leaseLost: 0,
  paused: false,
});

/** The first `bytes` bytes of a UTF-8 string. */
export function utf8Prefix(s: string, bytes = 1024): string {
  const buf = Buffer.from(s, 'utf8');
  return buf.length <= bytes ? s : buf.subarray(0, bytes).toString('utf8');
}

/** Creates the email (SMTP or built-in mailbox) and webhook senders from configuration. */
export function createWorkerSenders(opts: {
  store: Store;
  clock: Clock;
  newId: (p: string) => string;
  config: Readonly<Config>;
}): WorkerSenders {
  const { store, clock, newId, config } = opts;
  const mailbox = (m: MailboxMessage) =>
    insertMailboxMessage(store.db, {
      id: newId('msg'),
      deliveryId: m.deliveryId,
      to: m.to,
      cc: m.cc,
      subject: m.subject,
      html: m.html,
      text: m.text,
      messageId: m.messageId,
      createdAt: clock.now().toISOString(),
    });
  return {
    email: createEmailSender({ ...(config.smtpUrl ? { smtpUrl: config.smtpUrl } : {}), from: config.mailFrom, mailbox }),
    webhook: createWebhookSender({ allowHosts: config.webhookAllowHosts, now: () => clock.now().getTime() }),
  };
}

/** Runs `fn` over `items` with at most `limit` at once; the first error stops starting new ones and is rethrown. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>, onSkip: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | null = null;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      if (failure) {
        await onSkip(item);
        continue;
      }
      try {
        await fn(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failure) throw (failure as { error: unknown }).error;
}

/**
 * Creates the worker. It claims due deliveries and timers in batches with a lease
 * (`lease_until`) and a fresh fencing token (`lease_token`) per claim; every completion
 * matches the token, so a worker whose lease was taken over cannot complete the row.
 * All time comes from `clock` and is bound as a parameter.
 */
export function createWorker(opts: WorkerOptions): Worker {
  const { store, runtime, clock, newId, config } = opts;
  const log = opts.logger ?? noopLogger;
  const renderer = opts.renderer ?? createTemplateRenderer();
  const batchSize = opts.batchSize ?? 32;
  const concurrency = Math.max(1, opts.concurrency ?? 8);
  const leaseMs = opts.leaseMs ?? 15_000;
  const pollMs = opts.pollMs ?? 500;
  const random = opts.random ?? Math.random;
  let owned: WorkerSenders | null = null;
  const senders = (): WorkerSenders => {
    const given = opts.senders ?? {};
    if (given.email && given.webhook) return given as WorkerSenders;
    owned ??= createWorkerSenders({ store, clock, newId, config });
    return { email: given.email ?? owned.email, webhook: given.webhook ?? owned.webhook };
  };

  let secret: Promise<string> | null = null;
  const webhookSecret = (): Promise<string> => {
    secret ??= ensureWebhookSecret(store.db, config.webhookSecret).then(
      (s) => {
        if (s.generated)
          log.info({ setting: 'webhook_secret' }, 'generated a webhook signing secret; set ORDERFLOW_WEBHOOK_SECRET to use your own');
        return s.secret;
      },
      (e: unknown) => {
        secret = null;
        throw e;
      },
    );
    return secret;
  };

  const loadDefinition = async (workflow: string, version: number): Promise<Definition | undefined> => {
    try {
      return await runtime.loadVersion(workflow, version);
    } catch {
      return undefined;
    }
  };

  function crash(name: WorkerCrashPoint): void {
    if (!opts.crashPoint) return;
    try {
      opts.crashPoint(name);
    } catch (e) {
      throw new SimulatedCrashError(`simulated crash at ${name}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }

  function flushNotifications(list: Notification[]): void {
    for (const n of list) opts.notifications?.publish(n);
  }

  // ---------- claiming ----------

  /** What a claim writes: a lease from now and a fresh fencing token. */
  function claimOptions(automation: AutomationState) {
    const now = clock.now();
    const token = newId('lse');
    const o = {
      now: now.toISOString(),
      leaseUntil: new Date(now.getTime() + leaseMs).toISOString(),
      token,
      limit: batchSize,
      automation,
      rowLocks: store.capabilities.rowLocks,
    };
    return o;
  }

  async function claimDeliveries(automation: AutomationState): Promise<{ rows: DeliveryRow[]; token: string }> {
    const o = claimOptions(automation);
    return { rows: await store.transaction((tx) => queue.claimDue(tx, 'deliveries', o)), token: o.token };
  }
  async function claimTimers(automation: AutomationState): Promise<{ rows: TimerRow[]; token: string }> {
    const o = claimOptions(automation);
    return { rows: await store.transaction((tx) => queue.claimDue(tx, 'timers', o)), token: o.token };
  }

  /** Keeps the claims of `token` alive while they are worked on; returns the stop function. */
  function renewWhileBusy(table: 'deliveries' | 'timers', token: string): () => void {
    const every = opts.renewMs ?? Math.floor(leaseMs / 3);
    if (every <= 0) return () => undefined;
    const timer = setInterval(
      () => {
        const until = new Date(clock.now().getTime() + leaseMs).toISOString();
        void queue.renewLeases(store.db, table, token, until).catch((e: unknown) => log.warn({ err: e, table }, 'could not renew leases'));
      },
      Math.max(50, every),
    );
    return () => clearInterval(timer);
  }

  const releaseDelivery = (id: string, token: string) => queue.releaseClaim(store.db, 'deliveries', id, token);
  const releaseTimer = (id: string, token: string) => queue.releaseClaim(store.db, 'timers', id, token);

  // ---------- deliveries ----------

  /**
   * Raises a critical admin alert: through the outbox (so it is durable and emails admins), or
   * directly for notify rows. Repeats for one endpoint or rule fold into one open notification.
   */
  async function alert(
    tx: Kysely<DB>,
    row: DeliveryRow,
    type: string,
    message: string,
    direct: Notification[],
    endpoint: string | null = null,
  ): Promise<void> {
    const now = clock.now().toISOString();
    const order = (JSON.parse(row.envelope_json) as OutboxEntry['envelope']).data.order;
    const envelope = {
      id: newId('evt'),
      type,
      createdAt: now,
      data: { order, ...(row.rule_id ? { rule: row.rule_id } : {}), ...(endpoint ? { endpoint } : {}) },
    } as OutboxEntry['envelope'];
    if (row.type === 'notify') {
      // A failing notification must not raise another delivery that could fail the same way.
      const n = {
        id: newId('ntf'),
        channel: 'admins',
        severity: 'critical' as const,
        message,
        orderId: row.order_id,
        deliveryId: row.id,
        createdAt: now,
      };
      const key = alertFoldKey(envelope);
      direct.push(key ? (await raiseFolded(tx, n, key)).notification : await insertNotification(tx, n));
      return;
    }
    await repo.insertDeliveries(tx, [
      {
        id: newId('dlv'),
        orderId: row.order_id,
        workflow: row.workflow,
        type: 'notify',
        ruleId: null,
        action: { type: 'notify', channel: 'admins', severity: 'critical', message: liquidLiteral(message) },
        envelope,
        createdAt: now,
      },
    ]);
  }

  async function disableEndpoint(tx: Kysely<DB>, row: DeliveryRow, key: string, reason: string, direct: Notification[]): Promise<void> {
    const now = clock.now().toISOString();
    if (await endpoints.disableEndpoint(tx, key, reason, now)) {
      log.error({ endpoint: key, deliveryId: row.id, orderId: row.order_id, reason }, 'webhook endpoint disabled');
      await alert(
        tx,
        row,
        'endpoint.disabled',
        `Webhook endpoint "${key}" was disabled: ${reason}. Its deliveries fail until it is enabled again.`,
        direct,
        key,
      );
    }
  }

  async function storeNotification(
    row: DeliveryRow,
    token: string,
    p: Extract<PreparedDelivery, { type: 'notify' }>,
  ): Promise<{ stored: Notification | null; folded: boolean }> {
    return store.transaction(async (tx) => {
      if (!(await queue.holdsDelivery(tx, row.id, token))) throw new LeaseLostError(`lease of ${row.id} was taken over`);
      // A retry (the admin email failed) must not store the notification twice.
      if (await hasNotificationOfDelivery(tx, row.id)) return { stored: null, folded: false };
      const n = {
        id: newId('ntf'),
        channel: p.channel,
        severity: p.severity,
        message: p.message,
        orderId: row.order_id,
        deliveryId: row.id,
        createdAt: clock.now().toISOString(),
      };
      const key = alertFoldKey(JSON.parse(row.envelope_json) as OutboxEntry['envelope']);
      if (key) {
        const r = await raiseFolded(tx, n, key);
        return { stored: r.notification, folded: r.folded };
      }
      return { stored: await insertNotification(tx, n), folded: false };
    });
  }

  async function send(row: DeliveryRow, token: string, p: PreparedDelivery): Promise<ActionOutcome> {
    switch (p.type) {
      case 'invalid':
        return { ok: false, retryable: false, error: p.error, durationMs: 0 };
      case 'email':
        return senders().email.send(p.message);
      case 'webhook':
        return senders().webhook.send(p.request);
      case 'notify': {
        const { stored, folded } = await storeNotification(row, token, p);
        if (stored) flushNotifications([stored]);
        // A repeat of an open alert only counts; the admins were emailed the first time.
        if (!p.email || folded) return { ok: true, durationMs: 0 };
        return senders().email.send(p.email);
      }
    }
  }

  async function processDelivery(row: DeliveryRow, token: string, counts: WorkerCounts): Promise<void> {
    const attempt = Number(row.attempts) + 1;
    const startedAt = clock.now();
    const ctx: PrepareContext = {
      db: store.db,
      renderer,
      ...(opts.renderPool ? { renderPool: opts.renderPool } : {}),
      adminEmails: config.adminEmails,
      loadDefinition,
      webhookSecret,
      now: startedAt,
    };
    let prepared: PreparedDelivery;
    let outcome: ActionOutcome;
    try {
      prepared = await prepareDelivery(ctx, {
        id: row.id,
        action: JSON.parse(row.action_json) as OutboxEntry['action'],
        envelope: JSON.parse(row.envelope_json) as OutboxEntry['envelope'],
      });
      outcome = await send(row, token, prepared);
    } catch (e) {
      if (e instanceof LeaseLostError) {
        counts.leaseLost++;
        log.warn({ deliveryId: row.id, orderId: row.order_id }, 'delivery lease was taken over; leaving it to the new owner');
        return;
      }
      // Infrastructure trouble (database, renderer crash): try again later.
      prepared = { type: 'invalid', error: String(e) };
      outcome = { ok: false, retryable: true, error: `internal error: ${e instanceof Error ? e.message : String(e)}`, durationMs: 0 };
    }
    crash('after-send');
    await complete(row, token, attempt, startedAt, prepared, outcome, counts);
  }

  async function complete(
    row: DeliveryRow,
    token: string,
    attempt: number,
    startedAt: Date,
    prepared: PreparedDelivery,
    outcome: ActionOutcome,
    counts: WorkerCounts,
  ): Promise<void> {
    const now = clock.now();
    const nowIso = now.toISOString();
    let status: 'delivered' | 'pending' | 'failed' | 'dead';
    let label: 'delivered' | 'retry' | 'failed' | 'dead';
    let nextAt = row.next_attempt_at;
    if (outcome.ok) {
      status = 'delivered';
      label = 'delivered';
    } else if (outcome.retryable) {
      const delay = nextAttemptDelayMs(attempt, {
        baseMs: config.retryBaseMs,
        maxAttempts: config.retryMaxAttempts,
        random,
        ...(outcome.retryAfterMs !== undefined ? { retryAfterMs: outcome.retryAfterMs } : {}),
      });
      if (delay === null) {
        status = 'dead';
        label = 'dead';
      } else {
        status = 'pending';
        label = 'retry';
        nextAt = new Date(now.getTime() + delay).toISOString();
      }
    } else {
      status = 'failed';
      label = 'failed';
    }
    const error = outcome.ok ? null : outcome.error.slice(0, ERROR_LIMIT);
    const endpoint =
      prepared.type === 'webhook'
        ? prepared.endpoint
        : prepared.type === 'invalid' && !prepared.endpointDisabled
          ? (prepared.endpoint ?? null)
          : null;
    const direct: Notification[] = [];
    let alerted = false;
    try {
      await store.transaction(async (tx) => {
        const held = await queue.completeDelivery(tx, {
          id: row.id,
          token,
          status,
          attempt,
          nextAttemptAt: nextAt,
          error,
          at: nowIso,
          attemptRow: {
            id: newId('att'),
            startedAt: startedAt.toISOString(),
            durationMs: Math.max(0, Math.round(outcome.durationMs)),
            outcome: label,
            statusCode: outcome.status ?? null,
            responseBody: outcome.responseBody === undefined ? null : utf8Prefix(outcome.responseBody, 1024),
          },
        });
        if (!held) throw new LeaseLostError(`lease of ${row.id} was taken over`);
        if (endpoint !== null) {
          if (outcome.ok) {
            await endpoints.resetEndpointFailures(tx, endpoint);
          } else if (outcome.disableEndpoint) {
            alerted = true;
            await disableEndpoint(tx, row, endpoint, `it answered ${outcome.status ?? 410} Gone`, direct);
          } else if (status === 'failed' || status === 'dead') {
            const ep = await endpoints.countEndpointFailure(tx, endpoint);
            const n = ep?.consecutiveFailures ?? 0;
            if (ep?.enabled && n >= config.endpointFailureLimit) {
              alerted = true;
              await disableEndpoint(tx, row, endpoint, `${n} deliveries in a row failed (last: ${error})`, direct);
            }
          }
        }
        if (status === 'dead') {
          alerted = true;
          const what = describe(prepared, row);
          await alert(
            tx,
            row,
            'delivery.dead',
            `Delivery ${row.id} (${what}) for order ${row.order_id} is dead after ${attempt} attempts: ${error}`,
            direct,
            endpoint,
          );
        }
        crash('before-ack');
      });
    } catch (e) {
      if (e instanceof LeaseLostError) {
        counts.leaseLost++;
        log.warn({ deliveryId: row.id, orderId: row.order_id }, 'delivery lease was taken over; the attempt is left to the new owner');
        return;
      }
      throw e;
    }
    flushNotifications(direct);
    opts.metrics?.deliveryAttempt(row.type, label, outcome.durationMs);
    const fields = {
      deliveryId: row.id,
      orderId: row.order_id,
      type: row.type,
      attempt,
      outcome: label,
      ...(outcome.status !== undefined ? { status: outcome.status } : {}),
      durationMs: outcome.durationMs,
      ...(error !== null ? { error } : {}),
      ...(status === 'pending' ? { nextAttemptAt: nextAt } : {}),
    };
    switch (label) {
      case 'delivered':
        counts.delivered++;
        opts.metrics?.deliveryLatency(now.getTime() - Date.parse(row.created_at));
        log.info(fields, 'delivered');
        break;
      case 'retry':
        counts.retried++;
        log.warn(fields, 'delivery attempt failed; retrying later');
        break;
      case 'failed':
        counts.failed++;
        log.warn(fields, 'delivery failed');
        break;
      case 'dead':
        counts.dead++;
        log.error(fields, 'delivery is dead');
        break;
    }
    if (alerted) wake();
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

  async function deliveriesRound(automation: AutomationState, counts: WorkerCounts): Promise<number> {
    const { rows, token } = await claimDeliveries(automation);
    if (rows.length === 0) return 0;
    counts.claimed += rows.length;
    crash('after-claim');
    const stopRenewing = renewWhileBusy('deliveries', token);
    try {
      await pool(
        rows,
        concurrency,
        async (row) => {
          if (stopping) return releaseDelivery(row.id, token);
          try {
            await processDelivery(row, token, counts);
          } catch (e) {
            if (e instanceof SimulatedCrashError) throw e;
            // The lease runs out and the row is tried again; nothing is lost.
            log.error({ deliveryId: row.id, orderId: row.order_id, err: e }, 'delivery processing failed');
          }
        },
        async () => undefined,
      );
    } finally {
      stopRenewing();
    }
    return rows.length;
  }

  // ---------- timers ----------

  async function fireTimer(row: TimerRow, token: string, counts: WorkerCounts): Promise<void> {
    const { status: _status, ...timer } = repo.rowToTimer(row);
    const firedAt = clock.now();
    const markFired = async (tx: Kysely<DB>, status: 'fired' | 'failed') => {
      if (!(await queue.completeTimer(tx, row.id, token, status, firedAt.toISOString())))
        throw new LeaseLostError(`lease of timer ${row.id} was taken over`);
    };
    const fields = { timerId: row.id, orderId: row.order_id, kind: row.kind, dueAt: row.due_at };
    const lagMs = firedAt.getTime() - Date.parse(row.due_at);
    try {
      const r = await runtime.applyCommand({
        orderId: row.order_id,
        command: { type: 'timer', timer: timer as Timer },
        alsoInTransaction: (tx) => markFired(tx, 'fired'),
      });
      const noop = r.decision?.noop === true;
      if (noop) counts.timersSkipped++;
      else counts.timersFired++;
      opts.metrics?.timerFired(noop ? 'skipped' : 'fired', lagMs);
      log.info({ ...fields, lagMs, noop }, noop ? 'timer fired; the order had moved on' : 'timer fired');
    } catch (e) {
      if (e instanceof LeaseLostError) {
        counts.leaseLost++;
        log.warn(fields, 'timer lease was taken over; leaving it to the new owner');
        return;
      }
      if (e instanceof ApiError && e.code === 'not_found') {
        counts.timersFailed++;
        log.error({ ...fields, err: e.message }, 'timer cannot fire');
        await store.transaction((tx) => markFired(tx, 'failed')).catch(() => undefined);
        return;
      }
      if (e instanceof ApiError && e.code === 'version_conflict') {
        // Someone changed the order meanwhile: release and fire against the new version.
        await releaseTimer(row.id, token);
        return;
      }
      throw e;
    }
  }

  async function timersRound(automation: AutomationState, counts: WorkerCounts): Promise<number> {
    const { rows, token } = await claimTimers(automation);
    if (rows.length === 0) return 0;
    crash('after-claim');
    const stopRenewing = renewWhileBusy('timers', token);
    try {
      for (const row of rows) {
        if (stopping) {
          await releaseTimer(row.id, token);
          continue;
        }
        try {
          await fireTimer(row, token, counts);
        } catch (e) {
          if (e instanceof SimulatedCrashError) throw e;
          log.error({ timerId: row.id, orderId: row.order_id, err: e }, 'timer failed; it is tried again when its lease ends');
          // Let it go to another round only after the lease: a timer that keeps failing must not spin.
        }
      }
    } finally {
      stopRenewing();
    }
    return rows.length;
  }

  // ---------- loop ----------

  /** Forgets expired Idempotency-Keys, at most once a minute. */
  let prunedAt = Number.NEGATIVE_INFINITY;
  async function pruneIdempotency(): Promise<void> {
    const now = clock.now().getTime();
    if (now - prunedAt < 60_000) return;
    prunedAt = now;
    try {
      const n = await repo.pruneIdempotency(store.db, new Date(now - config.idempotencyTtlMs).toISOString());
      if (n > 0) log.debug({ pruned: n }, 'expired idempotency keys pruned');
    } catch (e) {
      log.warn({ err: e }, 'could not prune idempotency keys');
    }
  }

  async function drain(): Promise<WorkerCounts> {
    const counts = zeroCounts();
    await pruneIdempotency();
    for (let round = 0; round < MAX_ROUNDS && !stopping; round++) {
      const automation = await getAutomation(store.db);
      if (automation.paused) {
        counts.paused = true;
        break;
      }
      const timers = await timersRound(automation, counts);
      if (stopping) break;
      const deliveries = await deliveriesRound(automation, counts);
      if (timers === 0 && deliveries === 0) break;
    }
    return counts;
  }

  let chain: Promise<unknown> = Promise.resolve();
  let busy = 0;
  function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    busy++;
    const p = chain.then(fn, fn).finally(() => {
      busy--;
    });
    chain = p.catch(() => undefined);
    return p;
  }

  let running = false;
  let stopping = false;
  let timer: NodeJS.Timeout | null = null;
  let wakeAgain = false;
  let unsubscribe: (() => Promise<void> | void)[] = [];

  function schedule(ms: number): void {
    if (!running) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      void tick();
    }, ms);
  }

  async function tick(): Promise<void> {
    if (!running) return;
    wakeAgain = false;
    let paused = false;
    try {
      paused = (await exclusive(drain)).paused;
    } catch (e) {
      if (e instanceof SimulatedCrashError) {
        // Like a dead process: no more work, leases left to expire.
        running = false;
        log.error({ err: e.message }, 'worker crashed (simulated)');
        return;
      }
      log.error({ err: e }, 'worker pass failed');
    }
    schedule(wakeAgain ? 0 : paused ? pollMs : await untilNextDue().catch(() => pollMs));
  }

  /** How long until the next pending delivery or timer falls due, capped at the poll interval. */
  async function untilNextDue(): Promise<number> {
    const next = await queue.nextDueTimes(store.db);
    const now = clock.now().getTime();
    let wait = pollMs;
    for (const at of [next.delivery, next.timer]) {
      if (at !== null) wait = Math.min(wait, Math.max(0, Date.parse(at) - now));
    }
    // Rows due now that the pass left alone are held (a paused rule, another worker's lease): look again soon, not at once.
    return wait === 0 ? Math.min(pollMs, 100) : wait;
  }

  function wake(): void {
    if (!running || stopping) return;
    if (busy > 0) {
      wakeAgain = true;
      return;
    }
    schedule(0);
  }

  // New timers are never due at once; the next pass looks at their due times anyway.
  const onCommitted = (e: { deliveries?: number }) => {
    if ((e.deliveries ?? 0) > 0) wake();
  };

  async function stop(): Promise<void> {
    const wasRunning = running;
    running = false;
    stopping = true;
    if (timer) clearTimeout(timer);
    timer = null;
    for (const off of unsubscribe) await off();
    unsubscribe = [];
    await chain;
    stopping = false;
    if (wasRunning) log.info({}, 'worker stopped');
  }

  return {
    start() {
      if (running) return;
      running = true;
      stopping = false;
      runtime.events.on('committed', onCommitted);
      unsubscribe = [() => void runtime.events.off('committed', onCommitted)];
      if (store.onWake) {
        store.onWake(wake).then(
          (off) => {
            if (running) unsubscribe.push(off);
            else void off();
          },
          (e: unknown) => log.warn({ err: e }, 'cannot listen for wake-ups; polling only'),
        );
      }
      void webhookSecret().catch((e: unknown) => log.error({ err: e }, 'cannot read or store the webhook secret'));
      log.info({ pollMs, batchSize, concurrency, leaseMs }, 'worker started');
      schedule(0);
    },
    stop,
    async close() {
      await stop();
      if (owned) {
        owned.email.close();
        await owned.webhook.close();
        owned = null;
      }
    },
    runOnce() {
      return exclusive(drain);
    },
    wake,
    get running() {
      return running;
    },
  };
}
