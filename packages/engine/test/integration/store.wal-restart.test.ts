// SQLite only. The checkpoint thread runs from the compiled build (dist), as in production: from
// sources the store keeps SQLite's own checkpoints.
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type * as SqliteModule from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/store.js';

const BUILT = resolve(import.meta.dirname, '../../dist/store/sqlite.js');
const FRAME = 4096 + 24;

/** The WAL header's first salt: SQLite changes it each time it starts the WAL over. */
function walSalt(wal: string): number {
  const fd = openSync(wal, 'r');
  try {
    const header = Buffer.alloc(32);
    readSync(fd, header, 0, 32, 0);
    return header.readUInt32BE(16);
  } finally {
    closeSync(fd);
  }
}

describe('the WAL under steady writes (SQLite)', () => {
  let dir: string | undefined;
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('starts over when the checkpoint thread asks for a pause between batches, without the writer checkpointing', async () => {
    expect(existsSync(BUILT), 'run `npm run build` first: the checkpoint thread runs from dist').toBe(true);
    const { createSqliteStore, checkpointPauseStats } = (await import(BUILT)) as typeof SqliteModule;
    dir = mkdtempSync(join(tmpdir(), 'orderflow-wal-'));
    const path = join(dir, 'a.db');
    const wal = `${path}-wal`;
    // A writer's own checkpoint would start the WAL over too: its backstop is set out of reach here.
    store = createSqliteStore({ path, checkpoints: { everyMs: 20, restartPages: 300, backstopPages: 1_000_000 } });
    await store.migrate();
    const s = store;
    const before = { ...checkpointPauseStats };
    const salts = new Set<number>();
    let largest = 0;
    let rows = 0;
    const value = JSON.stringify('x'.repeat(3000));
    // Batches of 20 changes back to back, each row about a page: about 4,000 pages in all, more
    // than ten times the pages at which the thread asks. Bounded in time as well.
    const end = Date.now() + 20_000;
    while (rows < 4000 && Date.now() < end) {
      await Promise.all(
        Array.from({ length: 20 }, () => {
          const key = `wal-${rows++}`;
          return s.transaction((tx) => tx.insertInto('settings').values({ key, value_json: value }).execute());
        }),
      );
      salts.add(walSalt(wal));
      largest = Math.max(largest, statSync(wal).size);
    }
    expect(rows).toBeGreaterThanOrEqual(4000);
    const pauses = checkpointPauseStats.paused - before.paused;
    expect(pauses).toBeGreaterThanOrEqual(3);
    // Started over at least once per granted pause but the last.
    expect(salts.size).toBeGreaterThanOrEqual(3);
    // Never near what was written: the file stayed within a few rounds' worth of the threshold.
    expect(largest / FRAME).toBeLessThan(2000);
    const stored = await s.db
      .selectFrom('settings')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('key', 'like', 'wal-%')
      .executeTakeFirstOrThrow();
    expect(Number(stored.n)).toBe(rows);
  });
});
