import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSimulatedClock, type SimulatedClock } from '../../src/runtime/clock.js';
import { DIALECTS } from '../dialects.js';
import {
  createAutomationTest,
  createOrder,
  hookWorkflow,
  move,
  publishWorkflow,
  type Receiver,
  startReceiver,
} from '../helpers/automation.js';
import { demoOrder, expectProblem, json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow;
let receiver: Receiver;
let clock: SimulatedClock;

for (const dialect of DIALECTS) {
  describe(`operations routes (${dialect})`, () => {
    beforeEach(async () => {
      clock = createSimulatedClock(new Date());
      receiver = await startReceiver();
      t = await createAutomationTest({ dialect, clock, env: { ORDERFLOW_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' } });
      // The demo seed queues a few deliveries of its own; send them first.
      await t.of.worker.runOnce();
    });
    afterEach(async () => {
      await t.close();
      await receiver.close();
    });

    const get = async (url: string, role: 'viewer' | 'admin' = 'viewer') =>
      json(await t.request(role, { method: 'GET', url: `/api/v1${url}` }));

    describe('deliveries', () => {
      it('lists with filters and a cursor, shows attempts, and retries one or many', async () => {
        await publishWorkflow(t, hookWorkflow('ops', [{ type: 'webhook', url: `${receiver.url}/x` }]));
        receiver.respond({ status: 422, body: 'no thanks' });
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) {
          const o = await createOrder(t, 'ops');
          ids.push((await move(t, o.id, 'working')).deliveries[0].id);
        }
        await t.of.worker.runOnce();

        const failed = await get('/deliveries?status=failed&type=webhook&limit=2');
        expect(failed.items.map((d: { id: string }) => d.id)).toEqual([ids[2], ids[1]]);
        expect(failed.nextCursor).toEqual(expect.any(String));
        const rest = await get(`/deliveries?status=failed&type=webhook&limit=2&cursor=${failed.nextCursor}`);
        expect(rest.items.map((d: { id: string }) => d.id)).toEqual([ids[0]]);
        expect(rest.nextCursor).toBeNull();
        const byOrder = await get(`/deliveries?orderId=${failed.items[0].orderId}`);
        expect(byOrder.items).toHaveLength(1);
        expectProblem(await t.request('viewer', { method: 'GET', url: '/api/v1/deliveries?status=lost' }), 422, 'validation_failed');
        expectProblem(await t.request('viewer', { method: 'GET', url: '/api/v1/deliveries?cursor=%%%' }), 400, 'bad_request');

        const detail = await get(`/deliveries/${ids[0]}`);
        expect(detail).toMatchObject({ id: ids[0], status: 'failed', attempts: 1, type: 'webhook' });
        expect(detail.attemptLog).toEqual([
          expect.objectContaining({
            attempt: 1,
            outcome: 'failed',
            status: 422,
            responseBody: 'no thanks',
            error: 'HTTP 422',
            durationMs: expect.any(Number),
          }),
        ]);
        expectProblem(await t.request('viewer', { method: 'GET', url: '/api/v1/deliveries/dlv_missing' }), 404, 'not_found');

        receiver.respond({ status: 200 });
        expectProblem(await t.request('viewer', { method: 'POST', url: `/api/v1/deliveries/${ids[0]}/retry` }), 403, 'forbidden');
        expect(json(await t.request('operator', { method: 'POST', url: `/api/v1/deliveries/${ids[0]}/retry` }))).toMatchObject({
          status: 'pending',
        });
        expectProblem(await t.request('operator', { method: 'POST', url: '/api/v1/deliveries/dlv_missing/retry' }), 404, 'not_found');
        expect(await t.of.worker.runOnce()).toMatchObject({ delivered: 1 });

        expectProblem(await t.request('operator', { method: 'POST', url: '/api/v1/deliveries/retry', body: {} }), 422, 'validation_failed');
        const bulk = await t.request('operator', { method: 'POST', url: '/api/v1/deliveries/retry', body: { ids: [ids[1], ids[0]] } });
        // Only failed or dead ones are retried in bulk; the delivered one stays as it is.
        expect(json(bulk)).toEqual({ retried: 1 });
        expect(json(await t.request('operator', { method: 'POST', url: '/api/v1/deliveries/retry', body: { status: 'failed' } }))).toEqual({
          retried: 1,
        });
        expect(await t.of.worker.runOnce()).toMatchObject({ delivered: 2 });
        expect((await get('/deliveries?status=failed')).items).toEqual([]);
      });
    });

    describe('endpoints', () => {
      it('creates, reads, replaces and deletes endpoints without ever returning the secret', async () => {
        const secret = 'whsec_c2VjcmV0LW9mLXRoZS1iaWxsaW5nLWVuZHBvaW50';
        const created = await t.request('designer', {
          method: 'POST',
          url: '/api/v1/endpoints',
          body: { key: 'billing', url: `${receiver.url}/billing`, secret, headers: { 'x-api-key': 'abc' } },
        });
        expect(created.statusCode, created.body).toBe(201);
        expect(json(created)).toMatchObject({
          key: 'billing',
          enabled: true,
          secretSet: true,
          headers: { 'x-api-key': '[redacted]' },
          consecutiveFailures: 0,
        });
        expect(created.body).not.toContain(secret.slice(6));
        expectProblem(
          await t.request('designer', { method: 'POST', url: '/api/v1/endpoints', body: { key: 'billing', url: receiver.url } }),
          409,
          'conflict',
        );
        expectProblem(
          await t.request('operator', { method: 'POST', url: '/api/v1/endpoints', body: { key: 'x', url: receiver.url } }),
          403,
          'forbidden',
        );
        for (const body of [
          { key: 'bad', url: 'ftp://example.com' },
          { key: 'bad', url: 'https://user:pw@example.com' },
          { key: 'bad', url: 'https://example.com', secret: 'plain' },
          { key: 'bad', url: 'https://example.com', headers: { 'x-a': 'one\r\ntwo' } },
          { key: 'Bad Key', url: 'https://example.com' },
        ]) {
          expectProblem(await t.request('designer', { method: 'POST', url: '/api/v1/endpoints', body }), 422, 'validation_failed');
        }

        const generated = await t.request('designer', {
          method: 'PUT',
          url: '/api/v1/endpoints/audit',
          body: { url: 'https://audit.example.com/hooks' },
        });
        expect(generated.statusCode).toBe(201);
        expect(json(generated)).toMatchObject({ key: 'audit', secretSet: true });
        const stored = await t.of.store.db.selectFrom('endpoints').select('secret').where('key', '=', 'audit').executeTakeFirstOrThrow();
        expect(stored.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

        const list = await get('/endpoints');
        expect(list.items.map((e: { key: string }) => e.key)).toEqual(['audit', 'billing']);
        expect(JSON.stringify(list)).not.toContain('whsec_');

        // Credential-like header values are redacted; sending the redacted value back keeps the stored one.
        const shown = await get('/endpoints/billing');
        expect(shown.headers).toEqual({ 'x-api-key': '[redacted]' });
        const replaced = await t.request('designer', {
          method: 'PUT',
          url: '/api/v1/endpoints/billing',
          body: { url: `${receiver.url}/v2`, enabled: false, headers: { ...shown.headers, 'x-tenant': 'acme' } },
        });
        expect(json(replaced)).toMatchObject({
          url: `${receiver.url}/v2`,
          enabled: false,
          headers: { 'x-api-key': '[redacted]', 'x-tenant': '[redacted]' },
        });
        // The secret is kept when a replacement does not name one: a test send still verifies with it.
        await t.request('designer', {
          method: 'PUT',
          url: '/api/v1/endpoints/billing',
          body: { url: `${receiver.url}/v2`, headers: shown.headers },
        });
        const test = json(await t.request('designer', { method: 'POST', url: '/api/v1/endpoints/billing/test' }));
        expect(test).toMatchObject({ ok: true, status: 200, error: null });
        const req = receiver.requests.at(-1);
        expect(req?.url).toBe('/v2');
        expect(req?.headers['x-api-key']).toBe('abc');
        const payload = new Webhook(secret).verify(req?.body ?? '', {
          'webhook-id': String(req?.headers['webhook-id']),
          'webhook-timestamp': String(req?.headers['webhook-timestamp']),
          'webhook-signature': String(req?.headers['webhook-signature']),
        });
        expect(payload).toMatchObject({ type: 'endpoint.test', data: { order: { id: 'ord_SAMPLE' } } });
        expect(req?.headers['webhook-id']).toBe(test.deliveryId);

        expect((await t.request('designer', { method: 'DELETE', url: '/api/v1/endpoints/billing' })).statusCode).toBe(204);
        expectProblem(await t.request('viewer', { method: 'GET', url: '/api/v1/endpoints/billing' }), 404, 'not_found');
        expectProblem(await t.request('designer', { method: 'DELETE', url: '/api/v1/endpoints/billing' }), 404, 'not_found');
      });
    });

    describe('timers', () => {
      it('lists pending timers, reschedules and cancels them', async () => {
        const a = await demoOrder(t, ['awaiting_payment']);
        const b = await demoOrder(t, ['awaiting_payment']);
        const all = await get('/timers');
        const mine = all.items.filter((x: { orderId: string }) => [a.id, b.id].includes(x.orderId));
        expect(mine).toHaveLength(2);
        expect(mine[0]).toMatchObject({ kind: 'timeout', state: 'awaiting_payment', status: 'pending' });
        const ta = mine.find((x: { orderId: string }) => x.orderId === a.id);
        const tb = mine.find((x: { orderId: string }) => x.orderId === b.id);
        expect((await get(`/timers?orderId=${a.id}`)).items.map((x: { id: string }) => x.id)).toEqual([ta.id]);
        expect((await get(`/timers?due_before=${encodeURIComponent(clock.now().toISOString())}`)).items).toEqual([]);
        expectProblem(await t.request('viewer', { method: 'GET', url: '/api/v1/timers?due_before=tomorrow' }), 422, 'validation_failed');

        const soon = new Date(clock.now().getTime() + 60_000).toISOString();
        expectProblem(
          await t.request('viewer', { method: 'PATCH', url: `/api/v1/timers/${ta.id}`, body: { dueAt: soon } }),
          403,
          'forbidden',
        );
        const patched = await t.request('operator', { method: 'PATCH', url: `/api/v1/timers/${ta.id}`, body: { dueAt: soon } });
        expect(json(patched)).toMatchObject({ id: ta.id, dueAt: soon });
        expect((await t.request('operator', { method: 'DELETE', url: `/api/v1/timers/${tb.id}` })).statusCode).toBe(204);
        expectProblem(await t.request('operator', { method: 'DELETE', url: `/api/v1/timers/${tb.id}` }), 409, 'conflict');
        expectProblem(
          await t.request('operator', { method: 'PATCH', url: '/api/v1/timers/tmr_missing', body: { dueAt: soon } }),
          404,
          'not_found',
        );

        clock.advance(61_000);
        expect(await t.of.worker.runOnce()).toMatchObject({ timersFired: 1 });
        expect((await get(`/orders/${a.id}`)).state).toBe('payment_timeout');
        expect((await get(`/orders/${b.id}`)).state).toBe('awaiting_payment');
        expect((await get(`/timers?orderId=${b.id}&status=cancelled`)).items).toHaveLength(1);
      });
    });

    describe('runs, templates, stats and metrics', () => {
      it('shows the rule run log with each condition outcome', async () => {
        const order = await demoOrder(t, ['awaiting_payment', 'packing', 'shipping', 'delayed']);
        const runs = await get(`/runs?orderId=${order.id}&rule=delay-apology`);
        expect(runs.items).toHaveLength(4);
        const matched = runs.items.find((r: { matched: boolean }) => r.matched);
        expect(matched).toMatchObject({ trigger: 'state_changed', conditions: { result: true } });
        expect(matched.actions).toEqual([
          expect.objectContaining({ type: 'send_email', outcome: 'queued' }),
          expect.objectContaining({ type: 'webhook', outcome: 'queued' }),
        ]);
        const page = await get(`/runs?orderId=${order.id}&limit=1`);
        expect(page.items).toHaveLength(1);
        expect((await get(`/runs?orderId=${order.id}&limit=1&cursor=${page.nextCursor}`)).items[0].id).not.toBe(page.items[0].id);
      });

      it('previews a template against an order or sample data, and refuses templates that do not parse', async () => {
        const order = await demoOrder(t, ['awaiting_payment', 'packing', 'shipping', 'delayed'], { deliveryEstimate: '2026-04-01' });
        const fromOrder = json(
          await t.request('viewer', { method: 'POST', url: '/api/v1/templates/delay_notification/preview', body: { orderId: order.id } }),
        );
        expect(fromOrder.subject).toMatch(/delayed/i);
        expect(fromOrder.html).toContain('2026-04-01');
        expect(typeof fromOrder.text).toBe('string');
        const fromSample = json(
          await t.request('viewer', {
            method: 'POST',
            url: '/api/v1/templates/delay_notification/preview',
            body: { sample: { deliveryEstimate: 'next Tuesday', customer: { name: '<b>Eve</b>', email: 'eve@example.com' } } },
          }),
        );
        expect(fromSample.html).toContain('next Tuesday');
        expect(fromSample.html).not.toContain('<b>Eve</b>');
        const draft = json(
          await t.request('viewer', {
            method: 'POST',
            url: '/api/v1/templates/anything/preview',
            body: { template: { subject: 'Hi {{ order.data.customer.name }}', html: '<p>{{ order.id }}</p>' } },
          }),
        );
        expect(draft).toEqual({ subject: 'Hi Ada Lovelace', html: '<p>ord_SAMPLE</p>', text: 'ord_SAMPLE' });
        expectProblem(await t.request('viewer', { method: 'POST', url: '/api/v1/templates/missing/preview', body: {} }), 404, 'not_found');
        expectProblem(
          await t.request('viewer', {
            method: 'POST',
            url: '/api/v1/templates/delay_notification/preview',
            body: { orderId: 'ord_missing' },
          }),
          404,
          'not_found',
        );

        const bad = expectProblem(
          await t.request('designer', {
            method: 'PUT',
            url: '/api/v1/templates/broken',
            body: { subject: 'Hi {{ order.id', html: '<p>{% if %}</p>' },
          }),
          422,
          'validation_failed',
        );
        expect(bad.errors.map((e: { path: string }) => e.path).sort()).toEqual(['body.html', 'body.subject']);
        expectProblem(
          await t.request('designer', {
            method: 'PUT',
            url: '/api/v1/templates/broken',
            body: { subject: 'a\r\nBcc: x@example.com', html: '' },
          }),
          422,
          'validation_failed',
        );
        expectProblem(
          await t.request('designer', {
            method: 'PUT',
            url: '/api/v1/templates/broken',
            body: { subject: 'ok', html: '{% include "x" %}' },
          }),
          422,
          'validation_failed',
        );
        expect(
          (
            await t.request('designer', {
              method: 'PUT',
              url: '/api/v1/templates/fine',
              body: { subject: 'Hi {{ order.id }}', html: '<p>ok</p>' },
            })
          ).statusCode,
        ).toBe(201);
      });

      it('answers the dashboard figures', async () => {
        const o = await demoOrder(t, ['awaiting_payment']);
        clock.advance(90_000);
        await move(t, o.id, 'packing');
        await move(t, o.id, 'customer_cancelled');
        const stats = await get('/stats?workflow=orders');
        expect(Object.keys(stats.groups)).toEqual(['new', 'processing', 'cancelled', 'completed']);
        const total = (Object.values(stats.groups) as number[]).reduce((a, b) => a + b, 0);
        expect(total).toBe(stats.states.reduce((a: number, s: { count: number }) => a + s.count, 0));
        expect(stats.states).toContainEqual({ state: 'customer_cancelled', group: 'cancelled', count: expect.any(Number) });
        expect(stats.cancellations).toContainEqual({ initiator: 'customer', code: 'customer_request', count: expect.any(Number) });
        const waiting = stats.medianTimeInState.find((m: { state: string }) => m.state === 'awaiting_payment');
        expect(waiting.ms).toBeGreaterThanOrEqual(0);
        expect(Array.isArray(stats.recentFailures)).toBe(true);
      });

      it('exposes Prometheus metrics', async () => {
        await publishWorkflow(t, hookWorkflow('metered', [{ type: 'webhook', url: `${receiver.url}/m` }]));
        const o = await createOrder(t, 'metered');
        await move(t, o.id, 'working');
        await t.of.worker.runOnce();
        await demoOrder(t, ['awaiting_payment']);
        clock.advance(49 * 3600_000);
        const res = await t.request('viewer', { method: 'GET', url: '/metrics' });
        expect(res.statusCode).toBe(200);
        expect(res.headers['content-type']).toMatch(/^text\/plain/);
        const text = res.body;
        expect(text).toMatch(/^orderflow_transitions_total\{actor="api"\} [1-9]/m);
        expect(text).toMatch(/^orderflow_rule_runs_total\{matched="true"\} [1-9]/m);
        expect(text).toMatch(/^orderflow_delivery_attempts_total\{type="webhook",outcome="delivered"\} 1$/m);
        expect(text).toMatch(/^orderflow_deliveries\{status="delivered"\} [1-9]/m);
        expect(text).toMatch(/^orderflow_outbox_lag_seconds \d/m);
        // The payment timer has been due for an hour and nothing fired it yet.
        expect(text).toMatch(/^orderflow_timer_lag_seconds 3[56]\d\d/m);
        expect(text).toMatch(
          /^orderflow_http_request_duration_seconds_count\{method="POST",route="\/api\/v1\/orders\/:id\/transitions",status="200"\} [1-9]/m,
        );
        expect(text).toMatch(/^orderflow_delivery_latency_seconds_count [1-9]/m);
        await t.of.worker.runOnce();
        const after = (await t.request('viewer', { method: 'GET', url: '/metrics' })).body;
        expect(after).toMatch(/^orderflow_timer_lag_seconds 0$/m);
        expect(after).toMatch(/^orderflow_timer_fire_lag_seconds_count\{outcome="fired"\} [1-9]/m);
        expect(after).toMatch(/^orderflow_transitions_total\{actor="timer"\} [1-9]/m);
        expect(after).toMatch(/^orderflow_process_cpu_user_seconds_total /m);
      });
    });
  });
}
