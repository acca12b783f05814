import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { migrate, migrationsDone } from './migrations.js';
import type { DB } from './schema.js';
import type { Store } from './store.js';

/** Options of the SQLite store. */
export interface SqliteStoreOptions {
  /** File path, or `:memory:`. */
  path: string;
  /**
   * `synchronous` pragma. FULL makes every commit durable across power loss in WAL mode.
   * @default 'FULL'
   */
  synchronous?: 'FULL' | 'NORMAL';
}

/**
 * Opens the embedded SQLite store: WAL, `synchronous=FULL` set explicitly on
 * every open (a WAL database otherwise reopens at NORMAL), a busy timeout for
 * other processes (CLI, worker), and `BEGIN IMMEDIATE` write transactions so a
 * transaction never upgrades a read lock mid-way.
 */
export function createSqliteStore(opts: SqliteStoreOptions): Store {
  if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
  const database = new Database(opts.path);
  database.pragma('journal_mode = WAL');
  database.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
  database.pragma('busy_timeout = 10000');
  database.pragma('foreign_keys = ON');
  const db = new Kysely<DB>({ dialect: new SqliteDialect({ database }) });
  return {
    dialect: 'sqlite',
    db,
    async transaction(fn) {
      // One connection: connection() holds Kysely's mutex, so nothing interleaves.
      return db.connection().execute(async (conn) => {
        await sql`begin immediate`.execute(conn);
        try {
          const result = await fn(conn);
          await sql`commit`.execute(conn);
          return result;
        } catch (e) {
          await sql`rollback`.execute(conn).catch(() => undefined);
          throw e;
        }
      });
    },
    migrate: () => migrate(db),
    ready: () => migrationsDone(db),
    async close() {
      await db.destroy();
    },
  };
}

/** Reads a pragma value (for tests and diagnostics). */
export function sqlitePragma(store: Store, name: string): Promise<unknown> {
  return sql
    .raw(`pragma ${name}`)
    .execute(store.db)
    .then((r) => (r.rows[0] as Record<string, unknown> | undefined)?.[name]);
}
