/**
 * What the operator UI needs from the API to tell the truth (issue 11): the
 * full refusal reason with the values compared, names instead of token ids,
 * who a delivery goes to and what about, and failing deliveries that are still
 * pending counted as failures.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../dialects.js';
import { createTestOrderflow, demoOrder, expectProblem, json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow;
for (const dialect of DIALECTS) {
  describe(`answers the UI shows (${dialect})`, () => {
    beforeEach(async () => {
      t = await createTestOrderflow({ dialect });
    });
    afterEach(async () => {
      await t.close();
    });

    it('refuses a guarded move with the rule and the actual value, and names states rather than keys', async () => {
      const order = await demoOrder(t, ['awaiting_payment', 'packing', 'shipping', 'damaged'], { total: 900 });
      const body = expectProblem(
        await t.request('operator', { method: 'POST', url: `/api/v1/orders/${order.id}/transitions`, body: { to: 'full_refund' } }),
        409,
        'transition_not_allowed',
      );
      expect(JSON.stringify(body)).toContain('total must be ≤ 500; it is 900');
      const back = expectProblem(
        await t.request('operator', { method: 'POST', url: `/api/v1/orders/${order.id}/transitions`, body: { to: 'awaiting_payment' } }),
        409,
        'transition_not_allowed',
      );
      expect(JSON.stringify(back)).toContain('no transition from \\"Damaged\\" to \\"Awaiting payment\\"');
    });

    it('names the token that acted in the history, keeping its id', async () => {
      const order = await demoOrder(t);
      const moved = await t.request('operator', {
        method: 'POST',
        url: `/api/v1/orders/${order.id}/transitions`,
        body: { to: 'awaiting_payment' },
      });
      expect(moved.statusCode, moved.body).toBe(200);
      const history = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}/history` })).items;
      const entry = history.find((e: { to?: string }) => e.to === 'awaiting_payment');
      expect(entry.actor.id).toMatch(/\S/);
      expect(entry.actorName).toBe('test operator (operator)');
    });

    it('gives every delivery its recipient and subject', async () => {
      const order = await demoOrder(t, ['awaiting_payment', 'packing', 'shipping'], {
        customer: { email: 'late@example.com', name: 'Late Larry' },
      });
      const delayed = await t.request('operator', {
        method: 'POST',
        url: `/api/v1/orders/${order.id}/transitions`,
        body: { to: 'delayed' },
      });
      expect(delayed.statusCode, delayed.body).toBe(200);
      const list = json(await t.request('viewer', { method: 'GET', url: `/api/v1/deliveries?orderId=${order.id}` })).items;
      const email = list.find((d: { type: string }) => d.type === 'email');
      expect(email.summary.to).toBe('late@example.com');
      expect(email.summary.subject).toMatch(/\S/);
      expect(email.summary.subject).not.toContain('{{');
      const webhook = list.find((d: { type: string }) => d.type === 'webhook');
      expect(webhook.summary.to).toMatch(/\S/);
      const one = json(await t.request('viewer', { method: 'GET', url: `/api/v1/deliveries/${email.id}` }));
      expect(one.summary).toEqual(email.summary);
      const ofOrder = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}/deliveries` })).items;
      expect(ofOrder.find((d: { id: string }) => d.id === email.id).summary).toEqual(email.summary);
    });

    it('counts a delivery that keeps failing while still pending among the recent failures', async () => {
      const order = await demoOrder(t, ['awaiting_payment', 'packing', 'shipping', 'delayed']);
      const stats = async () => json(await t.request('viewer', { method: 'GET', url: '/api/v1/stats' }));
      expect((await stats()).recentFailures).toEqual([]);
      const row = await t.of.store.db
        .selectFrom('deliveries')
        .select('id')
        .where('order_id', '=', order.id)
        .where('type', '=', 'webhook')
        .executeTakeFirstOrThrow();
      // Seven failed attempts, another one scheduled: what the worker leaves behind.
      await t.of.store.db
        .updateTable('deliveries')
        .set({ attempts: 7, last_error: 'HTTP 503 from https://hooks.example.com', status: 'pending' })
        .where('id', '=', row.id)
        .execute();
      const failures = (await stats()).recentFailures;
      expect(failures).toHaveLength(1);
      expect(failures[0]).toMatchObject({
        id: row.id,
        status: 'pending',
        attempts: 7,
        lastError: 'HTTP 503 from https://hooks.example.com',
      });
    });
  });
}
