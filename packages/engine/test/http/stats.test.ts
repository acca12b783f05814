import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../dialects.js';
import { createTestOrderflow, expectProblem, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow;
afterEach(async () => {
  await t?.close();
});

for (const dialect of DIALECTS) {
  describe(`stats (${dialect})`, () => {
    it('answers 404 for an unknown workflow like every other route', async () => {
      t = await createTestOrderflow({ dialect });
      expectProblem(await t.request('viewer', { method: 'GET', url: '/api/v1/stats?workflow=nope' }), 404, 'not_found');
      const known = await t.request('viewer', { method: 'GET', url: '/api/v1/stats?workflow=orders' });
      expect(known.statusCode, known.body).toBe(200);
      expect((await t.request('viewer', { method: 'GET', url: '/api/v1/stats' })).statusCode).toBe(200);
    });
  });
}
