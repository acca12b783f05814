import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../dialects.js';
import { createTestOrderflow, demoOrder, expectProblem, json, minimalDefinition, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow;
for (const dialect of DIALECTS) {
  describe(`orders API (${dialect})`, () => {
    beforeEach(async () => {
      t = await createTestOrderflow({ dialect });
    });
    afterEach(async () => {
      await t.close();
    });

    const move = (id: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
      t.request('operator', { method: 'POST', url: `/api/v1/orders/${id}/transitions`, body, headers });

    async function countRows(table: 'orders' | 'history' | 'deliveries'): Promise<number> {
      const r = await t.of.store.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(r.n);
    }

    describe('the demo order path (issue 2, done when)', () => {
      it('moves an order to delivered only once the delivered fact is recorded, then refuses any further move', async () => {
        const order = await demoOrder(t);
        expect(order).toMatchObject({ workflow: 'orders', state: 'order_created', group: 'new', version: 1 });
        expect(order.id).toMatch(/^ord_/);

        let version = 1;
        for (const to of ['awaiting_payment', 'packing', 'shipping', 'delayed', 'shipping']) {
          const res = await move(order.id, { to, note: `to ${to}` });
          expect(res.statusCode, res.body).toBe(200);
          const body = json(res);
          version++;
          expect(body.order).toMatchObject({ state: to, version });
          expect(res.headers.etag).toBe(`"${version}"`);
          expect(body.applied[0]).toMatchObject({ to });
        }

        const refused = expectProblem(await move(order.id, { to: 'delivered' }), 422, 'criteria_unmet');
        expect(refused.missing).toEqual(['delivered']);

        const fact = await t.request('operator', { method: 'POST', url: `/api/v1/orders/${order.id}/facts`, body: { fact: 'delivered' } });
        expect(fact.statusCode, fact.body).toBe(200);
        expect(json(fact).order.facts.delivered).toMatchObject({ by: { type: 'api' } });

        const delivered = await move(order.id, { to: 'delivered' });
        expect(delivered.statusCode, delivered.body).toBe(200);
        expect(json(delivered).order).toMatchObject({ state: 'delivered', group: 'completed' });
        // The order-completed rule queues the feedback and loyalty emails.
        expect(json(delivered).deliveries).toHaveLength(2);

        for (const to of ['shipping', 'delayed', 'customer_cancelled', 'order_created']) {
          expectProblem(await move(order.id, { to }), 409, 'transition_not_allowed');
        }
        // Not even an admin's force leaves a terminal state.
        expectProblem(
          await t.request('admin', {
            method: 'POST',
            url: `/api/v1/orders/${order.id}/transitions`,
            body: { to: 'shipping', force: true },
          }),
          409,
          'transition_not_allowed',
        );
      });

      it('explains every blocked move in GET /orders/:id/transitions', async () => {
        const order = await demoOrder(t, ['awaiting_payment', 'packing', 'shipping']);
        const res = await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}/transitions` });
        expect(res.statusCode).toBe(200);
        const { items, state } = json(res);
        expect(state).toBe('shipping');
        const byTo = Object.fromEntries(items.map((i: { to: string }) => [i.to, i]));
        expect(Object.keys(byTo).sort()).toEqual(['damaged', 'delayed', 'delivered', 'delivery_failed', 'lost_in_transit']);
        expect(byTo.delayed).toMatchObject({ allowed: true, blocked: [] });
        expect(byTo.delivered).toMatchObject({ allowed: false, group: 'completed' });
        expect(byTo.delivered.blocked).toContainEqual(expect.objectContaining({ code: 'criteria_unmet', missing: ['delivered'] }));
        for (const i of items) if (!i.allowed) expect(i.blocked.length).toBeGreaterThan(0);
      });

      it('explains a guard and a role requirement', async () => {
        const order = await demoOrder(t, ['awaiting_payment', 'packing', 'shipping', 'damaged'], { total: 900 });
        const res = await t.request('operator', { method: 'GET', url: `/api/v1/orders/${order.id}/transitions` });
        const full = json(res).items.find((i: { to: string }) => i.to === 'full_refund');
        expect(full).toMatchObject({ allowed: false });
        expect(full.blocked).toContainEqual(expect.objectContaining({ code: 'guard_failed' }));
        expectProblem(await move(order.id, { to: 'full_refund' }), 409, 'transition_not_allowed');

        const lost = await demoOrder(t, ['awaiting_payment', 'packing', 'shipping', 'lost_in_transit']);
        const lostRes = await t.request('operator', { method: 'GET', url: `/api/v1/orders/${lost.id}/transitions` });
        const refund = json(lostRes).items.find((i: { to: string }) => i.to === 'full_refund');
        expect(refund.blocked).toContainEqual(expect.objectContaining({ code: 'role_required', roles: ['admin'] }));
      });

      it('lists every step in the history with its actor and reason', async () => {
        const order = await demoOrder(t);
        const steps = ['awaiting_payment', 'packing', 'shipping', 'delayed', 'shipping'];
        for (const to of steps) expect((await move(order.id, { to, note: `note ${to}` })).statusCode).toBe(200);
        await t.request('operator', {
          method: 'POST',
          url: `/api/v1/orders/${order.id}/facts`,
          body: { fact: 'delivered', evidence: { signedBy: 'Ada' } },
        });
        expect((await move(order.id, { to: 'delivered' })).statusCode).toBe(200);

        const res = await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}/history` });
        expect(res.statusCode).toBe(200);
        const items = json(res).items;
        const operatorId = json(await t.request('operator', { method: 'GET', url: '/api/v1/session' })).tokenId;
        expect(items[0]).toMatchObject({ type: 'created', to: 'order_created', actor: { type: 'api' } });
        const transitions = items.filter((h: { type: string }) => h.type === 'transition');
        const path = ['order_created', ...steps, 'delivered'];
        expect(transitions.map((h: { from: string; to: string }) => [h.from, h.to])).toEqual(path.slice(1).map((to, i) => [path[i], to]));
        for (const h of transitions.slice(0, steps.length)) {
          expect(h.actor).toEqual({ type: 'api', id: operatorId });
          expect(h.note).toBe(`note ${h.to}`);
        }
        expect(items.find((h: { type: string }) => h.type === 'fact')).toMatchObject({
          fact: 'delivered',
          actor: { type: 'api', id: operatorId },
        });
        const seqs = items.map((h: { seq: number }) => h.seq);
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
        expect(new Set(seqs).size).toBe(seqs.length);
        for (const h of items) expect(typeof h.at).toBe('string');
      });
    });

    describe('events, facts and data', () => {
      it('runs event_received rules: payment.received moves an awaiting order to packing', async () => {
        const order = await demoOrder(t, ['awaiting_payment']);
        const res = await t.request('operator', {
          method: 'POST',
          url: `/api/v1/orders/${order.id}/events`,
          body: { type: 'payment.received', data: { amount: 40 } },
        });
        expect(res.statusCode, res.body).toBe(200);
        expect(json(res).order.state).toBe('packing');
        expect(json(res).applied).toEqual([
          expect.objectContaining({ from: 'awaiting_payment', to: 'packing', actor: { type: 'rule', id: 'payment-received' } }),
        ]);
        const history = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}/history` })).items;
        expect(history.map((h: { type: string }) => h.type).slice(-2)).toEqual(['event', 'transition']);
        // The same event in another state matches no rule and changes no state.
        const again = await t.request('operator', {
          method: 'POST',
          url: `/api/v1/orders/${order.id}/events`,
          body: { type: 'payment.received' },
        });
        expect(json(again).order.state).toBe('packing');
      });

      it('creates a linked replacement when the carrier reports a package lost, in the same change', async () => {
        const order = await demoOrder(t, ['awaiting_payment', 'packing', 'shipping']);
        const res = await t.request('operator', {
          method: 'POST',
          url: `/api/v1/orders/${order.id}/events`,
          body: { type: 'package.lost' },
        });
        expect(res.statusCode, res.body).toBe(200);
        const body = json(res);
        expect(body.order.state).toBe('lost_in_transit');
        const link = body.order.links.find((l: { rel: string }) => l.rel === 'replacement');
        expect(link).toBeDefined();
        const replacement = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${link.orderId}` }));
        expect(replacement).toMatchObject({
          workflow: 'orders',
          state: 'order_created',
          links: [{ rel: 'replacement_of', orderId: order.id }],
        });
        expect(body.deliveries.map((d: { type: string }) => d.type)).toContain('notify');
      });

      it('merges a data patch and refuses a fact the workflow does not know', async () => {
        const order = await demoOrder(t);
        const res = await t.request('operator', {
          method: 'PATCH',
          url: `/api/v1/orders/${order.id}/data`,
          payload: JSON.stringify({ total: null, customer: { name: 'Ada L.' }, note: 'gift' }),
          headers: { 'content-type': 'application/merge-patch+json' },
        });
        expect(res.statusCode, res.body).toBe(200);
        expect(json(res).order.data).toEqual({
          customer: { email: 'ada@example.com', name: 'Ada L.' },
          currency: 'EUR',
          deliveryEstimate: '2026-02-01',
          note: 'gift',
        });
        expect(json(res).order.version).toBe(2);
        expectProblem(
          await t.request('operator', { method: 'POST', url: `/api/v1/orders/${order.id}/facts`, body: { fact: 'not_a_criterion' } }),
          422,
          'validation_failed',
        );
      });
    });

    describe('cancellation reasons', () => {
      it('records the state default reason when entering customer_cancelled without one', async () => {
        const order = await demoOrder(t, ['awaiting_payment']);
        const res = await move(order.id, { to: 'customer_cancelled' });
        expect(res.statusCode, res.body).toBe(200);
        const expected = { initiator: 'customer', code: 'customer_request' };
        expect(json(res).order).toMatchObject({ state: 'customer_cancelled', group: 'cancelled', cancellation: expected });
        const history = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}/history` })).items;
        expect(history.at(-1)).toMatchObject({ type: 'transition', to: 'customer_cancelled', reason: expected });
      });

      it('records the reason given instead of the default', async () => {
        const order = await demoOrder(t, ['awaiting_payment', 'packing']);
        const reason = { initiator: 'provider', code: 'out_of_stock', note: 'Supplier gone' };
        const res = await move(order.id, { to: 'customer_cancelled', reason });
        expect(res.statusCode, res.body).toBe(200);
        expect(json(res).order.cancellation).toMatchObject(reason);
      });

      it('answers 422 reason_required when a cancelled state has no default and no reason is given', async () => {
        const created = await t.request('designer', {
          method: 'POST',
          url: '/api/v1/workflows?publish=true',
          body: minimalDefinition('repairs'),
        });
        expect(created.statusCode, created.body).toBe(201);
        const order = json(
          await t.request('operator', { method: 'POST', url: '/api/v1/orders', body: { workflow: 'repairs', data: {} } }),
        ).order;
        expect((await move(order.id, { to: 'working' })).statusCode).toBe(200);

        expectProblem(await move(order.id, { to: 'dropped' }), 422, 'reason_required');
        const unchanged = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}` }));
        expect(unchanged).toMatchObject({ state: 'working', version: 2 });

        const ok = await move(order.id, { to: 'dropped', reason: { initiator: 'provider', code: 'operational_issue' } });
        expect(ok.statusCode, ok.body).toBe(200);
        expect(json(ok).order.cancellation).toMatchObject({ initiator: 'provider', code: 'operational_issue' });
      });
    });

    describe('problem documents for orders', () => {
      it('answers 422 validation_failed with the path of each invalid field', async () => {
        const res = await t.request('operator', {
          method: 'POST',
          url: '/api/v1/orders',
          body: { workflow: 5, data: 'x', unexpected: true },
        });
        const problem = expectProblem(res, 422, 'validation_failed');
        const paths = problem.errors.map((e: { path: string }) => e.path);
        expect(paths).toEqual(expect.arrayContaining(['body.workflow', 'body.data']));
        for (const e of problem.errors) expect(typeof e.message).toBe('string');

        const order = await demoOrder(t);
        const bad = expectProblem(await move(order.id, { to: 'Not A Slug' }), 422, 'validation_failed');
        expect(bad.errors.map((e: { path: string }) => e.path)).toContain('body.to');
      });

      it('answers 404 not_found for an unknown order, an unknown workflow and an unknown target state', async () => {
        expectProblem(await t.request('viewer', { method: 'GET', url: '/api/v1/orders/ord_00000000000000000000000000' }), 404, 'not_found');
        expectProblem(await move('ord_00000000000000000000000000', { to: 'packing' }), 404, 'not_found');
        expectProblem(await t.request('viewer', { method: 'GET', url: '/api/v1/orders/ord_missing/history' }), 404, 'not_found');
        expectProblem(
          await t.request('operator', { method: 'POST', url: '/api/v1/orders', body: { workflow: 'no_such_workflow', data: {} } }),
          404,
          'not_found',
        );
      });

      it('answers 409 transition_not_allowed for a move without an edge', async () => {
        const order = await demoOrder(t);
        const problem = expectProblem(await move(order.id, { to: 'shipping' }), 409, 'transition_not_allowed');
        expect(problem.reasons).toContainEqual(expect.objectContaining({ code: 'no_edge' }));
        const after = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}` }));
        expect(after).toMatchObject({ state: 'order_created', version: 1 });
      });

      it('answers version_conflict 412 for a stale If-Match and 409 for a stale expectedVersion', async () => {
        const order = await demoOrder(t, ['awaiting_payment']);
        const get = await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}` });
        expect(get.headers.etag).toBe('"2"');

        const stale = expectProblem(await move(order.id, { to: 'packing' }, { 'if-match': '"1"' }), 412, 'version_conflict');
        expect(stale.currentVersion).toBe(2);
        expectProblem(await move(order.id, { to: 'packing', expectedVersion: 1 }), 409, 'version_conflict');
        expectProblem(await move(order.id, { to: 'packing' }, { 'if-match': 'garbage' }), 412, 'version_conflict');
        expectProblem(
          await t.request('operator', {
            method: 'PATCH',
            url: `/api/v1/orders/${order.id}/data`,
            body: { a: 1 },
            headers: { 'if-match': '"7"' },
          }),
          412,
          'version_conflict',
        );

        const ok = await move(order.id, { to: 'packing' }, { 'if-match': get.headers.etag as string });
        expect(ok.statusCode, ok.body).toBe(200);
        expect(ok.headers.etag).toBe('"3"');
        expect((await move(order.id, { to: 'shipping', expectedVersion: 3 })).statusCode).toBe(200);
      });

      it('lets exactly one of two concurrent transitions with the same If-Match through', async () => {
        const order = await demoOrder(t, ['awaiting_payment', 'packing', 'shipping']);
        const etag = `"${order.version}"`;
        const [a, b] = await Promise.all([
          move(order.id, { to: 'delayed' }, { 'if-match': etag }),
          move(order.id, { to: 'lost_in_transit' }, { 'if-match': etag }),
        ]);
        const statuses = [a.statusCode, b.statusCode].sort();
        expect(statuses).toEqual([200, 412]);
        const loser = a.statusCode === 200 ? b : a;
        const winner = a.statusCode === 200 ? a : b;
        expectProblem(loser, 412, 'version_conflict');
        const after = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}` }));
        expect(after.version).toBe(order.version + 1);
        expect(after.state).toBe(json(winner).order.state);
      });

      it('loses no update under contention: N concurrent transitions with the same If-Match, one winner, no 5xx', async () => {
        const order = await demoOrder(t, ['awaiting_payment', 'packing', 'shipping']);
        const etag = `"${order.version}"`;
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => move(order.id, { to: i % 2 ? 'delayed' : 'damaged' }, { 'if-match': etag })),
        );
        expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
        for (const r of results.filter((r) => r.statusCode !== 200)) expectProblem(r, 412, 'version_conflict');
        const history = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}/history` })).items;
        expect(history.filter((h: { type: string }) => h.type === 'transition')).toHaveLength(4);
      });
    });

    describe('idempotency', () => {
      const create = (key: string, body: Record<string, unknown>) =>
        t.request('operator', { method: 'POST', url: '/api/v1/orders', body, headers: { 'idempotency-key': key } });

      it('creates one order for the same Idempotency-Key sent twice and replays the stored answer', async () => {
        const before = await countRows('orders');
        const body = { workflow: 'orders', data: { customer: { email: 'ada@example.com' } } };
        const first = await create('key-1', body);
        expect(first.statusCode, first.body).toBe(201);
        const second = await create('key-1', body);
        expect(second.statusCode).toBe(201);
        expect(json(second)).toEqual(json(first));
        expect(second.headers['idempotent-replayed']).toBe('true');
        expect(await countRows('orders')).toBe(before + 1);
      });

      it('answers 409 idempotency_conflict for the same key with another body', async () => {
        expect((await create('key-2', { workflow: 'orders', data: { n: 1 } })).statusCode).toBe(201);
        expectProblem(await create('key-2', { workflow: 'orders', data: { n: 2 } }), 409, 'idempotency_conflict');
      });

      it('replays a transition instead of applying it twice', async () => {
        const order = await demoOrder(t);
        const headers = { 'idempotency-key': 'move-1' };
        const first = await move(order.id, { to: 'awaiting_payment' }, headers);
        const second = await move(order.id, { to: 'awaiting_payment' }, headers);
        expect(first.statusCode).toBe(200);
        expect(second.statusCode).toBe(200);
        expect(json(second)).toEqual(json(first));
        const after = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}` }));
        expect(after.version).toBe(2);
      });

      it('makes exactly 200 orders from 200 keys sent 5 times each, concurrently (G2, reduced)', async () => {
        const before = await countRows('orders');
        const keys = Array.from({ length: 200 }, (_, i) => `bulk-${i}`);
        const requests = keys.flatMap((key, i) =>
          Array.from({ length: 5 }, () => create(key, { workflow: 'orders', data: { n: i, customer: { email: `c${i}@example.com` } } })),
        );
        const results = await Promise.all(requests);
        for (const r of results) expect(r.statusCode, r.body).toBe(201);
        expect(await countRows('orders')).toBe(before + 200);
        for (let k = 0; k < keys.length; k++) {
          const ids = new Set(results.slice(k * 5, k * 5 + 5).map((r) => json(r).order.id));
          expect(ids.size).toBe(1);
        }
        expect(new Set(results.map((r) => json(r).order.id)).size).toBe(200);
      });
    });

    describe('preview', () => {
      it('returns the outbox entries a move to delayed would create, and stores nothing', async () => {
        const order = await demoOrder(t, ['awaiting_payment', 'packing', 'shipping']);
        const historyBefore = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}/history` }));
        const deliveriesBefore = await countRows('deliveries');
        const historyRowsBefore = await countRows('history');

        const res = await t.request('viewer', {
          method: 'POST',
          url: `/api/v1/orders/${order.id}/transitions/preview`,
          body: { to: 'delayed' },
        });
        expect(res.statusCode, res.body).toBe(200);
        const body = json(res);
        expect(body.order).toMatchObject({ state: 'delayed', version: order.version + 1 });
        expect(body.applied).toEqual([expect.objectContaining({ from: 'shipping', to: 'delayed' })]);
        const email = body.deliveries.find((d: { type: string }) => d.type === 'email');
        const webhook = body.deliveries.find((d: { type: string }) => d.type === 'webhook');
        expect(email).toMatchObject({
          ruleId: 'delay-apology',
          action: { type: 'send_email', template: 'delay_notification', to: 'customer' },
        });
        expect(webhook).toMatchObject({ ruleId: 'delay-apology', action: { type: 'webhook', url: 'https://api.example.com/notify' } });
        expect(webhook.envelope).toMatchObject({
          type: 'order.state_changed',
          data: { from: 'shipping', to: 'delayed', rule: 'delay-apology' },
        });

        const after = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}` }));
        expect(after).toMatchObject({ state: 'shipping', version: order.version });
        expect(json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}/history` }))).toEqual(historyBefore);
        expect(await countRows('deliveries')).toBe(deliveriesBefore);
        expect(await countRows('history')).toBe(historyRowsBefore);
      });

      it('refuses a preview the same way as the move itself', async () => {
        const order = await demoOrder(t, ['awaiting_payment', 'packing', 'shipping']);
        const problem = expectProblem(
          await t.request('viewer', { method: 'POST', url: `/api/v1/orders/${order.id}/transitions/preview`, body: { to: 'delivered' } }),
          422,
          'criteria_unmet',
        );
        expect(problem.missing).toEqual(['delivered']);
      });
    });

    describe('rule cascades', () => {
      const states = [
        { key: 's_a', name: 'A', group: 'new', initial: true },
        { key: 's_b', name: 'B', group: 'processing' },
        { key: 's_c', name: 'C', group: 'processing' },
        { key: 's_d', name: 'D', group: 'cancelled', cancellation: { initiator: 'customer', code: 'customer_request' } },
        { key: 's_e', name: 'E', group: 'completed' },
      ];
      const transitions = [
        { from: 's_a', to: 's_b' },
        { from: 's_b', to: 's_c' },
        { from: 's_c', to: 's_b' },
        { from: 'group:processing', to: 's_e' },
        { from: '*', to: 's_d' },
      ];
      async function publish(key: string, rules: unknown[]) {
        const res = await t.request('designer', {
          method: 'POST',
          url: '/api/v1/workflows?publish=true',
          body: { key, name: key, states, transitions, rules },
        });
        expect(res.statusCode, res.body).toBe(201);
        return json(res);
      }
      const history = async (id: string) => json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${id}/history` })).items;

      it('stops a two-rule transition cycle at the depth bound with one rule_failed entry, and still commits the change', async () => {
        const view = await publish('cycle', [
          { trigger: 'state_changed', conditions: { new_state: 's_b' }, actions: [{ type: 'transition', to: 's_c' }] },
          { trigger: 'state_changed', conditions: { new_state: 's_c' }, actions: [{ type: 'transition', to: 's_b' }] },
        ]);
        expect(view.problems).toContainEqual(expect.objectContaining({ code: 'automated_cycle', severity: 'warning' }));
        const order = json(
          await t.request('operator', { method: 'POST', url: '/api/v1/orders', body: { workflow: 'cycle', data: {} } }),
        ).order;
        const res = await move(order.id, { to: 's_b' });
        expect(res.statusCode, res.body).toBe(200);
        expect(json(res).applied.length).toBeLessThanOrEqual(11);
        const failures = (await history(order.id)).filter((h: { type: string }) => h.type === 'rule_failed');
        expect(failures).toHaveLength(1);
        expect(failures[0].error).toMatchObject({ code: 'depth_exceeded' });
        expect(json(res).deliveries).toContainEqual(expect.objectContaining({ type: 'notify' }));
      });

      it('takes the depth bound and the loop guard from the configuration', async () => {
        const cycle = [
          { trigger: 'state_changed', conditions: { new_state: 's_b' }, actions: [{ type: 'transition', to: 's_c' }] },
          { trigger: 'state_changed', conditions: { new_state: 's_c' }, actions: [{ type: 'transition', to: 's_b' }] },
        ];
        for (const [env, expected, code] of [
          [{ ORDERFLOW_MAX_CASCADE_DEPTH: '3' }, 4, 'depth_exceeded'],
          [{ ORDERFLOW_RULE_REENTRY_LIMIT: '2' }, 5, 'loop_guard'],
        ] as const) {
          const own = await createTestOrderflow({ dialect, demo: false, env });
          try {
            const published = await own.request('designer', {
              method: 'POST',
              url: '/api/v1/workflows?publish=true',
              body: { key: 'cycle', name: 'cycle', states, transitions, rules: cycle },
            });
            expect(published.statusCode, published.body).toBe(201);
            const order = json(
              await own.request('operator', { method: 'POST', url: '/api/v1/orders', body: { workflow: 'cycle', data: {} } }),
            ).order;
            const res = await own.request('operator', {
              method: 'POST',
              url: `/api/v1/orders/${order.id}/transitions`,
              body: { to: 's_b' },
            });
            expect(res.statusCode, res.body).toBe(200);
            expect(json(res).applied).toHaveLength(expected);
            const items = json(await own.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}/history` })).items;
            expect(
              items.filter((h: { type: string }) => h.type === 'rule_failed').map((h: { error: { code: string } }) => h.error.code),
            ).toEqual([code]);
          } finally {
            await own.close();
          }
        }
      });

      it('stops a fact_recorded rule that records its own fact at the depth bound', async () => {
        await publish('facts', [{ trigger: 'fact_recorded', fact: 'delivered', actions: [{ type: 'record_fact', fact: 'delivered' }] }]);
        const order = json(
          await t.request('operator', { method: 'POST', url: '/api/v1/orders', body: { workflow: 'facts', data: {} } }),
        ).order;
        const res = await t.request('operator', { method: 'POST', url: `/api/v1/orders/${order.id}/facts`, body: { fact: 'delivered' } });
        expect(res.statusCode, res.body).toBe(200);
        expect((await history(order.id)).filter((h: { type: string }) => h.type === 'rule_failed')).toHaveLength(1);
      });

      it('stops an order_created rule that creates an order of its own workflow at the depth bound', async () => {
        await publish('spawn', [{ trigger: 'order_created', actions: [{ type: 'create_order', workflow: 'spawn', link: 'child' }] }]);
        const res = await t.request('operator', { method: 'POST', url: '/api/v1/orders', body: { workflow: 'spawn', data: {} } });
        expect(res.statusCode, res.body).toBe(201);
        const orders = await countRows('orders');
        expect(orders).toBeLessThanOrEqual(8 + 11);
      });
    });
  });
}
