import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../dialects.js';
import { createTestOrderflow, expectProblem, json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow;
afterEach(async () => {
  await t?.close();
});

for (const dialect of DIALECTS) {
  describe(`automation kill switch (${dialect})`, () => {
    it('refuses unknown query parameters on pause and resume, naming them, and changes nothing', async () => {
      t = await createTestOrderflow({ dialect });
      const state = async () => json(await t.request('viewer', { method: 'GET', url: '/api/v1/automation' }));
      const before = await state();
      expect(before.paused).toBe(false);

      for (const query of ['foo=1', 'worklow=orders', 'workflow=orders&rules=orders:delay-apology']) {
        const res = await t.request('admin', { method: 'POST', url: `/api/v1/automation/pause?${query}` });
        const problem = expectProblem(res, 422, 'validation_failed');
        const name = query.split('&').at(-1)?.split('=')[0] as string;
        expect(problem.errors).toContainEqual({ path: `query.${name}`, message: expect.stringContaining(name) });
        expect(await state()).toEqual(before);
      }

      // A pause of one workflow, then a resume with a typo: it stays paused.
      expect((await t.request('admin', { method: 'POST', url: '/api/v1/automation/pause?workflow=orders' })).statusCode).toBe(200);
      const paused = await state();
      expect(paused.workflows).toEqual(['orders']);
      expectProblem(
        await t.request('admin', { method: 'POST', url: '/api/v1/automation/resume?worklow=orders' }),
        422,
        'validation_failed',
      );
      expect(await state()).toEqual(paused);
      const resumed = await t.request('admin', { method: 'POST', url: '/api/v1/automation/resume?workflow=orders' });
      expect(json(resumed).workflows).toEqual([]);
    });

    it('refuses unknown query parameters on the other routes that take a query and change something', async () => {
      t = await createTestOrderflow({ dialect });
      const res = await t.request('designer', {
        method: 'POST',
        url: '/api/v1/workflows?publsh=true',
        body: {
          key: 'x',
          name: 'X',
          states: [
            { key: 'a', name: 'A', group: 'new', initial: true, color: '#64748b' },
            { key: 'b', name: 'B', group: 'completed', color: '#16a34a' },
            { key: 'c', name: 'C', group: 'cancelled', color: '#9ca3af' },
          ],
          transitions: [
            { from: 'a', to: 'b' },
            { from: 'a', to: 'c' },
          ],
        },
      });
      expectProblem(res, 422, 'validation_failed');
      expectProblem(await t.request('viewer', { method: 'GET', url: '/api/v1/workflows/x' }), 404, 'not_found');
    });
  });
}
