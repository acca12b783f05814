import type { Kysely } from 'kysely';
import type { DB } from './schema.js';

/** Which SQL dialect a store speaks. */
export type DialectName = 'sqlite' | 'postgres';

/** What the dialect can do, for the shared query code to branch on instead of the dialect's name. */
export interface StoreCapabilities {
  /** `SELECT … FOR UPDATE [SKIP LOCKED]` locks rows (PostgreSQL); SQLite's single writer needs no row locks. */
  rowLocks: boolean;
  /** The operator of a case-insensitive LIKE (SQLite's LIKE already is, for ASCII). */
  caseInsensitiveLike: 'like' | 'ilike';
}

/** How {@link Store.transaction} runs one change. */
export interface TransactionOptions {
  /**
   * No caller waits on the answer to reply to anyone (the worker's claims and completions). A
   * store that makes commits durable off the event loop (SQLite at FULL, see group-commit.ts)
   * then does so even for a lone change: the answer comes as late as a shared commit's, and the
   * event loop is free during the flush. Durability and the answer's meaning are unchanged.
   */
  background?: boolean;
}

/**
 * A store: one Kysely instance plus the few things that differ per dialect. The queries are
 * shared by both dialects and live beside it, one module per table group: `changes.ts` (the
 * statements of one change, written out once), `queue.ts` (claims, renewals and completions
 * of deliveries and timers), and the modules for workflows, templates, tokens, endpoints,
 * notifications, settings and the rest; `repo.ts` keeps the listing queries and re-exports.
 */
export interface Store {
  readonly dialect: DialectName;
  readonly capabilities: StoreCapabilities;
  readonly db: Kysely<DB>;
  /**
   * Runs `fn` as one change in a write transaction (SQLite: `BEGIN IMMEDIATE`; PostgreSQL:
   * READ COMMITTED). Concurrent changes share a transaction, each in its own savepoint
   * (group commit); the promise settles only after the shared COMMIT.
   */
  transaction<T>(fn: (tx: Kysely<DB>) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * A number that moves when workflows or settings may have been changed by another process
   * (SQLite: `data_version`; PostgreSQL: change notifications). Caches of them compare it.
   */
  configVersion(): Promise<number>;
  /**
   * `configVersion()` read inside the write transaction `tx`, which holds the write lock, so no
   * other process can commit until it ends. Present where that read is much cheaper than the one
   * outside a transaction (SQLite: outside, `data_version` takes the WAL read locks); a caller may
   * then use a cached configuration without looking first, and check it here instead.
   */
  configVersionInTransaction?(tx: Kysely<DB>): Promise<number>;
  /** Applies pending migrations (serialised across processes where the dialect needs it). */
  migrate(): Promise<string[]>;
  /** Database reachable and migrated. */
  ready(): Promise<boolean>;
  /** Listens for commit wake-ups from other processes (PostgreSQL LISTEN); a no-op where not needed. */
  onWake?(fn: () => void): Promise<() => Promise<void>>;
  /** Tells other processes that new work was committed. */
  wake?(): Promise<void>;
  close(): Promise<void>;
}

/** True when the error is a unique-constraint violation, in either dialect. */
export function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return err?.code === 'SQLITE_CONSTRAINT_UNIQUE' || err?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || err?.code === '23505';
}
