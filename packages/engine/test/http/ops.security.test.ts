import type { HistoryEntry, OutboxEntry } from '@orderflow/core';
import { afterEach, describe, expect, it } from 'vitest';
import { appendHistory, insertDeliveries } from '../../src/store/changes.js';
import { DIALECTS } from '../dialects.js';
import { createAutomationTest, createOrder, hookWorkflow, move, publishWorkflow } from '../helpers/automation.js';
import { createTestOrderflow, demoOrder, expectProblem, json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow;
afterEach(async () => {
  await t?.close();
});

/** Reads every page of a list route; returns the items and the number of pages. */
async function readAll(url: string, limit: number): Promise<{ items: { id: string }[]; pages: number }> {
  const items: { id: string }[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const sep = url.includes('?') ? '&' : '?';
    const res = await t.request('viewer', { method: 'GET', url: `${url}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}` });
    expect(res.statusCode, res.body).toBe(200);
    const page = json(res);
    items.push(...page.items);
    cursor = page.nextCursor;
    pages++;
    expect(pages).toBeLessThan(100);
  } while (cursor);
  return { items, pages };
}

for (const dialect of DIALECTS) {
  describe(`operations safety (${dialect})`, () => {
    it('pages /orders/:id/deliveries and /orders/:id/history to the last item', async () => {
      t = await createTestOrderflow({ dialect, demo: true });
      const order = await demoOrder(t);
      const at = new Date().toISOString();
      const deliveries: OutboxEntry[] = Array.from({ length: 520 }, (_, i) => ({
        id: `dlv_page${String(i).padStart(4, '0')}`,
        orderId: order.id,
        workflow: 'orders',
        type: 'notify',
        ruleId: null,
        action: { type: 'notify', channel: 'ops', message: `n${i}` },
        envelope: { id: `evt_${i}`, type: 'test', createdAt: at, data: { order } },
        createdAt: at,
      }));
      const history: HistoryEntry[] = Array.from({ length: 520 }, (_, i) => ({
        id: `hst_page${i}`,
        at,
        type: 'data',
        actor: { type: 'system', id: 'test' },
        patch: { i },
      }));
      for (let i = 0; i < 520; i += 100) {
        await t.of.store.transaction(async (tx) => {
          await insertDeliveries(tx, deliveries.slice(i, i + 100));
          await appendHistory(tx, order.id, history.slice(i, i + 100));
        });
      }
      const allDeliveries = await readAll(`/api/v1/orders/${order.id}/deliveries`, 500);
      const ours = allDeliveries.items.filter((d) => d.id.startsWith('dlv_page'));
      expect(ours).toHaveLength(520);
      expect(new Set(allDeliveries.items.map((d) => d.id)).size).toBe(allDeliveries.items.length);
      expect(allDeliveries.pages).toBe(2);

      const small = await readAll(`/api/v1/orders/${order.id}/deliveries`, 7);
      expect(small.items.map((d) => d.id)).toEqual(allDeliveries.items.map((d) => d.id));

      const allHistory = await readAll(`/api/v1/orders/${order.id}/history`, 500);
      expect(allHistory.items).toHaveLength(521); // the `created` entry and ours
      expect(allHistory.pages).toBe(2);
      // Oldest first, in the order written.
      expect(allHistory.items.slice(1).map((h) => h.id)).toEqual(history.map((h) => h.id));
      const first = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}/history` }));
      expect(first.items).toHaveLength(50);
      expect(first.nextCursor).toEqual(expect.any(String));
      expectProblem(
        await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}/history?cursor=nonsense` }),
        400,
        'bad_request',
      );
    });

    it('hashes idempotent requests over canonical JSON: reordered keys replay, other content conflicts', async () => {
      t = await createTestOrderflow({ dialect });
      const post = (body: unknown) =>
        t.request('operator', { method: 'POST', url: '/api/v1/orders', body, headers: { 'idempotency-key': 'k-reorder-1' } });
      const first = await post({ workflow: 'orders', data: { customer: { email: 'a@example.com', name: 'A' }, total: 3 } });
      expect(first.statusCode, first.body).toBe(201);
      const reordered = await post({ data: { total: 3, customer: { name: 'A', email: 'a@example.com' } }, workflow: 'orders' });
      expect(reordered.statusCode, reordered.body).toBe(201);
      expect(reordered.headers['idempotent-replayed']).toBe('true');
      expect(json(reordered).order.id).toBe(json(first).order.id);
      expectProblem(
        await post({ workflow: 'orders', data: { customer: { email: 'a@example.com', name: 'A' }, total: 4 } }),
        409,
        'idempotency_conflict',
      );
    });

    it('refuses to send a delivered delivery again unless an admin forces it', async () => {
      t = await createAutomationTest({ dialect });
      await t.of.worker.runOnce();
      await publishWorkflow(t, hookWorkflow('tell', [{ type: 'notify', channel: 'ops', message: 'moved' }]));
      const o = await createOrder(t, 'tell');
      const id = (await move(t, o.id, 'working')).deliveries[0].id;
      await t.of.worker.runOnce();
      expect(json(await t.request('viewer', { method: 'GET', url: `/api/v1/deliveries/${id}` })).status).toBe('delivered');

      const again = expectProblem(await t.request('operator', { method: 'POST', url: `/api/v1/deliveries/${id}/retry` }), 409, 'conflict');
      expect(again.detail).toMatch(/delivered/);
      expectProblem(
        await t.request('operator', { method: 'POST', url: `/api/v1/deliveries/${id}/retry`, body: { force: true } }),
        403,
        'forbidden',
      );
      expectProblem(
        await t.request('admin', { method: 'POST', url: `/api/v1/deliveries/${id}/retry`, body: { force: 'yes' } }),
        422,
        'validation_failed',
      );
      expect(json(await t.request('viewer', { method: 'GET', url: `/api/v1/deliveries/${id}` })).status).toBe('delivered');
      const forced = await t.request('admin', { method: 'POST', url: `/api/v1/deliveries/${id}/retry`, body: { force: true } });
      expect(forced.statusCode, forced.body).toBe(200);
      expect(json(forced).status).toBe('pending');
    });

    it('refuses to delete a template or endpoint that a draft or published version uses, naming the users', async () => {
      t = await createTestOrderflow({ dialect });
      const used = expectProblem(
        await t.request('designer', { method: 'DELETE', url: '/api/v1/templates/order_confirmation' }),
        409,
        'conflict',
      );
      expect(used.users).toContainEqual(expect.objectContaining({ workflow: 'orders', version: 1 }));
      expect(used.detail).toMatch(/orders/);
      expect((await t.request('viewer', { method: 'GET', url: '/api/v1/templates/order_confirmation' })).statusCode).toBe(200);

      const put = await t.request('designer', { method: 'PUT', url: '/api/v1/templates/spare', body: { subject: 's', html: '<p>h</p>' } });
      expect(put.statusCode, put.body).toBe(201);
      // Used only by a draft: still in use.
      const draft = hookWorkflow('drafty', [{ type: 'send_email', template: 'spare', to: 'customer' }]);
      expect((await t.request('designer', { method: 'POST', url: '/api/v1/workflows', body: draft })).statusCode).toBeLessThan(300);
      const byDraft = expectProblem(await t.request('designer', { method: 'DELETE', url: '/api/v1/templates/spare' }), 409, 'conflict');
      expect(byDraft.users).toContainEqual(expect.objectContaining({ workflow: 'drafty', draft: true }));

      const ep = await t.request('designer', {
        method: 'POST',
        url: '/api/v1/endpoints',
        body: { key: 'erp', url: 'https://erp.example.com/h' },
      });
      expect(ep.statusCode, ep.body).toBe(201);
      const hooked = hookWorkflow('hooked', [{ type: 'webhook', endpoint: 'erp' }]);
      expect((await t.request('admin', { method: 'POST', url: '/api/v1/workflows?publish=true', body: hooked })).statusCode).toBeLessThan(
        300,
      );
      const epUsed = expectProblem(await t.request('designer', { method: 'DELETE', url: '/api/v1/endpoints/erp' }), 409, 'conflict');
      expect(epUsed.users).toContainEqual(expect.objectContaining({ workflow: 'hooked', version: 1, rule: 'hook' }));
      expect((await t.request('viewer', { method: 'GET', url: '/api/v1/endpoints/erp' })).statusCode).toBe(200);

      // Unused ones go.
      const ep2 = await t.request('designer', {
        method: 'POST',
        url: '/api/v1/endpoints',
        body: { key: 'spare', url: 'https://x.example.com/' },
      });
      expect(ep2.statusCode).toBe(201);
      expect((await t.request('designer', { method: 'DELETE', url: '/api/v1/endpoints/spare' })).statusCode).toBe(204);
      const put2 = await t.request('designer', { method: 'PUT', url: '/api/v1/templates/unused', body: { subject: 's', html: 'h' } });
      expect(put2.statusCode).toBe(201);
      expect((await t.request('designer', { method: 'DELETE', url: '/api/v1/templates/unused' })).statusCode).toBe(204);
    });

    it('answers /metrics only to a token of any role unless ORDERFLOW_METRICS_PUBLIC=true', async () => {
      t = await createTestOrderflow({ dialect, demo: false });
      const anonymous = await t.of.app.inject({ method: 'GET', url: '/metrics' });
      expectProblem(anonymous, 401, 'unauthorized');
      expectProblem(
        await t.of.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer of_wrong_token_xyz' } }),
        401,
        'unauthorized',
      );
      const viewer = await t.of.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${t.tokens.viewer}` } });
      expect(viewer.statusCode).toBe(200);
      expect(viewer.body).toMatch(/^orderflow_/m);
      await t.close();

      t = await createTestOrderflow({ dialect, demo: false, env: { ORDERFLOW_METRICS_PUBLIC: 'true' } });
      const open = await t.of.app.inject({ method: 'GET', url: '/metrics' });
      expect(open.statusCode).toBe(200);
      expect(open.body).toMatch(/^orderflow_/m);
    });

    it('pauses one workflow or one rule of one workflow; unknown ones are 404', async () => {
      t = await createAutomationTest({ dialect, demo: false });
      const notify = [{ type: 'notify', channel: 'ops', message: 'moved {{ order.id }}' }];
      await publishWorkflow(t, hookWorkflow('alpha', notify));
      await publishWorkflow(t, hookWorkflow('beta', notify));
      const pause = (q: string) => t.request('admin', { method: 'POST', url: `/api/v1/automation/pause${q}` });
      const resume = (q: string) => t.request('admin', { method: 'POST', url: `/api/v1/automation/resume${q}` });

      expectProblem(await pause('?workflow=nowhere'), 404, 'not_found');
      expectProblem(await pause('?rule=alpha:nothing'), 404, 'not_found');
      expectProblem(await pause('?rule=nowhere:hook'), 404, 'not_found');
      expectProblem(await pause('?rule=hook'), 422, 'validation_failed');
      expectProblem(await pause('?rule=alpha:hook&workflow=alpha'), 422, 'validation_failed');

      const paused = await pause('?rule=alpha:hook');
      expect(paused.statusCode, paused.body).toBe(200);
      expect(json(paused)).toMatchObject({ paused: false, rules: ['alpha:hook'], workflows: [] });
      // The same rule id in another workflow still runs.
      const a = await createOrder(t, 'alpha');
      const b = await createOrder(t, 'beta');
      expect((await move(t, a.id, 'working')).deliveries).toHaveLength(0);
      expect((await move(t, b.id, 'working')).deliveries).toHaveLength(1);
      expect(json(await resume('?rule=alpha:hook')).rules).toEqual([]);

      // A paused workflow: its rules do not match and what it queued is held until resumed.
      const queued = (await move(t, b.id, 'waiting')).deliveries[0].id;
      expect(json(await pause('?workflow=beta'))).toMatchObject({ workflows: ['beta'] });
      expect((await move(t, b.id, 'working')).deliveries).toHaveLength(0);
      expect((await move(t, a.id, 'waiting')).deliveries).toHaveLength(1);
      await t.of.worker.runOnce();
      const get = async (id: string) => json(await t.request('viewer', { method: 'GET', url: `/api/v1/deliveries/${id}` }));
      expect((await get(queued)).status).toBe('pending');
      expect(json(await t.request('viewer', { method: 'GET', url: '/api/v1/automation' }))).toMatchObject({ workflows: ['beta'] });
      expectProblem(await resume('?workflow=nowhere'), 404, 'not_found');
      expect(json(await resume('?workflow=beta')).workflows).toEqual([]);
      await t.of.worker.runOnce();
      expect((await get(queued)).status).toBe('delivered');
    });
  });
}
