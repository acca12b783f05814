import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { createTemplateRenderer, type TemplateRenderer } from './actions/template.js';
import { ensureAdminToken, seedDemo } from './bootstrap.js';
import type { Config } from './config.js';
import { type AppDeps, buildApp } from './http/app.js';
import { createOpsRoutes, type OpsDeps, validateTemplateSource } from './http/routes-ops.js';
import { type Clock, systemClock } from './runtime/clock.js';
import { createIdGenerator } from './runtime/ids.js';
import { createRuntime, type Runtime, type RuntimeOptions } from './runtime/runtime.js';
import { openStore } from './store/open.js';
import type { Store } from './store/store.js';
import { createMetrics, type Metrics } from './worker/metrics.js';
import { createNotificationBus, type NotificationBus } from './worker/notifications.js';
import { previewDelivery, summarizeDelivery } from './worker/prepare.js';
import { createWorker, createWorkerSenders, type Worker, type WorkerOptions, type WorkerSenders } from './worker/worker.js';

/** A running (or ready to run) Orderflow instance. */
export interface Orderflow {
  config: Readonly<Config>;
  store: Store;
  runtime: Runtime;
  app: FastifyInstance;
  clock: Clock;
  newId: (prefix: string) => string;
  adminToken: string | null;
  adminTokenCreated: boolean;
  adminTokenFile: string;
  /** The outbox and timer worker; `listen()` starts it unless `startWorker` is false. */
  worker: Worker;
  metrics: Metrics;
  notifications: NotificationBus;
  senders: WorkerSenders;
  renderer: TemplateRenderer;
  /** Listens on config.host:config.port; returns the address. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** Options for embedding and tests. */
export interface CreateOptions {
  clock?: Clock;
  store?: Store;
  runtime?: Partial<RuntimeOptions>;
  app?: Partial<AppDeps>;
  /** Worker settings (senders, crash points, lease, poll interval). */
  worker?: Partial<Omit<WorkerOptions, 'store' | 'runtime' | 'clock' | 'newId' | 'config'>>;
  /** Start the worker in `listen()`. @default true */
  startWorker?: boolean;
  /** Operations routes settings (notification stream poll and heartbeat intervals). */
  ops?: Partial<Pick<OpsDeps, 'streamPollMs' | 'heartbeatMs'>>;
}

/** Opens the store, migrates, seeds (first start), and builds the runtime and HTTP app. */
export async function createOrderflow(config: Readonly<Config>, opts: CreateOptions = {}): Promise<Orderflow> {
  const clock = opts.clock ?? systemClock;
  const newId = createIdGenerator(clock);
  const store = opts.store ?? (await openStore(config.databaseUrl));
  await store.migrate();
  const renderer = createTemplateRenderer();
  // A value that fails to render is kept as written rather than failing the whole change.
  const renderString = (source: string, scope: Record<string, unknown>) => {
    try {
      return renderer.render(source, scope);
    } catch {
      return source;
    }
  };
  // TEST-ONLY: the crash harness's negative control sets this to break the runtime on purpose.
  const faults = { outboxOutsideTransaction: process.env.ORDERFLOW_TEST_FAULT === 'outbox-outside-transaction' };
  const runtime = createRuntime({
    store,
    clock,
    newId,
    renderString,
    faults,
    maxDepth: config.maxCascadeDepth,
    maxEffects: config.maxCascadeEffects,
    maxRuleEntriesPerHour: config.ruleReentryLimit,
    ...opts.runtime,
  });
  const admin = await ensureAdminToken(store, config, newId, clock.now().toISOString());
  if (config.demo) await seedDemo(store, runtime, () => clock.now());
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
    notifications,
    metrics,
    logger: pino({ level: config.logLevel, base: { component: 'worker' } }),
    ...opts.worker,
    senders,
  });
  let closing: Promise<void> | null = null;
  const loadDefinition = (key: string, version: number) => runtime.loadVersion(key, version).catch(() => undefined);
  // A preview never shows the signing secret, so it needs no real one.
  const previewContext = () => ({
    db: store.db,
    renderer,
    adminEmails: config.adminEmails,
    loadDefinition,
    webhookSecret: async () => 'whsec_cHJldmlldy1vbmx5LXNlY3JldA==',
    now: clock.now(),
  });
  const app = await buildApp({
    store,
    runtime,
    config,
    clock,
    newId,
    logger: config.logLevel === 'silent' ? false : { level: config.logLevel },
    renderDelivery: (d) => previewDelivery(previewContext(), d),
    summarizeDelivery: (d) => summarizeDelivery(previewContext(), d),
    validateTemplate: (t) => validateTemplateSource(renderer, t),
    ...opts.app,
    plugins: [
      createOpsRoutes({ notifications, renderer, senders: () => senders, worker, metrics, ...opts.ops }),
      ...(opts.app?.plugins ?? []),
    ],
  });
  app.get('/metrics', async (_req, reply) => {
    const m = await metrics.render();
    return reply.type(m.contentType).send(m.body);
  });
  return {
    config,
    store,
    runtime,
    app,
    clock,
    newId,
    adminToken: admin.token,
    adminTokenCreated: admin.created,
    adminTokenFile: admin.file,
    worker,
    metrics,
    notifications,
    senders,
    renderer,
    async listen() {
      const address = await app.listen({ port: config.port, host: config.host });
      if (opts.startWorker !== false) worker.start();
      return address;
    },
    close() {
      closing ??= (async () => {
        await worker.close();
        await app.close();
        metrics.close();
        if (ownSenders) {
          ownSenders.email.close();
          await ownSenders.webhook.close().catch(() => undefined);
        }
        await store.close();
      })();
      return closing;
    },
  };
}
