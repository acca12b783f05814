import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_ORDERS, DEMO_TEMPLATES } from '@orderflow/core';
import pg from 'pg';
import { createPostgresStore, dropPostgresSchema } from '../src/store/postgres.js';
import { createSqliteStore } from '../src/store/sqlite.js';
import type { Store } from '../src/store/store.js';
import { upsertTemplate } from '../src/store/templates.js';
import { insertWorkflow, publishVersion } from '../src/store/workflows.js';

/**
 * The dialects a test file runs against. `DIALECTS=sqlite,postgres` (as CI sets it) demands both
 * and fails when PostgreSQL cannot be reached; unset, PostgreSQL runs when it is reachable.
 */
export const PG_URL = process.env.ORDERFLOW_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function pgReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const requested = process.env.DIALECTS?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const reachable = await pgReachable();
if (requested?.includes('postgres') && !reachable) {
  throw new Error(`DIALECTS requests postgres but ${PG_URL} is not reachable (set ORDERFLOW_TEST_PG_URL or start PostgreSQL)`);
}

/** A dialect the suites run against. */
export type Dialect = 'sqlite' | 'postgres';

/** Dialects to run. */
export const DIALECTS: Dialect[] = (requested ?? ['sqlite', 'postgres']).filter(
  (d): d is Dialect => d === 'sqlite' || (d === 'postgres' && reachable),
);

let counter = 0;

/** The PostgreSQL schema of a `freshStore('postgres')` URL. */
function schemaOf(url: string): string {
  const schema = /search_path=([a-z0-9_]+)/.exec(decodeURIComponent(url))?.[1];
  if (!schema) throw new Error(`no search_path in ${url}`);
  return schema;
}

/**
 * Another store on the database of a `freshStore` URL (its own connections: a second process,
 * as far as the database can tell). The caller closes it.
 */
export function openStoreAt(url: string): Store {
  if (url.startsWith('sqlite:')) return createSqliteStore({ path: url.slice('sqlite:'.length) });
  return createPostgresStore({ connectionString: PG_URL, schema: schemaOf(url) });
}

/** Drops the PostgreSQL schema of a `freshStore` URL (SQLite files go with their directory). */
export async function dropDatabaseAt(url: string): Promise<void> {
  if (!url.startsWith('sqlite:')) await dropPostgresSchema(PG_URL, schemaOf(url));
}

/** A fresh, migrated store of the dialect, and a cleanup that removes it. */
export async function freshStore(dialect: Dialect): Promise<{ store: Store; url: string; cleanup: () => Promise<void> }> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'orderflow-test-'));
    const path = join(dir, 'test.db');
    const store = createSqliteStore({ path });
    await store.migrate();
    return {
      store,
      url: `sqlite:${path}`,
      cleanup: async () => {
        await store.close().catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const schema = `t_${process.pid}_${Date.now().toString(36)}_${++counter}`;
  const store = createPostgresStore({ connectionString: PG_URL, schema });
  await store.migrate();
  return {
    store,
    url: `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    cleanup: async () => {
      await store.close().catch(() => undefined);
      await dropPostgresSchema(PG_URL, schema);
    },
  };
}

/** Stores the demo templates and publishes the demo `orders` workflow as version 1. */
export async function publishDemoOrders(store: Store, now: string): Promise<void> {
  for (const t of DEMO_TEMPLATES) await upsertTemplate(store.db, t, now);
  await store.transaction(async (tx) => {
    await insertWorkflow(tx, 'orders', 'Orders', DEMO_ORDERS, now);
    await publishVersion(tx, 'orders', DEMO_ORDERS, 'test', now);
  });
}
