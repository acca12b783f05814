import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../dialects.js';
import { createTestOrderflow, expectProblem, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow;
afterEach(async () => {
  await t?.close();
});

for (const dialect of DIALECTS) {
  describe(`authentication challenges (${dialect})`, () => {
    it('sends WWW-Authenticate: Bearer with every 401', async () => {
      t = await createTestOrderflow({ dialect, demo: false });
      const none = await t.request('anonymous', { method: 'GET', url: '/api/v1/orders' });
      expectProblem(none, 401, 'unauthorized');
      expect(none.headers['www-authenticate']).toBe('Bearer');

      const unknown = await t.request('anonymous', {
        method: 'GET',
        url: '/api/v1/orders',
        headers: { authorization: 'Bearer of_not-a-real-token' },
      });
      expectProblem(unknown, 401, 'unauthorized');
      expect(unknown.headers['www-authenticate']).toBe('Bearer error="invalid_token"');

      // Another scheme is a request without a bearer token; a bearer header without a token is malformed.
      const basic = await t.request('anonymous', { method: 'GET', url: '/api/v1/orders', headers: { authorization: 'Basic eDp5' } });
      expectProblem(basic, 401, 'unauthorized');
      expect(basic.headers['www-authenticate']).toBe('Bearer');
      const empty = await t.request('anonymous', { method: 'GET', url: '/api/v1/orders', headers: { authorization: 'Bearer' } });
      expectProblem(empty, 401, 'unauthorized');
      expect(empty.headers['www-authenticate']).toBe('Bearer error="invalid_request"');

      const signIn = await t.request('anonymous', { method: 'POST', url: '/api/v1/session', body: { token: 'of_wrong' } });
      expectProblem(signIn, 401, 'unauthorized');
      expect(signIn.headers['www-authenticate']).toMatch(/^Bearer\b/);

      const metrics = await t.request('anonymous', { method: 'GET', url: '/metrics' });
      expectProblem(metrics, 401, 'unauthorized');
      expect(metrics.headers['www-authenticate']).toMatch(/^Bearer\b/);
    });
  });
}
