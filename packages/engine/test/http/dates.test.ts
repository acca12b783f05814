import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../dialects.js';
import { createTestOrderflow, demoOrder, expectProblem, json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow;
afterEach(async () => {
  await t?.close();
});

for (const dialect of DIALECTS) {
  describe(`date filters (${dialect})`, () => {
    it('accept a plain date (midnight UTC) as well as a date-time', async () => {
      t = await createTestOrderflow({ dialect });
      const order = await demoOrder(t);
      const ids = async (query: string) => {
        const res = await t.request('viewer', { method: 'GET', url: `/api/v1/orders?workflow=orders&${query}` });
        expect(res.statusCode, res.body).toBe(200);
        return json(res).items.map((o: { id: string }) => o.id);
      };
      const day = order.createdAt.slice(0, 10);
      const next = new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
      expect(await ids(`createdAfter=${day}`)).toContain(order.id);
      expect(await ids(`createdBefore=${day}`)).not.toContain(order.id);
      expect(await ids(`createdBefore=${next}`)).toContain(order.id);
      expect(await ids(`createdAfter=${next}`)).not.toContain(order.id);
      expect(await ids(`createdAfter=${day}T00:00:00Z`)).toContain(order.id);

      for (const bad of ['2026-13-01', '2026-02-30', '01/02/2026', '2026-1-1']) {
        expectProblem(await t.request('viewer', { method: 'GET', url: `/api/v1/orders?createdAfter=${bad}` }), 422, 'validation_failed');
      }
      const timers = await t.request('viewer', { method: 'GET', url: '/api/v1/timers?due_before=2100-01-01' });
      expect(timers.statusCode, timers.body).toBe(200);
    });
  });
}
