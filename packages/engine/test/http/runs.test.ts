import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../dialects.js';
import { createTestOrderflow, demoOrder, expectProblem, json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow;
afterEach(async () => {
  await t?.close();
});

for (const dialect of DIALECTS) {
  describe(`rule runs (${dialect})`, () => {
    it('filters by the bare rule id and by workflow:rule, the form the kill switch takes', async () => {
      t = await createTestOrderflow({ dialect });
      await demoOrder(t, ['awaiting_payment', 'packing', 'shipping', 'delayed']);
      const runs = async (rule: string) =>
        json(await t.request('viewer', { method: 'GET', url: `/api/v1/runs?rule=${encodeURIComponent(rule)}` })).items;

      const bare = await runs('delay-apology');
      expect(bare.length).toBeGreaterThan(0);
      expect(bare.every((r: { ruleId: string }) => r.ruleId === 'delay-apology')).toBe(true);
      expect(await runs('orders:delay-apology')).toEqual(bare);
      expect(await runs('subscriptions:delay-apology')).toEqual([]);
      expectProblem(await t.request('viewer', { method: 'GET', url: '/api/v1/runs?rule=a:b:c' }), 422, 'validation_failed');
    });

    it("keeps a transition's rule runs in the history row it appends, and lists them", async () => {
      t = await createTestOrderflow({ dialect });
      const order = await demoOrder(t, ['awaiting_payment', 'packing', 'shipping', 'delayed']);
      const db = t.of.store.db;
      // Every change of this order appended history, so no run of it is in a set of its own.
      expect(await db.selectFrom('rule_run_sets').select('last_id').where('order_id', '=', order.id).execute()).toEqual([]);
      const held = await db
        .selectFrom('history')
        .select(['seq', 'type', 'runs_count'])
        .where('order_id', '=', order.id)
        .where('runs_key', 'is not', null)
        .orderBy('seq')
        .execute();
      expect(held.length).toBeGreaterThan(0);
      const stored = held.reduce((n, r) => n + Number(r.runs_count), 0);
      const listed = json(await t.request('viewer', { method: 'GET', url: `/api/v1/runs?orderId=${order.id}&limit=500` })).items;
      expect(listed.length).toBe(stored);
      expect(listed.every((r: { orderId: string }) => r.orderId === order.id)).toBe(true);
      const apology = listed.filter((r: { ruleId: string; matched: boolean }) => r.ruleId === 'delay-apology' && r.matched);
      expect(apology).toHaveLength(1);
      expect(apology[0].actions.map((a: { type: string }) => a.type)).toEqual(['send_email', 'webhook']);
    });
  });
}
