import type { CompiledQuery, Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as queue from '../../src/store/queue.js';
import type { DB } from '../../src/store/schema.js';
import { DIALECTS } from '../dialects.js';
import { count, createAutomationTest, createOrder, hookWorkflow, move, publishWorkflow } from '../helpers/automation.js';
import type { TestOrderflow } from '../helpers/orderflow.js';

/**
 * `tx` with a count of the writes it sends to the database, by kind. Through the proxy the
 * statements take the transaction's plain path (no direct runner is bound to it), where each
 * one is one query.
 */
function counting(tx: Kysely<DB>) {
  const calls = { update: 0, insert: 0 };
  const proxy = new Proxy(tx, {
    get(target, key) {
      if (key === 'executeQuery') {
        return (q: CompiledQuery) => {
          // A leading comment marks the writes the PostgreSQL leaf may hold; the statement follows it.
          const kind = /^\s*(?:\/\*[^*]*\*\/\s*)?(update|insert)\b/i.exec(q.sql)?.[1]?.toLowerCase();
          if (kind === 'update' || kind === 'insert') calls[kind]++;
          return target.executeQuery(q);
        };
      }
      const v = Reflect.get(target, key);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { tx: proxy, calls };
}

let t: TestOrderflow;

for (const dialect of DIALECTS) {
  describe(`recording delivery attempts in batches (${dialect})`, () => {
    beforeEach(async () => {
      t = await createAutomationTest({ dialect, demo: false });
      await publishWorkflow(t, hookWorkflow('hooked', [{ type: 'webhook', url: 'https://hooks.example.com/in' }]));
      for (let i = 0; i < 9; i++) await move(t, (await createOrder(t, 'hooked')).id, 'working');
    });
    afterEach(async () => {
      await t.close();
    });

    it('updates the deliveries delivered on one claim with one statement and inserts all attempt rows with one, skipping a delivery whose lease was taken over', async () => {
      const now = t.of.clock.now().toISOString();
      const o = (token: string) => ({
        now,
        leaseUntil: new Date(t.of.clock.now().getTime() + 60_000).toISOString(),
        token,
        limit: 100,
        automation: { paused: false, workflows: [], rules: [] },
        rowLocks: t.of.store.capabilities.rowLocks,
      });
      const rows = await t.of.store.transaction((tx) => queue.claimDue(tx, 'deliveries', o('lse_mine')));
      expect(rows).toHaveLength(9);
      expect(rows.map((r) => r.id)).toEqual([...rows.map((r) => r.id)].sort());
      const completion = (id: string, status: 'delivered' | 'pending', n: number): queue.DeliveryCompletion => ({
        id,
        token: 'lse_mine',
        status,
        attempt: 1,
        nextAttemptAt: status === 'pending' ? new Date(t.of.clock.now().getTime() + 10_000).toISOString() : now,
        error: status === 'pending' ? 'HTTP 503' : null,
        at: now,
        attemptRow: {
          id: `att_${n}`,
          startedAt: now,
          durationMs: 1,
          outcome: status === 'pending' ? 'retry' : 'delivered',
          statusCode: status === 'pending' ? 503 : 200,
          responseBody: null,
        },
      });
      const list = rows.map((r, i) => completion(r.id, i === 8 ? 'pending' : 'delivered', i));
      // Another worker took the first delivery over.
      await t.of.store.db
        .updateTable('deliveries')
        .set({ lease_token: 'lse_other' })
        .where('id', '=', (rows[0] as { id: string }).id)
        .execute();

      const seen = { update: 0, insert: 0 };
      const held = await t.of.store.transaction(async (tx) => {
        const c = counting(tx);
        const r = await queue.completeDeliveries(c.tx, list);
        Object.assign(seen, c.calls);
        return r;
      });

      expect([...held].map((c) => c.id).sort()).toEqual(list.slice(1).map((c) => c.id));
      // One update for the eight delivered (one of them no longer held), one for the retry; one insert for the eight attempt rows.
      expect(seen).toEqual({ update: 2, insert: 1 });
      expect(await count(t, 'delivery_attempts')).toBe(8);
      const status = await t.of.store.db
        .selectFrom('deliveries')
        .select(['id', 'status', 'attempts', 'lease_token'])
        .orderBy('id')
        .execute();
      expect(status.map((s) => [s.status, Number(s.attempts), s.lease_token])).toEqual([
        ['pending', 0, 'lse_other'],
        ...Array.from({ length: 7 }, () => ['delivered', 1, null]),
        ['pending', 1, null],
      ]);
    });
  });
}
