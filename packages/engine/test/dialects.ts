import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createPostgresStore, dropPostgresSchema } from '../src/store/postgres.js';
import { createSqliteStore } from '../src/store/sqlite.js';
import type { Store } from '../src/store/store.js';

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

/** Dialects to run. */
export const DIALECTS: ('sqlite' | 'postgres')[] = (requested ?? ['sqlite', 'postgres']).filter(
  (d): d is 'sqlite' | 'postgres' => d === 'sqlite' || (d === 'postgres' && reachable),
);

let counter = 0;

/** A fresh, migrated store of the dialect, and a cleanup that removes it. */
export async function freshStore(dialect: 'sqlite' | 'postgres'): Promise<{ store: Store; url: string; cleanup: () => Promise<void> }> {
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
