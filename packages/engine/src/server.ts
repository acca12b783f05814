import type { FastifyInstance } from 'fastify';
import { ensureAdminToken, seedDemo } from './bootstrap.js';
import type { Config } from './config.js';
import { type AppDeps, buildApp } from './http/app.js';
import { type Clock, systemClock } from './runtime/clock.js';
import { createIdGenerator } from './runtime/ids.js';
import { createRuntime, type Runtime, type RuntimeOptions } from './runtime/runtime.js';
import { openStore } from './store/open.js';
import type { Store } from './store/store.js';

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
}

/** Opens the store, migrates, seeds (first start), and builds the runtime and HTTP app. */
export async function createOrderflow(config: Readonly<Config>, opts: CreateOptions = {}): Promise<Orderflow> {
  const clock = opts.clock ?? systemClock;
  const newId = createIdGenerator(clock);
  const store = opts.store ?? (await openStore(config.databaseUrl));
  await store.migrate();
  const runtime = createRuntime({ store, clock, newId, ...opts.runtime });
  const admin = await ensureAdminToken(store, config, newId, clock.now().toISOString());
  if (config.demo) await seedDemo(store, runtime, () => clock.now());
  const app = await buildApp({
    store,
    runtime,
    config,
    clock,
    newId,
    logger: config.logLevel === 'silent' ? false : { level: config.logLevel },
    ...opts.app,
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
    async listen() {
      return app.listen({ port: config.port, host: config.host });
    },
    async close() {
      await app.close();
      await store.close();
    },
  };
}
