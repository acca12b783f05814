import { pino } from 'pino';
import { createTemplateRenderer, type TemplateRenderer } from './actions/template.js';
import type { Config } from './config.js';
import { type Clock, systemClock } from './runtime/clock.js';
import { createIdGenerator } from './runtime/ids.js';
import { createRenderPool, type RenderPool } from './runtime/render-pool.js';
import { createRuntime, type Runtime, type RuntimeOptions } from './runtime/runtime.js';
import { openStore } from './store/open.js';
import type { Store } from './store/store.js';
import { createMetrics, type Metrics } from './worker/metrics.js';
import { createNotificationBus, type NotificationBus } from './worker/notifications.js';
import { createWorker, createWorkerSenders, type Worker, type WorkerOptions, type WorkerSenders } from './worker/worker.js';

/** Store, runtime and worker of one process, built from one configuration. */
export interface Engine {
  config: Readonly<Config>;
  store: Store;
  runtime: Runtime;
  clock: Clock;
  newId: (prefix: string) => string;
  renderer: TemplateRenderer;
  /** Render threads; undefined when the compiled worker script is missing (rendering then stays in-thread). */
  renderPool?: RenderPool;
  notifications: NotificationBus;
  metrics: Metrics;
  senders: WorkerSenders;
  /** The outbox and timer worker (not started). */
  worker: Worker;
  /** Stops the worker and closes senders and store. */
  close(): Promise<void>;
}

/** What embedding code and tests may replace. */
export interface EngineOptions {
  clock?: Clock;
  store?: Store;
  runtime?: Partial<RuntimeOptions>;
  /** Worker settings (senders, crash points, lease, poll interval). */
  worker?: Partial<Omit<WorkerOptions, 'store' | 'runtime' | 'clock' | 'newId' | 'config'>>;
}

/**
 * The one assembly of an Orderflow process: opens and migrates the store, and builds the
 * runtime (with the configured cascade depth and loop guard) and the worker. `serve`,
 * `worker`, `demo` and the benchmark all start from here.
 */
export async function createEngine(config: Readonly<Config>, opts: EngineOptions = {}): Promise<Engine> {
  const clock = opts.clock ?? systemClock;
  const newId = createIdGenerator(clock);
  const store = opts.store ?? (await openStore(config.databaseUrl));
  await store.migrate();
  const renderer = createTemplateRenderer();
  // Liquid in rule values (and, in the server, template previews) renders on a thread of its own.
  const renderPool = createRenderPool();
  const runtime = createRuntime({
    store,
    clock,
    newId,
    renderer,
    renderBudgetMs: config.renderBudgetMs,
    ...(renderPool ? { renderPool } : {}),
    maxDepth: config.maxCascadeDepth,
    maxEffects: config.maxCascadeEffects,
    maxRuleEntriesPerHour: config.ruleReentryLimit,
    idempotencyTtlMs: config.idempotencyTtlMs,
    ...opts.runtime,
  });
  const notifications = createNotificationBus();
  const metrics = createMetrics({ store, runtime, clock });
  const ownSenders =
    opts.worker?.senders?.email && opts.worker.senders.webhook ? null : createWorkerSenders({ store, clock, newId, config });
  const senders: WorkerSenders = {
    email: opts.worker?.senders?.email ?? (ownSenders as WorkerSenders).email,
    webhook: opts.worker?.senders?.webhook ?? (ownSenders as WorkerSenders).webhook,
  };
  const worker = createWorker({
    store,
    runtime,
    clock,
    newId,
    config,
    renderer,
    ...(renderPool ? { renderPool } : {}),
    notifications,
    metrics,
    logger: pino({ level: config.logLevel, base: { component: 'worker' } }),
    ...opts.worker,
    senders,
  });
  let closing: Promise<void> | null = null;
  return {
    config,
    store,
    runtime,
    clock,
    newId,
    renderer,
    ...(renderPool ? { renderPool } : {}),
    notifications,
    metrics,
    senders,
    worker,
    close() {
      closing ??= (async () => {
        await worker.close();
        metrics.close();
        if (ownSenders) {
          ownSenders.email.close();
          await ownSenders.webhook.close().catch(() => undefined);
        }
        await renderPool?.close();
        await store.close();
      })();
      return closing;
    },
  };
}
