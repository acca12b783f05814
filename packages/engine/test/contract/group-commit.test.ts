import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Kysely, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createGroupCommit, groupCommitStats } from '../../src/store/group-commit.js';
import type { DB } from '../../src/store/schema.js';
import { createSqliteStore, walFlushStats } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/store.js';
import { DIALECTS, freshStore, openStoreAt } from '../dialects.js';

/**
 * Group commit: concurrent changes share one transaction, each in its own savepoint. A change
 * that throws rolls back alone; the others commit; every change is answered after the COMMIT.
 */
for (const dialect of DIALECTS) {
  describe(`group commit (${dialect})`, () => {
    let store: Store;
    let cleanup: (() => Promise<void>) | undefined;
    afterEach(async () => {
      await cleanup?.();
      cleanup = undefined;
    });

    const insertSetting = (key: string) => store.transaction((tx) => tx.insertInto('settings').values({ key, value_json: '1' }).execute());
    const keys = async () =>
      (await store.db.selectFrom('settings').select('key').where('key', 'like', 'gc-%').orderBy('key').execute()).map((r) => r.key);

    it('shares commits between concurrent changes, and a failing change rolls back alone', async () => {
      ({ store, cleanup } = await freshStore(dialect));
      const before = { ...groupCommitStats };
      const results = await Promise.allSettled(
        Array.from({ length: 40 }, (_, i) =>
          i % 10 === 3
            ? store.transaction(async (tx) => {
                // Writes, then fails: its write must not survive.
                await tx
                  .insertInto('settings')
                  .values({ key: `gc-failed-${i}`, value_json: '1' })
                  .execute();
                throw new Error(`change ${i} refused`);
              })
            : insertSetting(`gc-${String(i).padStart(2, '0')}`),
        ),
      );
      const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [i] : []));
      expect(failed).toEqual([3, 13, 23, 33]);
      const expected = Array.from({ length: 40 }, (_, i) => i)
        .filter((i) => i % 10 !== 3)
        .map((i) => `gc-${String(i).padStart(2, '0')}`);
      expect(await keys()).toEqual(expected);
      // Fewer commits than changes: they were shared (counted over this test's commits only).
      const batches = groupCommitStats.batches - before.batches;
      expect(batches).toBeLessThan(36);
      expect((groupCommitStats.changes - before.changes) / batches).toBeGreaterThan(1);
    });

    it('answers a change only after the COMMIT that carries it', async () => {
      let url: string;
      ({ store, url, cleanup } = await freshStore(dialect));
      // A second connection (another process, as far as the database can tell) sees only what
      // was committed: each change must be there the moment it is answered.
      const other = openStoreAt(url);
      try {
        const seenAtAnswer = await Promise.all(
          Array.from({ length: 20 }, async (_, i) => {
            const key = `gc-seen-${i}`;
            await insertSetting(key);
            const r = await other.db.selectFrom('settings').select('key').where('key', '=', key).execute();
            return r.length === 1;
          }),
        );
        expect(seenAtAnswer.every(Boolean)).toBe(true);
      } finally {
        await other.close();
      }
    });

    it('gives the event loop a turn during a long batch', async () => {
      ({ store, cleanup } = await freshStore(dialect));
      let timerFiredAt = -1;
      let answered = 0;
      const busy = (ms: number) => {
        const end = performance.now() + ms;
        while (performance.now() < end) {
          // spin: a change that takes CPU time
        }
      };
      setTimeout(() => {
        timerFiredAt = answered;
      }, 0);
      await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          store
            .transaction(async (tx) => {
              busy(3);
              await tx
                .insertInto('settings')
                .values({ key: `gc-busy-${i}`, value_json: '1' })
                .execute();
            })
            .then(() => {
              answered++;
            }),
        ),
      );
      // 12 changes of 3 ms in one batch: the timer ran before the batch was answered.
      expect(timerFiredAt).toBe(0);
    });
  });
}

/** A commit whose flush the test controls: answers wait for it, the next batch does not. */
describe('group commit with a flush after the COMMIT', () => {
  let dir: string;
  let store: Store;
  afterEach(async () => {
    await store?.close().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('answers only once the flush ends, runs the next batch meanwhile, and fails the batch if the flush fails', async () => {
    dir = mkdtempSync(join(tmpdir(), 'orderflow-flush-'));
    store = createSqliteStore({ path: join(dir, 'a.db'), synchronous: 'NORMAL' });
    await store.migrate();
    const flushes: { resolve: () => void; reject: (e: unknown) => void }[] = [];
    const transaction = createGroupCommit(store.db, {
      begin: 'begin immediate',
      runners: 1,
      deferredFlush: {
        beforeBegin: [],
        afterEnd: [],
        flush: () => new Promise<void>((resolve, reject) => flushes.push({ resolve, reject })),
      },
    });
    const put = (key: string) => transaction((tx) => tx.insertInto('settings').values({ key, value_json: '1' }).execute());
    const stored = async (key: string) => (await store.db.selectFrom('settings').select('key').where('key', '=', key).execute()).length;
    const until = async (cond: () => boolean | Promise<boolean>) => {
      for (let i = 0; i < 500 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 2));
    };

    let firstAnswered = false;
    // Two at once: a shared batch (a lone change with nothing behind it commits the plain way).
    const first = Promise.all([put('flush-1'), put('flush-1b')]).then(() => {
      firstAnswered = true;
    });
    await until(() => flushes.length === 1);
    // Committed (visible), but not answered while its flush is in flight.
    expect(await stored('flush-1')).toBe(1);
    expect(firstAnswered).toBe(false);
    // The next batch commits meanwhile: it does not wait for the first flush.
    const second = Promise.all([put('flush-2'), put('flush-2b')]);
    await until(() => flushes.length === 2);
    expect(await stored('flush-2')).toBe(1);
    expect(firstAnswered).toBe(false);
    flushes[0]?.resolve();
    await first;
    expect(firstAnswered).toBe(true);
    // A failed flush: the change's durability is unknown, so it is not acknowledged.
    flushes[1]?.reject(new Error('EIO'));
    await expect(second).rejects.toThrow('EIO');
  });

  it('on SQLite at FULL, flushes the WAL after each shared COMMIT and before its answers', async () => {
    dir = mkdtempSync(join(tmpdir(), 'orderflow-flush-'));
    // Flushes completed when each shared COMMIT returned, by batch; and per change, its batch.
    const flushesAtCommit: number[] = [];
    const checks: { batch: number; flushesAtAnswer: number }[] = [];
    store = createSqliteStore({
      path: join(dir, 'b.db'),
      onBatch: () => {
        flushesAtCommit.push(walFlushStats.flushes);
      },
    });
    await store.migrate();
    flushesAtCommit.length = 0;
    await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        let batch = -1;
        await store.transaction(async (tx) => {
          batch = flushesAtCommit.length;
          await tx
            .insertInto('settings')
            .values({ key: `wal-${i}`, value_json: '1' })
            .execute();
        });
        checks.push({ batch, flushesAtAnswer: walFlushStats.flushes });
      }),
    );
    expect(checks).toHaveLength(30);
    // Every answer came after a flush that ended after the COMMIT carrying it.
    for (const c of checks) expect(c.flushesAtAnswer).toBeGreaterThan(flushesAtCommit[c.batch] as number);
    // A lone change with nothing behind it commits at FULL itself: no flush from the pool.
    const before = walFlushStats.requested;
    await store.transaction((tx) => tx.insertInto('settings').values({ key: 'wal-lone', value_json: '1' }).execute());
    expect(walFlushStats.requested).toBe(before);
    // A lone change in the background (the worker's) is flushed from the pool before its answer.
    const flushed = walFlushStats.flushes;
    await store.transaction((tx) => tx.insertInto('settings').values({ key: 'wal-background', value_json: '1' }).execute(), {
      background: true,
    });
    expect(walFlushStats.requested).toBe(before + 1);
    expect(walFlushStats.flushes).toBeGreaterThan(flushed);
    // Outside its shared transactions, the connection stays at FULL (2) for everything else.
    const { sqlitePragma } = await import('../../src/store/sqlite.js');
    expect(await sqlitePragma(store, 'synchronous')).toBe(2);
  });

  it('on SQLite at FULL, a failed flush of the WAL fails its batch and every later change, and the store is no longer ready', async () => {
    dir = mkdtempSync(join(tmpdir(), 'orderflow-flush-fail-'));
    const path = join(dir, 'd.db');
    store = createSqliteStore({ path });
    await store.migrate();
    const s = store;
    const put = (key: string) => s.transaction((tx) => tx.insertInto('settings').values({ key, value_json: '1' }).execute());
    // A lone change commits at FULL itself: the WAL exists, and the pool has not flushed it yet.
    await put('ff-lone');
    expect(await s.ready()).toBe(true);
    // The flush of the next shared commit cannot open the WAL: it fails, as a failing disk would.
    renameSync(`${path}-wal`, `${path}-wal.away`);
    const failed = await Promise.allSettled([put('ff-a'), put('ff-b'), put('ff-c')]);
    renameSync(`${path}-wal.away`, `${path}-wal`);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    const reason = (failed[0] as PromiseRejectedResult).reason as Error;
    expect(reason.message).toMatch(/Flushing the database's WAL to disk failed \(ENOENT\).*restart Orderflow/);
    // The WAL can be opened again, but what the failed flush should have covered is not known to
    // be on disk: no later change is answered, alone or shared, and readiness says so.
    await expect(put('ff-later')).rejects.toBe(reason);
    const later = await Promise.allSettled([put('ff-d'), put('ff-e')]);
    expect(later.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(await s.ready()).toBe(false);
  });

  it('on SQLite, keeps savepoints in memory: a change of a batch that wrote hundreds of pages and failed rolls back alone', async () => {
    dir = mkdtempSync(join(tmpdir(), 'orderflow-subjournal-'));
    const batches: number[] = [];
    store = createSqliteStore({ path: join(dir, 'c.db'), onBatch: (size) => batches.push(size) });
    await store.migrate();
    const { sqlitePragma } = await import('../../src/store/sqlite.js');
    // 2 = MEMORY: the savepoints' sub-journal is SQLite's in-memory one (see sqlite.ts).
    expect(await sqlitePragma(store, 'temp_store')).toBe(2);
    const big = 'x'.repeat(3000);
    const put = (key: string) => store.transaction((tx) => tx.insertInto('settings').values({ key, value_json: '1' }).execute());
    const results = await Promise.allSettled([
      put('sj-a'),
      store.transaction(async (tx) => {
        // About 300 pages: far past the 64 KiB a sub-journal holds before SQLite would move it to a file.
        for (let i = 0; i < 400; i++) {
          await tx
            .insertInto('settings')
            .values({ key: `sj-big-${i}`, value_json: JSON.stringify(big) })
            .execute();
        }
        await tx.updateTable('settings').set({ value_json: '2' }).where('key', '=', 'sj-a').execute();
        throw new Error('refused after writing');
      }),
      put('sj-c'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    // One shared transaction: the two others committed together, around the failed one's savepoint.
    expect(batches).toContain(2);
    const rows = await store.db.selectFrom('settings').select(['key', 'value_json']).where('key', 'like', 'sj-%').orderBy('key').execute();
    expect(rows).toEqual([
      { key: 'sj-a', value_json: '1' },
      { key: 'sj-c', value_json: '1' },
    ]);
    expect(await sqlitePragma(store, 'integrity_check')).toBe('ok');
  });
});

/**
 * On SQLite the changes of a shared transaction run without a savepoint each: one that fails
 * before writing needs no undo. One that fails after writing rolls everything back, and the
 * batch runs again with savepoints, so it still fails alone.
 */
describe('group commit on SQLite without savepoints', () => {
  let dir: string;
  let store: Store;
  afterEach(async () => {
    await store?.close().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function open(): Promise<number[]> {
    dir = mkdtempSync(join(tmpdir(), 'orderflow-nosavepoint-'));
    const batches: number[] = [];
    store = createSqliteStore({ path: join(dir, 'n.db'), onBatch: (size) => batches.push(size) });
    await store.migrate();
    return batches;
  }

  /** A change that writes its key; it records, per run, whether it ran inside the savepoint `change`. */
  function writer(key: string, runs: boolean[]) {
    return store.transaction(async (tx) => {
      // Rolling back to a savepoint that does not exist fails; to one that does, it undoes nothing yet.
      runs.push(
        await sql
          .raw('rollback to savepoint change')
          .execute(tx)
          .then(
            () => true,
            () => false,
          ),
      );
      await tx.insertInto('settings').values({ key, value_json: '1' }).execute();
    });
  }
  const keys = async () =>
    (await store.db.selectFrom('settings').select('key').where('key', 'like', 'ns-%').orderBy('key').execute()).map((r) => r.key);

  it('a change that fails before writing leaves the others running once, with no savepoint, in one transaction', async () => {
    const batches = await open();
    const reruns = groupCommitStats.reruns;
    const a: boolean[] = [];
    const c: boolean[] = [];
    const results = await Promise.allSettled([
      writer('ns-a', a),
      store.transaction(async (tx) => {
        // Reads, and an update that matches no row: nothing written.
        await tx.selectFrom('settings').selectAll().execute();
        await tx.updateTable('settings').set({ value_json: '2' }).where('key', '=', 'ns-none').execute();
        throw new Error('refused before writing');
      }),
      writer('ns-c', c),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.message).toBe('refused before writing');
    expect(a).toEqual([false]);
    expect(c).toEqual([false]);
    expect(batches).toEqual([2]);
    expect(groupCommitStats.reruns).toBe(reruns);
    expect(await keys()).toEqual(['ns-a', 'ns-c']);
  });

  for (const how of ['an UPDATE', 'an INSERT … RETURNING'] as const) {
    it(`a change that fails after writing (${how}) rolls back alone: the batch runs again with savepoints`, async () => {
      const batches = await open();
      await store.transaction((tx) => tx.insertInto('settings').values({ key: 'ns-b', value_json: '1' }).execute());
      batches.length = 0;
      const reruns = groupCommitStats.reruns;
      const a: boolean[] = [];
      const c: boolean[] = [];
      let tries = 0;
      const results = await Promise.allSettled([
        writer('ns-a', a),
        store.transaction(async (tx) => {
          tries++;
          if (how === 'an UPDATE') await tx.updateTable('settings').set({ value_json: '2' }).where('key', '=', 'ns-b').execute();
          else await tx.insertInto('settings').values({ key: 'ns-b2', value_json: '1' }).returning('key').execute();
          throw new Error('refused after writing');
        }),
        writer('ns-c', c),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      // The first run, without savepoints, stopped at the failure and was rolled back; the second
      // ran each change in a savepoint.
      expect(a).toEqual([false, true]);
      expect(c).toEqual([true]);
      expect(tries).toBe(2);
      expect(batches).toEqual([2]);
      // Counted for the metric orderflow_commit_reruns_total.
      expect(groupCommitStats.reruns).toBe(reruns + 1);
      expect(await keys()).toEqual(['ns-a', 'ns-b', 'ns-c']);
      const b = await store.db.selectFrom('settings').select('value_json').where('key', '=', 'ns-b').executeTakeFirstOrThrow();
      expect(b.value_json).toBe('1');
    });
  }

  // What SQLite does after some errors (a full disk, an I/O error): the transaction ends under the
  // change. However the change goes on, nothing of the batch may be written, least of all outside
  // a transaction, where each statement would commit on its own.
  const ends = {
    'and throws': async (tx: Kysely<DB>) => {
      await sql.raw('rollback').execute(tx);
      throw new Error('the transaction is gone');
    },
    'and still succeeds': async (tx: Kysely<DB>) => {
      await sql.raw('rollback').execute(tx);
    },
    'and goes on writing': async (tx: Kysely<DB>) => {
      await sql.raw('rollback').execute(tx);
      await tx.insertInto('settings').values({ key: 'ns-b', value_json: '1' }).execute();
    },
  };
  for (const [how, change] of Object.entries(ends)) {
    it(`a change of a batch that ends the transaction ${how}: the batch fails and nothing is written`, async () => {
      const batches = await open();
      const results = await Promise.allSettled([writer('ns-a', []), store.transaction(change), writer('ns-c', [])]);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
      expect(batches).toEqual([]);
      expect(await keys()).toEqual([]);
      // The store takes changes again afterwards.
      await writer('ns-after', []);
      expect(await keys()).toEqual(['ns-after']);
    });
  }

  it('a lone change that ends the transaction and goes on writing: its write is refused and it fails', async () => {
    await open();
    await expect(store.transaction(ends['and goes on writing'])).rejects.toThrow('The write transaction ended under this change');
    expect(await keys()).toEqual([]);
    await writer('ns-after', []);
    expect(await keys()).toEqual(['ns-after']);
  });
});
