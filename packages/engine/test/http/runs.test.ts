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
  });
}
