import type { Kysely } from 'kysely';
import type { DB } from './schema.js';

/** Which SQL dialect a store speaks. */
export type DialectName = 'sqlite' | 'postgres';

/**
 * A store: one Kysely instance plus the few things that differ per dialect.
 * Everything else (queries, mappers) is shared and lives in `repo.ts`.
 */
export interface Store {
  readonly dialect: DialectName;
  readonly db: Kysely<DB>;
  /** Runs `fn` in one write transaction (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: READ COMMITTED). */
  transaction<T>(fn: (tx: Kysely<DB>) => Promise<T>): Promise<T>;
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
