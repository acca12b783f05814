import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { type DatabaseConnection, type Driver, Kysely, SqliteDialect, type SqliteDialectConfig, sql } from 'kysely';
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
  const db = new Kysely<DB>({ dialect: new FairSqliteDialect({ database }) });
  return {
    dialect: 'sqlite',
    db,
    transaction(fn) {
      // One connection, handed out in arrival order: nothing interleaves with a transaction.
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

/**
 * Kysely's SQLite driver guards its single connection with a mutex that wakes every waiter
 * at once and lets them race; under load some callers lose for seconds. This dialect puts a
 * first-come-first-served queue in front of it, so the inner mutex is never contended.
 */
class FairSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }
  override createDriver(): Driver {
    return new FairDriver(new SqliteDialect(this.#config).createDriver());
  }
}

class FairDriver implements Driver {
  #waiters: (() => void)[] = [];
  #held = false;
  constructor(readonly inner: Driver) {}
  init() {
    return this.inner.init();
  }
  async acquireConnection(): Promise<DatabaseConnection> {
    if (this.#held) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    this.#held = true;
    return this.inner.acquireConnection();
  }
  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    await this.inner.releaseConnection(connection);
    const next = this.#waiters.shift();
    if (next) next();
    else this.#held = false;
  }
  beginTransaction(connection: DatabaseConnection, settings: Parameters<Driver['beginTransaction']>[1]) {
    return this.inner.beginTransaction(connection, settings);
  }
  commitTransaction(connection: DatabaseConnection) {
    return this.inner.commitTransaction(connection);
  }
  rollbackTransaction(connection: DatabaseConnection) {
    return this.inner.rollbackTransaction(connection);
  }
  destroy() {
    return this.inner.destroy();
  }
}

/** Reads a pragma value (for tests and diagnostics). */
export function sqlitePragma(store: Store, name: string): Promise<unknown> {
  return sql
    .raw(`pragma ${name}`)
    .execute(store.db)
    .then((r) => (r.rows[0] as Record<string, unknown> | undefined)?.[name]);
}
