import type { Definition } from '@orderflow/core';
import { createEmailSender, type MailboxMessage } from '../actions/email.js';
import { createTemplateRenderer, type TemplateRenderer } from '../actions/template.js';
import { createWebhookSender } from '../actions/webhook.js';
import type { Config } from '../config.js';
import type { Clock } from '../runtime/clock.js';
import type { RenderPool } from '../runtime/render-pool.js';
import type { Runtime } from '../runtime/runtime.js';
import { insertMailboxMessage } from '../store/mailbox.js';
import * as queue from '../store/queue.js';
import * as repo from '../store/repo.js';
import type { Store } from '../store/store.js';
import {
  SimulatedCrashError,
  type WorkerContext,
  type WorkerCounts,
  type WorkerCrashPoint,
  type WorkerLogger,
  type WorkerSenders,
  zeroCounts,
} from './context.js';
import { createDeliveryPipeline, type DeliveryPipeline } from './deliveries.js';
import type { Metrics } from './metrics.js';
import type { NotificationBus } from './notifications.js';
import { ensureWebhookSecret, getAutomation } from './settings.js';
import { timersRound } from './timers.js';

export {
  LeaseLostError,
  SimulatedCrashError,
  type WorkerCounts,
  type WorkerCrashPoint,
  type WorkerLogger,
  type WorkerSenders,
} from './context.js';
export { utf8Prefix } from './verdict.js';

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
  /** Deliveries sent at once, in all. @default 64 */
  concurrency?: number;
  /**
   * Deliveries sent at once to one destination (a named endpoint, a webhook URL's origin, the
   * mail server), so one slow receiver cannot hold every slot: by default it holds at most half.
   * @default config.destinationConcurrency
   */
  perDestination?: number;
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

const MAX_ROUNDS = 1000;
const noopLogger: WorkerLogger = { debug() {}, info() {}, warn() {}, error() {} };

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

/**
 * Creates the worker. It claims due deliveries and timers in batches with a lease
 * (`lease_until`) and a fresh fencing token (`lease_token`) per claim; every completion
 * matches the token, so a worker whose lease was taken over cannot complete the row.
 * All time comes from `clock` and is bound as a parameter. The rounds live in
 * `deliveries.ts` and `timers.ts`; this is the loop that runs them.
 */
export function createWorker(opts: WorkerOptions): Worker {
  const { store, runtime, clock, newId, config } = opts;
  const log = opts.logger ?? noopLogger;
  const batchSize = opts.batchSize ?? 32;
  const concurrency = Math.max(1, opts.concurrency ?? 64);
  const perDestination = Math.max(1, opts.perDestination ?? config.destinationConcurrency);
  const leaseMs = opts.leaseMs ?? 15_000;
  const pollMs = opts.pollMs ?? 500;
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

  const ctx: WorkerContext = {
    store,
    runtime,
    clock,
    newId,
    config,
    log,
    renderer: opts.renderer ?? createTemplateRenderer(),
    ...(opts.renderPool ? { renderPool: opts.renderPool } : {}),
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    batchSize,
    concurrency,
    perDestination,
    leaseMs,
    renewMs: opts.renewMs ?? Math.floor(leaseMs / 3),
    random: opts.random ?? Math.random,
    senders,
    webhookSecret,
    loadDefinition,
    crash(name) {
      if (!opts.crashPoint) return;
      try {
        opts.crashPoint(name);
      } catch (e) {
        throw new SimulatedCrashError(`simulated crash at ${name}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
    },
    publish(list) {
      for (const n of list) opts.notifications?.publish(n);
    },
    wake: () => wake(),
    stopping: () => stopping,
  };

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

  /**
   * One pass: rounds of due timers, then due deliveries, until nothing is due and every claimed
   * delivery is recorded. All rounds of a pass share one {@link createDeliveryPipeline}: claiming
   * hands deliveries to it without waiting for them to be sent. When a round finds nothing due but
   * sends are still in flight, the pass waits for the first of: the sends to end, a `wake()` (a
   * commit queued deliveries, an alert, `stop()`), and, when `follow` is set (the running worker),
   * the next due time of a timer or a delivery (or `pollMs`) — and then runs another round. So a
   * slow receiver holds up neither deliveries to others nor timers. `runOnce()` does not follow:
   * it looks again only once its sends are recorded, as a deterministic pass for tests and tools.
   */
  async function drain(follow: boolean): Promise<WorkerCounts> {
    const counts = zeroCounts();
    const pipeline = createDeliveryPipeline(ctx, counts, { retryAt: (at) => onRetry?.(at) });
    try {
      // After a failure (a simulated crash above all) the pass fires and claims nothing more.
      for (let round = 0; round < MAX_ROUNDS && !stopping && !pipeline.failed(); round++) {
        woken = false;
        await pruneIdempotency();
        const automation = await getAutomation(store.db);
        if (automation.paused) {
          counts.paused = true;
          break;
        }
        const timers = await timersRound(ctx, automation, counts);
        if (stopping) break;
        const deliveries = await pipeline.claim(automation);
        if (pipeline.failed()) break;
        // runOnce: a round ends once what it claimed is recorded, as a deterministic step.
        if (!follow) await untilWorkOrSettled(pipeline, false);
        if (timers > 0 || deliveries > 0) continue;
        if (!pipeline.busy()) break;
        await untilWorkOrSettled(pipeline, true);
        // Waiting is not spinning: the bound on rounds counts rounds that keep finding work.
        round = -1;
      }
    } catch (e) {
      pipeline.fail(e);
      await pipeline.finish().catch(() => undefined);
      throw e;
    }
    await pipeline.finish();
    return counts;
  }

  /** Set by `wake()` and `stop()`: the pass looks again at once instead of waiting. */
  let woken = false;
  /** Ends the wait of the pass, if it waits. */
  let nudge: (() => void) | null = null;
  /** Brings the end of the pass's wait forward to a retry's due time, if it waits. */
  let onRetry: ((at: string) => void) | null = null;
  function poke(): void {
    woken = true;
    nudge?.();
  }

  /**
   * Waits while sends are in flight, until they are recorded or `stop()`; when `follow`ing, also
   * until a `wake()` or the next due time. See {@link drain}.
   */
  async function untilWorkOrSettled(pipeline: DeliveryPipeline, follow: boolean): Promise<void> {
    const ms = follow ? await untilNextFutureDue().catch(() => pollMs) : null;
    if ((follow && woken) || stopping) return;
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      let deadline = Number.POSITIVE_INFINITY;
      let cancel = (): unknown => undefined;
      const end = (): void => {
        if (timer) clearTimeout(timer);
        cancel();
        nudge = null;
        onRetry = null;
        resolve();
      };
      const until = (at: number): void => {
        if (at >= deadline) return;
        deadline = at;
        if (timer) clearTimeout(timer);
        timer = setTimeout(end, Math.max(0, at - clock.now().getTime()));
      };
      nudge = () => {
        if (follow || stopping) end();
      };
      if (ms !== null) {
        until(clock.now().getTime() + ms);
        onRetry = (at) => until(Date.parse(at));
      }
      cancel = pipeline.onSettled(end);
    });
  }

  /**
   * How long until the next pending delivery or timer falls due, capped at the poll interval.
   * Rows already due are left out: while sends are in flight they are this worker's own claims,
   * another worker's, held back by a pause, or waiting for room, which the sends free.
   */
  async function untilNextFutureDue(): Promise<number> {
    const next = await queue.nextDueTimes(store.db);
    const now = clock.now().getTime();
    let wait = pollMs;
    for (const at of [next.delivery, next.timer]) {
      if (at === null) continue;
      const ms = Date.parse(at) - now;
      if (ms > 0) wait = Math.min(wait, ms);
    }
    return wait;
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
      paused = (await exclusive(() => drain(true))).paused;
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
      // A pass is under way: it looks again now if it waits for sends in flight, and once more after it ends.
      wakeAgain = true;
      poke();
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
    poke();
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
      log.info({ pollMs, batchSize, concurrency, perDestination, leaseMs }, 'worker started');
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
      return exclusive(() => drain(false));
    },
    wake,
    get running() {
      return running;
    },
  };
}
