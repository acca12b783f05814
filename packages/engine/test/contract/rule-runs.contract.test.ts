import type { HistoryEntry, RuleRun } from '@orderflow/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendHistory, insertRuleRuns } from '../../src/store/changes.js';
import { countRuleRunsByMatched, listRuleRuns, type RuleRunFilter } from '../../src/store/rule-runs.js';
import type { Store } from '../../src/store/store.js';
import { DIALECTS, freshStore } from '../dialects.js';

/** A small deterministic generator (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ORDERS = ['ord_a', 'ord_b', 'ord_c'];
// `a_b` checks that `_` in a rule id is not a LIKE wildcard (it would match `axb`).
const RULES = ['paid', 'shipped', 'a_b', 'axb'];

/**
 * `changes` changes as several processes commit them: each stores its runs of one order, with
 * ids drawn from a range that overlaps other changes' ranges (two processes' clocks interleave).
 */
function changesOfRuns(changes: number, seed: number): RuleRun[][] {
  const rnd = random(seed);
  const used = new Set<number>();
  const out: RuleRun[][] = [];
  for (let c = 0; c < changes; c++) {
    const orderId = ORDERS[Math.floor(rnd() * ORDERS.length)] as string;
    const base = c * 10;
    const size = 1 + Math.floor(rnd() * 5);
    const ids: number[] = [];
    while (ids.length < size) {
      const n = base + Math.floor(rnd() * 40);
      if (!used.has(n)) {
        used.add(n);
        ids.push(n);
      }
    }
    ids.sort((x, y) => x - y);
    const at = new Date(Date.UTC(2026, 2, 1, 10, 0, c)).toISOString();
    out.push(
      ids.map((n, k) => ({
        id: `run_${String(n).padStart(8, '0')}`,
        orderId,
        workflow: orderId === 'ord_c' ? 'subscriptions' : 'orders',
        ruleId: RULES[Math.floor(rnd() * RULES.length)] as string,
        trigger: 'state_changed',
        // One run of some changes at another instant than the change's first run.
        at: k === 2 ? new Date(Date.parse(at) + 5).toISOString() : at,
        matched: rnd() < 0.3,
        conditions: rnd() < 0.5 ? null : { result: false, condition: { new_state: 'x' }, children: [] },
        actions: rnd() < 0.5 ? [] : [{ index: 0, type: 'webhook', outcome: 'queued' as const }],
      })),
    );
  }
  return out;
}

/** Every page of `f`, following the cursor as `GET /runs` does (the last run's id). */
async function allPages(store: Store, f: Omit<RuleRunFilter, 'cursor'>): Promise<RuleRun[]> {
  const out: RuleRun[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const rows = await listRuleRuns(store.db, { ...f, ...(cursor ? { cursor } : {}) });
    out.push(...rows);
    if (rows.length < f.limit) return out;
    cursor = rows.at(-1)?.id;
  }
  throw new Error('paging did not end');
}

/** Stores runs one row each in `rule_runs`, as versions before rule_run_sets did. */
async function insertSingleRows(store: Store, runs: RuleRun[]): Promise<void> {
  for (const r of runs) {
    await store.db
      .insertInto('rule_runs')
      .values({
        id: r.id,
        order_id: r.orderId,
        workflow: r.workflow,
        rule_id: r.ruleId,
        trigger: r.trigger,
        at: r.at,
        matched: r.matched ? 1 : 0,
        run_json: JSON.stringify({ conditions: r.conditions, actions: r.actions }),
      })
      .execute();
  }
}

/** History seq per order, for the entries the tests append. */
const seqs = new Map<string, number>();

/**
 * Stores one change's runs (all of one order) the way a change that appends history does: in
 * the last of `entries` new history rows of the order.
 */
async function storeInHistory(tx: Store['db'], runs: RuleRun[], entries = 1): Promise<void> {
  const head = runs[0] as RuleRun;
  const after = seqs.get(head.orderId) ?? 0;
  seqs.set(head.orderId, after + entries);
  const list: HistoryEntry[] = Array.from({ length: entries }, (_, k) => ({
    id: `hst_${head.id}_${k}`,
    at: head.at,
    type: 'data',
    actor: { type: 'system', id: 'test' },
  }));
  await appendHistory(tx, head.orderId, list, after, runs);
}

const newestFirst = (runs: RuleRun[]): RuleRun[] => [...runs].sort((a, b) => (a.id < b.id ? 1 : -1));

for (const dialect of DIALECTS) {
  describe(`rule execution log (${dialect})`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, cleanup } = await freshStore(dialect));
      seqs.clear();
    });
    afterEach(async () => {
      await cleanup();
    });

    it('stores the runs of one change for one order in one row', async () => {
      const [change] = changesOfRuns(1, 7);
      const runs = change as RuleRun[];
      const other = { ...(runs[0] as RuleRun), id: 'run_99999999', orderId: 'ord_z' };
      await store.transaction((tx) => insertRuleRuns(tx, [...runs, other]));
      const rows = await store.db.selectFrom('rule_run_sets').select(['order_id', 'runs']).orderBy('order_id').execute();
      expect(rows.map((r) => [r.order_id, Number(r.runs)])).toEqual([
        [runs[0]?.orderId, runs.length],
        ['ord_z', 1],
      ]);
      expect(await listRuleRuns(store.db, { orderId: runs[0]?.orderId as string, limit: 50 })).toEqual(newestFirst(runs));
    });

    it("stores a change's runs for an order in the last history row it appends for that order", async () => {
      const [change] = changesOfRuns(1, 11);
      const runs = change as RuleRun[];
      await store.transaction((tx) => storeInHistory(tx, runs, 3));
      const rows = await store.db
        .selectFrom('history')
        .select(['seq', 'runs_key', 'runs_first', 'runs_count', 'runs_matched'])
        .where('order_id', '=', runs[0]?.orderId as string)
        .orderBy('seq')
        .execute();
      const ids = runs.map((r) => r.id).sort();
      expect(rows.map((r) => [Number(r.seq), r.runs_key, r.runs_first, r.runs_count === null ? null : Number(r.runs_count)])).toEqual([
        [1, null, null, null],
        [2, null, null, null],
        [3, ids.at(-1), ids[0], runs.length],
      ]);
      expect(Number(rows[2]?.runs_matched)).toBe(runs.filter((r) => r.matched).length);
      expect(await store.db.selectFrom('rule_run_sets').select('last_id').execute()).toEqual([]);
      expect(await listRuleRuns(store.db, { orderId: runs[0]?.orderId as string, limit: 50 })).toEqual(newestFirst(runs));
    });

    it('pages through runs newest first, none twice and none missed, when the ids of changes interleave', async () => {
      const changes = changesOfRuns(260, 42);
      // Some runs as earlier versions stored them, one row each.
      const single = changes.splice(0, 20).flat();
      await insertSingleRows(store, single);
      // Committed in an order other than their ids'.
      const rnd = random(3);
      const shuffled = [...changes].sort(() => rnd() - 0.5);
      for (let i = 0; i < shuffled.length; i += 40) {
        await store.transaction(async (tx) => {
          // Most changes append history and store their runs there; the others in sets.
          for (const c of shuffled.slice(i, i + 40)) {
            if (rnd() < 0.6) await storeInHistory(tx, c, 1 + Math.floor(rnd() * 2));
            else await insertRuleRuns(tx, c);
          }
        });
      }
      const all = [...single, ...changes.flat()];
      const filters: [Omit<RuleRunFilter, 'limit' | 'cursor'>, (r: RuleRun) => boolean][] = [
        [{}, () => true],
        [{ orderId: 'ord_b' }, (r) => r.orderId === 'ord_b'],
        [{ workflow: 'subscriptions' }, (r) => r.workflow === 'subscriptions'],
        [{ rule: 'a_b' }, (r) => r.ruleId === 'a_b'],
        [{ workflow: 'orders', rule: 'shipped' }, (r) => r.workflow === 'orders' && r.ruleId === 'shipped'],
        [{ orderId: 'ord_a', rule: 'paid' }, (r) => r.orderId === 'ord_a' && r.ruleId === 'paid'],
      ];
      for (const [f, keep] of filters) {
        const expected = newestFirst(all.filter(keep));
        expect(expected.length).toBeGreaterThan(20);
        for (const limit of [1, 7, 50, 500]) {
          expect(await allPages(store, { ...f, limit }), `${JSON.stringify(f)} limit ${limit}`).toEqual(expected);
        }
      }
    });

    it('counts runs by whether they matched, in sets, in history rows and in single rows', async () => {
      const changes = changesOfRuns(30, 9);
      const [first, ...rest] = changes;
      await insertSingleRows(store, first as RuleRun[]);
      await store.transaction(async (tx) => {
        for (const [k, c] of rest.entries()) {
          if (k % 2 === 0) await insertRuleRuns(tx, c);
          else await storeInHistory(tx, c);
        }
      });
      const all = changes.flat();
      const matched = all.filter((r) => r.matched).length;
      expect(await countRuleRunsByMatched(store.db)).toEqual([
        { matched: false, n: all.length - matched },
        { matched: true, n: matched },
      ]);
    });
  });
}
