import { API_ROUTES, type Definition } from '@orderflow/core';
import { afterEach, describe, expect, it } from 'vitest';
import { insertWorkflow, publishVersion } from '../../src/store/workflows.js';
import { DIALECTS } from '../dialects.js';
import { createAutomationTest, hookWorkflow } from '../helpers/automation.js';
import { json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const SECRETS = ['endpoint-bearer-5ecret', 'endpoint-apikey-5ecret', 'inline-draft-5ecret', 'inline-legacy-5ecret', 'inline-cookie-5ecret'];

for (const dialect of DIALECTS) {
  describe(`configured secrets (${dialect})`, () => {
    it('a viewer reading every GET route never sees a secret a designer configured', async () => {
      t = await createAutomationTest({ dialect });
      const own = t;
      const ep = await own.request('designer', {
        method: 'POST',
        url: '/api/v1/endpoints',
        body: {
          key: 'erp',
          url: 'https://erp.example.com/hooks',
          headers: { Authorization: `Bearer ${SECRETS[0]}`, 'X-Api-Key': SECRETS[1], 'X-Plain': 'plain-value' },
        },
      });
      expect(ep.statusCode, ep.body).toBe(201);
      // A version published before inline credentials were refused, with its deliveries.
      const legacy = hookWorkflow('legacy', [
        { type: 'webhook', url: 'https://hooks.example.com/in', headers: { Authorization: `Bearer ${SECRETS[3]}`, Cookie: SECRETS[4] } },
        { type: 'webhook', endpoint: 'erp' },
      ]) as unknown as Definition;
      const now = new Date().toISOString();
      await own.of.store.transaction(async (tx) => {
        await insertWorkflow(tx, 'legacy', 'Legacy', legacy, now);
        await publishVersion(tx, 'legacy', legacy, 'system', now);
      });
      own.of.runtime.clearCache?.();
      const created = await own.request('operator', { method: 'POST', url: '/api/v1/orders', body: { workflow: 'legacy', data: {} } });
      expect(created.statusCode, created.body).toBe(201);
      const order = json(created).order;
      const moved = await own.request('operator', {
        method: 'POST',
        url: `/api/v1/orders/${order.id}/transitions`,
        body: { to: 'working' },
      });
      expect(moved.statusCode, moved.body).toBe(200);
      const delivery = json(moved).deliveries[0].id;
      // A draft is stored even with errors.
      const draft = hookWorkflow('legacy', [
        { type: 'webhook', url: 'https://hooks.example.com/in', headers: { 'X-Auth-Token': SECRETS[2] } },
      ]);
      const put = await own.request('designer', { method: 'PUT', url: '/api/v1/workflows/legacy/draft', body: draft });
      expect(put.statusCode, put.body).toBeLessThan(300);
      for (const s of SECRETS) expect(put.body.includes(s), put.body.slice(0, 300)).toBe(false);
      await own.of.worker.runOnce();

      const idFor = (path: string) =>
        path.startsWith('/api/v1/orders') ? order.id : path.startsWith('/api/v1/deliveries') ? delivery : 'missing_0';
      const keyFor = (path: string) =>
        path.startsWith('/api/v1/templates') ? 'order_confirmation' : path.startsWith('/api/v1/endpoints') ? 'erp' : 'legacy';
      const urls = API_ROUTES.filter((r) => r.method === 'get' && r.path.startsWith('/api/v1/') && !r.path.endsWith('/stream')).flatMap(
        (r) => {
          const base = r.path.replace('{id}', idFor(r.path)).replace('{key}', keyFor(r.path));
          return r.path === '/api/v1/workflows/{key}'
            ? [base, `${base}?draft=true`, `${base}?version=1`]
            : r.path === '/api/v1/runs'
              ? [base, `${base}?orderId=${order.id}`]
              : [base];
        },
      );
      expect(urls.length).toBeGreaterThan(20);
      let answered = 0;
      for (const url of urls) {
        const res = await own.request('viewer', { method: 'GET', url });
        expect(res.statusCode, url).toBeLessThan(500);
        if (res.statusCode === 200) answered++;
        for (const s of SECRETS) expect(res.body.includes(s), `${url} shows a secret: ${res.body.slice(0, 300)}`).toBe(false);
      }
      expect(answered).toBeGreaterThan(20);
      // The header names stay visible, and a plain header value of a rule is shown as it is.
      const wf = json(await own.request('viewer', { method: 'GET', url: '/api/v1/workflows/legacy' }));
      expect(wf.definition.rules[0].actions[0].headers).toEqual({ Authorization: '[redacted]', Cookie: '[redacted]' });
      const endpoint = json(await own.request('viewer', { method: 'GET', url: '/api/v1/endpoints/erp' }));
      expect(endpoint.headers).toEqual({ Authorization: '[redacted]', 'X-Api-Key': '[redacted]', 'X-Plain': '[redacted]' });
    });
  });
}
