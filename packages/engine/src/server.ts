import type { FastifyInstance } from 'fastify';
import type { TemplateRenderer } from './actions/template.js';
import { type AdminTokenInfo, ensureAdminToken, seedDemo } from './bootstrap.js';
import type { Config } from './config.js';
import { createEngine, type EngineOptions } from './engine.js';
import { type AppDeps, buildApp, requireRole } from './http/app.js';
import { createOpsRoutes, type OpsDeps, validateTemplateSource } from './http/routes-ops.js';
import type { Clock } from './runtime/clock.js';
import type { Runtime } from './runtime/runtime.js';
import type { Store } from './store/store.js';
import type { Metrics } from './worker/metrics.js';
import type { NotificationBus } from './worker/notifications.js';
import { previewDelivery, summarizeDelivery } from './worker/prepare.js';
import type { Worker, WorkerSenders } from './worker/worker.js';

/** A running (or ready to run) Orderflow instance. */
export interface Orderflow {
  config: Readonly<Config>;
  store: Store;
  runtime: Runtime;
  app: FastifyInstance;
  clock: Clock;
  newId: (prefix: string) => string;
  /** What start-up did about the bootstrap admin token (the secret only when it was generated now). */
  admin: AdminTokenInfo;
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
export interface CreateOptions extends EngineOptions {
  app?: Partial<AppDeps>;
  /** Start the worker in `listen()`. @default true */
  startWorker?: boolean;
  /** Operations routes settings (notification stream poll and heartbeat intervals). */
  ops?: Partial<Pick<OpsDeps, 'streamPollMs' | 'heartbeatMs'>>;
}

/** Opens the store, migrates, seeds (first start), and builds the runtime, worker and HTTP app. */
export async function createOrderflow(config: Readonly<Config>, opts: CreateOptions = {}): Promise<Orderflow> {
  const engine = await createEngine(config, opts);
  const { store, runtime, clock, newId, renderer, notifications, metrics, senders, worker } = engine;
  const admin = await ensureAdminToken(store, config, newId, clock.now().toISOString());
  if (config.demo) await seedDemo(store, runtime, () => clock.now());
  let closing: Promise<void> | null = null;
  const loadDefinition = (key: string, version: number) => runtime.loadVersion(key, version).catch(() => undefined);
  // A preview never shows the signing secret, so it needs no real one.
  const previewContext = () => ({
    db: store.db,
    renderer,
    ...(engine.renderPool ? { renderPool: engine.renderPool } : {}),
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
      createOpsRoutes({
        notifications,
        renderer,
        ...(engine.renderPool ? { renderPool: engine.renderPool } : {}),
        senders: () => senders,
        worker,
        metrics,
        ...opts.ops,
      }),
      ...(opts.app?.plugins ?? []),
    ],
  });
  app.get('/metrics', async (req, reply) => {
    if (!config.metricsPublic) requireRole(req, 'viewer');
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
    admin,
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
        await engine.close();
      })();
      return closing;
    },
  };
}
