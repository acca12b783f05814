import type { Kysely, QueryResult } from 'kysely';
import type { DB } from './schema.js';

/**
 * Runs one statement at once on the connection a write transaction holds, and answers its
 * result: no query builder and no chain of promises between the change and the database. Only
 * a dialect whose driver runs statements synchronously (SQLite's) offers one.
 */
export type DirectRunner = (sql: string, params: readonly unknown[]) => QueryResult<unknown>;

const runners = new WeakMap<Kysely<DB>, DirectRunner>();

/** Lets the statements of a change run on `tx` through `run` (for as long as `tx` is in use). */
export function bindDirect(tx: Kysely<DB>, run: DirectRunner): void {
  runners.set(tx, run);
}

/** The direct runner of a transaction's connection, if its dialect has one. */
export function directRunner(db: Kysely<DB>): DirectRunner | undefined {
  return runners.get(db);
}
