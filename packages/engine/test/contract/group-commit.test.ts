import { afterEach, describe, expect, it } from 'vitest';
import { groupCommitStats } from '../../src/store/group-commit.js';
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
