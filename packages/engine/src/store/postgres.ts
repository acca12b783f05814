import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { migrate, migrationsDone } from './migrations.js';
import type { DB } from './schema.js';
import type { Store } from './store.js';

/** PostgreSQL store options. */
export interface PostgresStoreOptions {
  connectionString: string;
  /** Schema to use (created if missing); tests give each suite its own. @default the server's search_path */
  schema?: string;
  /** @default 10 */
  poolSize?: number;
}

const WAKE_CHANNEL = 'orderflow_wake';
// Any constant shared by every Orderflow process: serialises migrations across them.
const MIGRATION_LOCK = 7_210_421_337;

// int8 (count(*), sums) as numbers: counts here stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

/**
 * The PostgreSQL dialect leaf: a pg pool under the shared Kysely code.
 * Transactions run at READ COMMITTED; correctness comes from version checks on
 * orders and from `FOR UPDATE SKIP LOCKED` claims with fencing tokens, never
 * from SERIALIZABLE. Migrations are serialised with an advisory lock.
 * Commits wake other processes through LISTEN/NOTIFY.
 */
export function createPostgresStore(opts: PostgresStoreOptions): Store {
  if (opts.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(opts.schema)) throw new Error(`invalid schema name ${opts.schema}`);
  const clientConfig: pg.PoolConfig = { connectionString: opts.connectionString };
  if (opts.schema) clientConfig.options = `-c search_path=${opts.schema}`;
  const pool = new pg.Pool({ ...clientConfig, max: opts.poolSize ?? 10 });
  // An idle client that dies (server restart) must not crash the process.
  pool.on('error', () => undefined);
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  let schemaReady: Promise<void> | undefined;
  const ensureSchema = () => {
    if (!opts.schema) return Promise.resolve();
    schemaReady ??= sql
      .raw(`create schema if not exists ${opts.schema}`)
      .execute(db)
      .then(() => undefined);
    return schemaReady;
  };
  const listeners: pg.Client[] = [];

  return {
    dialect: 'postgres',
    db,
    async transaction(fn) {
      await ensureSchema();
      return db.transaction().execute(fn);
    },
    async migrate() {
      await ensureSchema();
      return db.connection().execute(async (conn) => {
        await sql`select pg_advisory_lock(${MIGRATION_LOCK})`.execute(conn);
        try {
          return await migrate(conn);
        } finally {
          await sql`select pg_advisory_unlock(${MIGRATION_LOCK})`.execute(conn);
        }
      });
    },
    async ready() {
      try {
        await sql`select 1`.execute(db);
        return await migrationsDone(db);
      } catch {
        return false;
      }
    },
    async onWake(fn) {
      const client = new pg.Client(clientConfig);
      client.on('error', () => undefined);
      await client.connect();
      client.on('notification', (n) => {
        if (n.channel === WAKE_CHANNEL) fn();
      });
      await client.query(`listen ${WAKE_CHANNEL}`);
      listeners.push(client);
      return async () => {
        await client.end().catch(() => undefined);
      };
    },
    async wake() {
      await sql`select pg_notify(${WAKE_CHANNEL}, '')`.execute(db);
    },
    async close() {
      await Promise.all(listeners.map((c) => c.end().catch(() => undefined)));
      await db.destroy();
    },
  };
}

/** Drops a schema (tests clean up after themselves). */
export async function dropPostgresSchema(connectionString: string, schema: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid schema name ${schema}`);
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(`drop schema if exists ${schema} cascade`);
  } finally {
    await client.end();
  }
}
