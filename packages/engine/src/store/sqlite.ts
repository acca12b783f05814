import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { CompiledQuery, type DatabaseConnection, type Driver, Kysely, type QueryResult, SqliteDialect, sql } from 'kysely';
import { createGroupCommit } from './group-commit.js';
import { migrate, migrationsDone } from './migrations.js';
import type { DB } from './schema.js';
import type { Store, TransactionOptions } from './store.js';

/** Options of the SQLite store. */
export interface SqliteStoreOptions {
  /** File path, or `:memory:`. */
  path: string;
  /**
   * `synchronous` pragma. FULL makes every commit durable across power loss in WAL mode.
   * @default 'FULL'
   */
  synchronous?: 'FULL' | 'NORMAL';
  /** Called with the number of changes each shared transaction committed. */
  onBatch?: (size: number) => void;
  /** Tuning of the checkpoint thread (tests). */
  checkpoints?: CheckpointTuning;
}

/**
 * Opens the embedded SQLite store: WAL, `synchronous=FULL` set explicitly on
 * every open (a WAL database otherwise reopens at NORMAL), a busy timeout for
 * other processes (CLI, worker), and `BEGIN IMMEDIATE` write transactions so a
 * transaction never upgrades a read lock mid-way. Concurrent changes share a
 * transaction (group commit), so one flush at FULL acknowledges many of them.
 */
export function createSqliteStore(opts: SqliteStoreOptions): Store {
  if (opts.path !== ':memory:') createPrivateFile(opts.path);
  const database = new Database(opts.path);
  database.pragma('journal_mode = WAL');
  const level = opts.synchronous ?? 'FULL';
  database.pragma(`synchronous = ${level}`);
  // At FULL, shared commits write the WAL without flushing it on the event loop; a thread of the pool flushes it.
  const flusher = opts.path !== ':memory:' && level === 'FULL' ? createWalFlusher(`${opts.path}-wal`) : null;
  database.pragma('busy_timeout = 10000');
  database.pragma('foreign_keys = ON');
  // A batch that runs again because one of its changes failed after writing runs each change in a
  // savepoint (see group-commit.ts), which keeps a copy of every page the change writes in a
  // sub-journal. With temporary storage in memory SQLite keeps that journal in
  // its plain in-memory form instead of one prepared to move to a temporary file; measured on this
  // store's batches of 18 changes, each change's writes then take about half the CPU time. Sorts and
  // groupings that no index serves keep their temporary b-trees in memory too; this store's are
  // small (grouped counts, lists with a limit).
  database.pragma('temp_store = MEMORY');
  const checkpointer = opts.path === ':memory:' ? null : startCheckpointer(database, opts.path, opts.checkpoints);
  const connection = new PreparedSqliteConnection(database);
  const db = new Kysely<DB>({ dialect: new PreparedSqliteDialect(connection) });
  const dataVersion = database.prepare('pragma data_version').pluck();
  let seenVersion: number | null = null;
  // One writer: one batch at a time on the single connection, handed out in arrival order.
  const shared = createGroupCommit(db, {
    begin: 'begin immediate',
    runners: 1,
    // The batch holds the one connection: its statements run on it at once.
    direct: (text, params) => connection.run(text, params),
    // Changes of a shared transaction run without savepoints (see group-commit.ts).
    writeLog: { writes: () => connection.writes, open: () => database.inTransaction, guard: (on) => connection.guard(on) },
    ...(checkpointer ? { pauseBeforeBatch: checkpointer.pauseBeforeBatch } : {}),
    ...(flusher
      ? {
          deferredFlush: {
            beforeBegin: ['pragma synchronous = NORMAL'],
            afterEnd: [`pragma synchronous = ${level}`],
            flush: flusher.flush,
          },
        }
      : {}),
    ...(opts.onBatch ? { onBatch: opts.onBatch } : {}),
  });
  /** After a failed flush of the WAL no change is answered: each fails at once with that failure. */
  function transaction<T>(fn: (tx: Kysely<DB>) => Promise<T>, options?: TransactionOptions): Promise<T> {
    const broken = flusher?.broken();
    return broken ? Promise.reject(broken) : shared(fn, options);
  }
  return {
    dialect: 'sqlite',
    db,
    capabilities: { rowLocks: false, caseInsensitiveLike: 'like' },
    transaction,
    migrate: () => migrate(db, 'sqlite'),
    // Not ready once a flush failed: a supervisor that restarts unready processes restarts this one.
    ready: async () => !flusher?.broken() && (await migrationsDone(db)),
    // Changes when another connection (another process) commits; this connection's own commits leave it alone.
    // Read once per turn of the event loop: the changes that arrive together share one look.
    async configVersion() {
      if (seenVersion === null) {
        seenVersion = Number(dataVersion.get());
        setImmediate(() => {
          seenVersion = null;
        });
      }
      return seenVersion;
    },
    // Inside the write transaction the pragma reads a counter the transaction's own locks already
    // refreshed: no lock calls. (Outside one it would take them; then it is the same read.)
    async configVersionInTransaction() {
      return Number(dataVersion.get());
    },
    async close() {
      await flusher?.close();
      await checkpointer?.close();
      await db.destroy();
    },
  };
}

/** Flushes counted by every WAL flusher of this process (tests, metrics). */
export const walFlushStats = { requested: 0, flushes: 0 };

/**
 * Durability of shared commits without a flush on the event loop. A batch commits at
 * `synchronous=NORMAL`, which writes its WAL frames but does not flush them; before any change of
 * the batch is answered, `flush()` runs fdatasync on the WAL in libuv's thread pool. A commit at
 * FULL flushes the same file at the same point, so an answered change is exactly as durable, and
 * meanwhile the event loop serves requests and the next batch runs. Batches that commit while a
 * flush is in flight share the next one. Until its flush ends a committed change is already
 * visible to reads, but it is not answered, and nothing it caused (a delivery, a timer) is claimed
 * by a transaction that is answered before it, since that one's own flush comes later and covers it.
 */
function createWalFlusher(walPath: string) {
  let handle: Promise<FileHandle> | null = null;
  let requested = 0;
  let done = 0;
  let running: Promise<void> | null = null;
  /**
   * Set by the first failed flush, for good. A failed fdatasync does not say which pages reached
   * the disk, and a later one may succeed without them (the error is reported once): what any
   * batch committed since the last good flush may be lost, so no later change may be answered.
   */
  let broken: Error | null = null;
  const waiters: { ticket: number; resolve: () => void; reject: (e: unknown) => void }[] = [];

  async function loop(): Promise<void> {
    while (done < requested && !broken) {
      const target = requested;
      try {
        // The WAL exists once the first batch has committed, and stays while this connection is open.
        handle ??= open(walPath, 'r');
        await (await handle).datasync();
        walFlushStats.flushes++;
      } catch (error) {
        handle = null;
        broken = new Error(
          `Flushing the database's WAL to disk failed (${(error as { code?: string }).code ?? String(error)}): changes committed since the last flush may not be on disk, so this process answers no more changes. Check the disk, then restart Orderflow; SQLite recovers what the disk holds.`,
          { cause: error },
        );
        break;
      }
      done = target;
      // Tickets are handed out in order, so the waiters this flush covers are at the front.
      while (waiters.length > 0 && (waiters[0] as (typeof waiters)[number]).ticket <= target) {
        (waiters.shift() as (typeof waiters)[number]).resolve();
      }
    }
    // Broken: every change still waiting fails (none of them is known to be on disk).
    if (broken) for (const w of waiters.splice(0)) w.reject(broken);
    running = null;
  }

  return {
    flush(): Promise<void> {
      if (broken) return Promise.reject(broken);
      const ticket = ++requested;
      walFlushStats.requested++;
      const waited = new Promise<void>((resolve, reject) => waiters.push({ ticket, resolve, reject }));
      running ??= loop();
      return waited;
    },
    /** The failure that stopped this store's writes, if one did. */
    broken: (): Error | null => broken,
    async close(): Promise<void> {
      await running;
      if (handle) await (await handle).close().catch(() => undefined);
      handle = null;
    },
  };
}

/** Pages the WAL may grow to before the writer checkpoints itself (the backstop when the thread falls behind). */
const BACKSTOP_CHECKPOINT_PAGES = 10_000;
/** WAL pages after which the checkpoint thread asks for a pause, so that the WAL starts over (see sqlite-checkpoint.ts). */
const RESTART_WAL_PAGES = 4_096;
/** Longest pause of the writes for a checkpoint: past it, the batches go on (the thread may be stuck). */
const PAUSE_LIMIT_MS = 100;

/** Tuning of the checkpoint thread (tests set it; the defaults are the product's). */
export interface CheckpointTuning {
  /** How often the thread checkpoints. @default 200 */
  everyMs?: number;
  /** WAL pages after a round at which the thread asks the writer for a pause. @default 4096 */
  restartPages?: number;
  /** WAL pages at which the writer checkpoints on its own (the backstop). @default 10000 */
  backstopPages?: number;
}

/** Pauses the writer granted the checkpoint thread, and how many ran out of time (tests, diagnostics). */
export const checkpointPauseStats = { paused: 0, timedOut: 0 };

/**
 * SQLite's automatic checkpoint runs on the committing connection every 1000 WAL pages: it
 * copies them into the database file and flushes it, stalling the event loop for as long as
 * the disk takes (hundreds of ms on a busy disk). A worker thread with its own connection
 * checkpoints instead; the writer's own checkpoint stays as a backstop at a larger WAL size.
 * When the thread asks, the next batch waits (at most {@link PAUSE_LIMIT_MS}) while the thread
 * copies the last frames, so that the WAL starts over without the backstop's stall.
 * Commits are as durable as before: each still flushes the WAL at FULL.
 */
function startCheckpointer(
  database: Database.Database,
  path: string,
  tuning: CheckpointTuning = {},
): { pauseBeforeBatch(): Promise<void> | undefined; close(): Promise<void> } | null {
  const script = new URL('./sqlite-checkpoint.js', import.meta.url);
  // Running from sources (tests) there is no compiled script: keep SQLite's own checkpoints.
  if (!existsSync(fileURLToPath(script))) return null;
  const thread = new Worker(script, {
    workerData: { path, everyMs: tuning.everyMs ?? 200, restartFrames: tuning.restartPages ?? RESTART_WAL_PAGES },
  });
  thread.unref();
  thread.on('error', () => undefined);
  database.pragma(`wal_autocheckpoint = ${tuning.backstopPages ?? BACKSTOP_CHECKPOINT_PAGES}`);
  let asked = false;
  let closing = false;
  let resume: (() => void) | null = null;
  thread.on('message', (msg) => {
    if (msg === 'pause-writes') asked = true;
    else if (msg === 'resume-writes') resume?.();
  });
  return {
    pauseBeforeBatch() {
      if (!asked || closing) return undefined;
      asked = false;
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          checkpointPauseStats.timedOut++;
          done();
        }, PAUSE_LIMIT_MS);
        function done(): void {
          clearTimeout(timer);
          resume = null;
          resolve();
        }
        resume = () => {
          checkpointPauseStats.paused++;
          done();
        };
        thread.postMessage('writes-paused');
      });
    },
    async close() {
      closing = true;
      resume?.();
      const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
      // Held while closing: the caller may have nothing else keeping the process alive.
      thread.ref();
      thread.postMessage('close');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 1000))]);
      await thread.terminate().catch(() => undefined);
    },
  };
}

/**
 * Kysely's own SQLite driver prepares every statement again on each call, and guards its
 * single connection with a mutex that wakes every waiter at once and lets them race (under
 * load some callers lose for seconds). This dialect keeps the statements it has prepared
 * (the hot ones are a few dozen texts) and hands the connection out first come, first served.
 */
class PreparedSqliteDialect extends SqliteDialect {
  readonly #connection: PreparedSqliteConnection;
  constructor(connection: PreparedSqliteConnection) {
    super({ database: connection.database });
    this.#connection = connection;
  }
  override createDriver(): Driver {
    return new PreparedSqliteDriver(this.#connection);
  }
}

const STATEMENT_CACHE = 500;

/** A prepared statement, with what it is (read once: these are native getters). */
interface Prepared {
  stmt: Database.Statement;
  /** Answers rows (a query, or a write with RETURNING). */
  reader: boolean;
  /** May write: 0 for queries and transaction control. */
  writer: 0 | 1;
  /** An INSERT, UPDATE, DELETE or REPLACE: it wrote only if it changed (or returned) a row. */
  dml: boolean;
}

const DML = /^\s*(insert|update|delete|replace)\b/i;

class PreparedSqliteConnection implements DatabaseConnection {
  readonly #statements = new Map<string, Prepared>();
  /**
   * Statements run on this connection that wrote something (or may have: any writer that is not
   * plain DML counts). Group commit reads it around each change of a shared transaction.
   */
  writes = 0;
  /** Set while a shared transaction is open on this connection (see {@link guard}). */
  #guarded = false;
  constructor(readonly database: Database.Database) {}

  /**
   * While set, a statement runs only inside the open transaction: SQLite ends a transaction by
   * itself after some errors (a full disk, an I/O error), and a change that caught such an error
   * and went on would otherwise write outside it, each statement committing on its own.
   */
  guard(on: boolean): void {
    this.#guarded = on;
  }

  prepared(text: string): Prepared {
    let hit = this.#statements.get(text);
    if (hit === undefined) {
      const stmt = this.database.prepare(text);
      hit = { stmt, reader: stmt.reader, writer: stmt.readonly ? 0 : 1, dml: DML.test(text) };
      // Full: the oldest statement goes (the hot ones are a few dozen texts; one dropped is prepared again).
      if (this.#statements.size >= STATEMENT_CACHE) this.#statements.delete(this.#statements.keys().next().value as string);
      this.#statements.set(text, hit);
    }
    return hit;
  }

  /** Refuses a statement while guarded and the transaction has ended (see {@link guard}). */
  #check(text: string): void {
    if (this.#guarded && text !== 'rollback' && !this.database.inTransaction) {
      throw new Error('The write transaction ended under this change (SQLite rolled it back after an error); nothing more of it runs.');
    }
  }

  /** Runs one statement now (the caller holds the connection). */
  run<R>(text: string, params: readonly unknown[]): QueryResult<R> {
    this.#check(text);
    const { stmt, reader, writer, dml } = this.prepared(text);
    if (reader) {
      const rows = stmt.all(params) as R[];
      if (writer && (!dml || rows.length > 0)) this.writes++;
      return { rows };
    }
    const { changes, lastInsertRowid } = stmt.run(params);
    if (writer && (!dml || changes > 0)) this.writes++;
    return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
  }

  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return Promise.resolve(this.run<R>(query.sql, query.parameters));
  }

  async *streamQuery<R>(query: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    this.#check(query.sql);
    const { stmt, writer } = this.prepared(query.sql);
    this.writes += writer;
    for (const row of stmt.iterate(query.parameters as unknown[])) yield { rows: [row as R] };
  }
}

class PreparedSqliteDriver implements Driver {
  readonly #connection: PreparedSqliteConnection;
  #waiters: (() => void)[] = [];
  #held = false;
  constructor(connection: PreparedSqliteConnection) {
    this.#connection = connection;
  }
  async init(): Promise<void> {}
  async acquireConnection(): Promise<DatabaseConnection> {
    if (this.#held) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    this.#held = true;
    return this.#connection;
  }
  async releaseConnection(): Promise<void> {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#held = false;
  }
  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin'));
  }
  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }
  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }
  async destroy(): Promise<void> {
    this.#connection.database.close();
  }
}

/** Reads a pragma value (for tests and diagnostics). */
export function sqlitePragma(store: Store, name: string): Promise<unknown> {
  return sql
    .raw(`pragma ${name}`)
    .execute(store.db)
    .then((r) => (r.rows[0] as Record<string, unknown> | undefined)?.[name]);
}

/**
 * The database holds webhook signing secrets: a new file is created 0600 (SQLite gives its -wal
 * and -shm files the same mode) in a new directory created 0700. Existing files and directories
 * keep the mode their owner chose.
 */
function createPrivateFile(path: string): void {
  const dir = dirname(path);
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }
  if (!existsSync(path)) {
    closeSync(openSync(path, 'a', 0o600));
    chmodSync(path, 0o600);
  }
}
