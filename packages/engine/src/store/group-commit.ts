import { type Kysely, sql } from 'kysely';
import { bumpConfigEpoch, configEpoch } from './config-epoch.js';
import { bindDirect, type DirectRunner } from './direct.js';
import type { DB } from './schema.js';
import type { TransactionOptions } from './store.js';

/** How one dialect runs a shared transaction. */
export interface GroupCommitOptions {
  /** Statement that opens the shared transaction (`begin immediate` on SQLite). */
  begin: string;
  /** Statements run right after `begin` (session settings local to the transaction). */
  afterBegin?: string[];
  /** Batches running at once, each on its own connection (1 on SQLite: it has one writer). */
  runners: number;
  /** Most changes in one transaction. @default 64 */
  maxBatch?: number;
  /** Errors after which a change is run again in a later batch (PostgreSQL deadlocks between batches). */
  retryable?: (e: unknown) => boolean;
  /** Called with the size of each committed batch (metrics, tests). */
  onBatch?: (size: number) => void;
  /**
   * Durability off the event loop: when set, a batch that shares its transaction, or that has
   * changes waiting behind it, runs `beforeBegin` first (e.g. a commit that writes without
   * flushing), `afterEnd` once the transaction is over, and then `flush`, which makes what the
   * COMMIT wrote durable. Its changes are answered only once `flush` resolves; the connection is
   * free for the next batch meanwhile, so one batch's flush overlaps the next one's work. If
   * `flush` rejects, the batch's changes fail (their durability is unknown). A lone change with
   * nothing behind it commits the plain way, flush included, and waits for no thread, unless it
   * runs in the background (see {@link TransactionOptions.background}).
   */
  deferredFlush?: { beforeBegin: string[]; afterEnd: string[]; flush: () => Promise<void> };
  /**
   * PostgreSQL: `flush` ends each change inside its savepoint (it sends the change's held writes),
   * except the last change of a batch, whose writes travel with the COMMIT (one round trip fewer
   * per batch). If that COMMIT fails because those writes failed, `ownFailure` gives the change's
   * error and the transaction is still open: the change is rolled back to its savepoint (alone in
   * the batch: the transaction is rolled back) and fails or runs again like any failed change; the
   * others commit. `ownFailure` gives undefined for a COMMIT that itself failed: the batch fails.
   */
  lastWritesWithCommit?: { flush: string; ownFailure: (e: unknown) => unknown };
  /**
   * Runs a statement at once on the connection (SQLite). The transaction's own statements and the
   * changes' statements (see changes.ts) then skip the query builder.
   */
  direct?: DirectRunner;
  /**
   * Asked before a batch opens its transaction while no other batch runs: a promise holds that
   * batch, and every change behind it, until it settles (SQLite: the checkpoint thread copies
   * the WAL's last frames with no writer, so that the WAL starts over). The event loop goes on.
   */
  pauseBeforeBatch?: () => Promise<void> | undefined;
  /**
   * What the connection has written, for changes that share a transaction to run without a
   * SAVEPOINT each (SQLite: a savepoint copies every page its change writes). `writes()` counts
   * the statements that changed something; `open()` says whether the transaction is still open.
   * A change that fails before writing needs no undo: the others go on and commit. One that fails
   * after writing (rare: refusals come before any write) rolls the whole transaction back, and
   * the batch runs again with a savepoint per change. `guard(true)` while the transaction is
   * open: the connection then refuses any statement (but `rollback`) once the transaction has
   * ended under a change, so that nothing of it runs outside one and commits on its own.
   */
  writeLog?: { writes(): number; open(): boolean; guard(on: boolean): void };
}

interface Pending {
  fn: (tx: Kysely<DB>) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  tries: number;
  background: boolean;
}

type Outcome = { item: Pending; ok: true; value: unknown } | { item: Pending; ok: false; error: unknown };

/** A change of a batch without savepoints failed after writing: the batch runs again with them. */
class WroteThenFailed extends Error {}

const MAX_TRIES = 5;
/** Longest stretch of a batch's work before the event loop gets a turn. */
const YIELD_EVERY_MS = 2;

/** Committed shared transactions of this process and the changes they carried (for metrics). */
export const groupCommitStats = { batches: 0, changes: 0, largest: 0, reruns: 0 };

/**
 * Group commit: changes that arrive while a transaction is being written wait and then
 * share the next one, so one disk flush acknowledges many changes. Each change runs in its
 * own SAVEPOINT (or, with a `writeLog`, without one until a change fails after writing), so a
 * change that throws rolls back alone and the others still commit.
 * Every change is answered only after the shared COMMIT; if the COMMIT fails, all of them
 * fail and none was acknowledged. An idle store starts a transaction on the next turn of
 * the event loop (after the I/O callbacks of that turn have queued their changes), so a
 * lone change waits for nothing.
 */
export function createGroupCommit(db: Kysely<DB>, opts: GroupCommitOptions) {
  const maxBatch = opts.maxBatch ?? 64;
  const queue: Pending[] = [];
  let active = 0;
  let scheduled = false;

  function kick(): void {
    if (scheduled || active >= opts.runners || queue.length === 0) return;
    scheduled = true;
    // setImmediate, not a microtask: the requests read in this turn of the loop join the batch.
    setImmediate(() => {
      scheduled = false;
      const pause = active === 0 && queue.length > 0 ? opts.pauseBeforeBatch?.() : undefined;
      if (pause) {
        // Counted as running: no batch starts until the pause is over.
        active++;
        void pause.finally(() => {
          active--;
          kick();
        });
        return;
      }
      while (active < opts.runners && queue.length > 0) {
        const batch = queue.splice(0, maxBatch);
        active++;
        void runBatch(batch).finally(() => {
          active--;
          kick();
        });
      }
    });
  }

  /** Runs one of the transaction's own statements (begin, savepoints, commit). */
  const run = async (conn: Kysely<DB>, text: string): Promise<void> => {
    if (opts.direct) opts.direct(text, []);
    else await sql.raw(text).execute(conn);
  };

  async function runBatch(batch: Pending[], withSavepoints = !opts.writeLog): Promise<void> {
    const outcomes: Outcome[] = [];
    const again: Pending[] = [];
    const epoch = configEpoch();
    const offLoop = batch.length > 1 || queue.length > 0 || batch.some((item) => item.background);
    const deferred = opts.deferredFlush && offLoop ? opts.deferredFlush : null;
    try {
      await db.connection().execute(async (conn) => {
        if (opts.direct) bindDirect(conn, opts.direct);
        if (!deferred) return inTransaction(conn);
        for (const stmt of deferred.beforeBegin) await run(conn, stmt);
        try {
          await inTransaction(conn);
        } finally {
          for (const stmt of deferred.afterEnd) await run(conn, stmt);
        }
      });
    } catch (error) {
      // Rolled back: the same changes run again, each in its savepoint this time.
      if (error instanceof WroteThenFailed) {
        groupCommitStats.reruns++;
        return runBatch(batch, true);
      }
      // Nothing of this batch committed: every change in it fails, none is acknowledged.
      for (const item of batch) item.reject(error);
      return;
    } finally {
      // A change to workflows or settings is visible (or gone) only now: caches made meanwhile reload.
      if (configEpoch() !== epoch) bumpConfigEpoch();
    }
    const committed = outcomes.filter((o) => o.ok).length;
    groupCommitStats.batches++;
    groupCommitStats.changes += committed;
    groupCommitStats.largest = Math.max(groupCommitStats.largest, committed);
    opts.onBatch?.(committed);
    if (again.length > 0) queue.unshift(...again);
    if (deferred && committed > 0) {
      // Not awaited: the next batch may run while this one's flush is in flight.
      deferred.flush().then(
        () => settle(outcomes),
        (error) => {
          for (const o of outcomes) o.item.reject(o.ok ? error : o.error);
        },
      );
    } else {
      settle(outcomes);
    }

    async function inTransaction(conn: Kysely<DB>): Promise<void> {
      await run(conn, opts.begin);
      opts.writeLog?.guard(true);
      try {
        for (const stmt of opts.afterBegin ?? []) await run(conn, stmt);
        const folded = opts.lastWritesWithCommit;
        /** The change's own failure: it runs again in a later batch, or fails. */
        const failed = (item: Pending, error: unknown): void => {
          if (opts.retryable?.(error) && ++item.tries < MAX_TRIES) again.push(item);
          else outcomes.push({ item, ok: false, error });
        };
        let since = performance.now();
        // The changes of a batch run as one chain of promise callbacks, which never lets the
        // event loop turn: give it a turn every few milliseconds (timers, sockets). Other
        // queries meanwhile wait for this connection, so none sees the open transaction.
        const breathe = async (): Promise<void> => {
          if (performance.now() - since <= YIELD_EVERY_MS) return;
          await new Promise<void>((resolve) => setImmediate(resolve));
          since = performance.now();
        };
        if (batch.length === 1) {
          // Alone in the transaction: a failure rolls the whole transaction back, no savepoint needed.
          const item = batch[0] as Pending;
          let value: unknown;
          try {
            value = await item.fn(conn);
          } catch (error) {
            // Unless the database already ended the transaction (an I/O error): the change then fails with its own error.
            if (opts.writeLog?.open() !== false) await run(conn, 'rollback');
            failed(item, error);
            return;
          }
          if (folded) {
            try {
              await run(conn, 'commit');
            } catch (e) {
              const own = folded.ownFailure(e);
              if (own === undefined) throw e;
              await run(conn, 'rollback');
              failed(item, own);
              return;
            }
            outcomes.push({ item, ok: true, value });
            return;
          }
          outcomes.push({ item, ok: true, value });
        } else if (!withSavepoints && !folded && opts.writeLog) {
          const log = opts.writeLog;
          for (const item of batch) {
            await breathe();
            const before = log.writes();
            let value: unknown;
            try {
              value = await item.fn(conn);
            } catch (error) {
              // Wrote something first, or the database ended the transaction itself (an I/O error):
              // only a rollback of everything undoes it.
              if (log.writes() !== before || !log.open()) throw new WroteThenFailed();
              failed(item, error);
              continue;
            }
            // A transaction ended under a change that went on is caught by the connection's guard:
            // the next statement fails, and with it the change that runs it.
            outcomes.push({ item, ok: true, value });
          }
        } else {
          /** The last change, when its writes go with the COMMIT: answered once that went through. */
          let last: { item: Pending; value: unknown } | undefined;
          for (const [i, item] of batch.entries()) {
            await breathe();
            await run(conn, 'savepoint change');
            try {
              const value = await item.fn(conn);
              if (folded && i === batch.length - 1) {
                last = { item, value };
                break;
              }
              if (folded) await run(conn, folded.flush);
              await run(conn, 'release savepoint change');
              outcomes.push({ item, ok: true, value });
            } catch (error) {
              // If this fails too, the transaction itself is broken: the whole batch fails below.
              await run(conn, 'rollback to savepoint change');
              await run(conn, 'release savepoint change');
              failed(item, error);
            }
          }
          if (folded && last) {
            try {
              await run(conn, 'commit');
              outcomes.push({ item: last.item, ok: true, value: last.value });
              return;
            } catch (e) {
              const own = folded.ownFailure(e);
              if (own === undefined) throw e;
              // The last change's writes failed and the COMMIT never ran: the others commit without it.
              await run(conn, 'rollback to savepoint change');
              await run(conn, 'release savepoint change');
              failed(last.item, own);
            }
          }
        }
        await run(conn, 'commit');
      } catch (e) {
        await run(conn, 'rollback').catch(() => undefined);
        throw e;
      } finally {
        opts.writeLog?.guard(false);
      }
    }
  }

  function settle(outcomes: Outcome[]): void {
    for (const o of outcomes) {
      if (o.ok) o.item.resolve(o.value);
      else o.item.reject(o.error);
    }
  }

  return function transaction<T>(fn: (tx: Kysely<DB>) => Promise<T>, options?: TransactionOptions): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      queue.push({ fn, resolve: resolve as (v: unknown) => void, reject, tries: 0, background: options?.background === true });
      kick();
    });
  };
}
