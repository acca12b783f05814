import { DEMO_TEMPLATES } from '@orderflow/core';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSimulatedClock, type SimulatedClock } from '../../src/runtime/clock.js';
import { DIALECTS, type Dialect } from '../dialects.js';
import { count, createAutomationTest, createOrder, move, publishWorkflow, type Receiver, startReceiver } from '../helpers/automation.js';
import { json, type TestOrderflow, WEBHOOK_SECRET } from '../helpers/orderflow.js';

let t: TestOrderflow;
let receiver: Receiver;
let clock: SimulatedClock;

async function setup(dialect: Dialect, env: Record<string, string> = {}) {
  // Near real time: standardwebhooks checks the signed timestamp against the wall clock.
  clock = createSimulatedClock(new Date());
  receiver = await startReceiver();
  t = await createAutomationTest({
    dialect,
    clock,
    demo: false,
    env: { ORDERFLOW_WEBHOOK_ALLOW_HOSTS: '127.0.0.1', ORDERFLOW_RETRY_BASE: '1s', ...env },
  });
}

afterEach(async () => {
  await t?.close();
  await receiver?.close();
});

/** The SPEC §2 example rule exactly as written, with its URL pointed at the receiver. */
function exampleWorkflow(url: string) {
  return {
    key: 'shop',
    name: 'Shop',
    states: [
      { key: 'placed', name: 'Placed', group: 'new', initial: true },
      { key: 'shipping', name: 'Shipping', group: 'processing' },
      { key: 'delayed', name: 'Delayed', group: 'processing', publicName: 'Delayed in transit' },
      { key: 'delivered', name: 'Delivered', group: 'completed' },
      { key: 'dropped', name: 'Dropped', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
    ],
    transitions: [
      { from: 'placed', to: 'shipping' },
      { from: 'shipping', to: 'delayed' },
      { from: 'delayed', to: 'shipping' },
      { from: 'shipping', to: 'delivered' },
    ],
    rules: [
      {
        trigger: 'state_changed',
        conditions: { new_state: 'delayed' },
        actions: [
          { type: 'send_email', template: 'delay_notification', to: 'customer' },
          { type: 'webhook', url: `${url}/notify` },
        ],
      },
    ],
  };
}

function endpointWorkflow(extra: Record<string, unknown> = {}) {
  return {
    key: 'ep',
    name: 'Endpoint',
    states: [
      { key: 'placed', name: 'Placed', group: 'new', initial: true },
      { key: 'a', name: 'A', group: 'processing' },
      { key: 'b', name: 'B', group: 'processing' },
      { key: 'done', name: 'Done', group: 'completed' },
      { key: 'dropped', name: 'Dropped', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
    ],
    transitions: [
      { from: 'placed', to: 'a' },
      { from: 'a', to: 'b' },
      { from: 'b', to: 'a' },
      { from: 'b', to: 'done' },
    ],
    rules: [{ id: 'to-endpoint', trigger: 'state_changed', actions: [{ type: 'webhook', endpoint: 'crm', ...extra }] }],
  };
}

async function createEndpoint(secret?: string, headers?: Record<string, string>) {
  const res = await t.request('designer', {
    method: 'POST',
    url: '/api/v1/endpoints',
    body: { key: 'crm', url: `${receiver.url}/crm`, ...(secret ? { secret } : {}), ...(headers ? { headers } : {}) },
  });
  expect(res.statusCode, res.body).toBe(201);
  return json(res);
}

const delivery = async (id: string) => json(await t.request('viewer', { method: 'GET', url: `/api/v1/deliveries/${id}` }));

for (const dialect of DIALECTS) {
  describe(`worker webhooks (${dialect})`, () => {
    describe('webhook deliveries', () => {
      beforeEach(async () => {
        await setup(dialect);
      });

      it('sends one signed POST per matching transition that the standardwebhooks package verifies', async () => {
        const tpl = DEMO_TEMPLATES.find((x) => x.key === 'delay_notification');
        expect(
          (await t.request('designer', { method: 'PUT', url: '/api/v1/templates/delay_notification', body: { ...tpl } })).statusCode,
        ).toBe(201);
        await publishWorkflow(t, exampleWorkflow(receiver.url));
        const order = await createOrder(t, 'shop', { customer: { email: 'ada@example.com', name: 'Ada' }, deliveryEstimate: 'Friday' });
        await move(t, order.id, 'shipping');
        const first = await move(t, order.id, 'delayed');
        const webhookId = first.deliveries.find((d: { type: string }) => d.type === 'webhook').id;
        await move(t, order.id, 'shipping');
        const second = await move(t, order.id, 'delayed');

        const counts = await t.of.worker.runOnce();
        expect(counts).toMatchObject({ delivered: 4, failed: 0, retried: 0 });
        expect(receiver.requests).toHaveLength(2);

        const verifier = new Webhook(WEBHOOK_SECRET);
        const ids = new Set<string>();
        for (const req of receiver.requests) {
          expect(req.method).toBe('POST');
          expect(req.url).toBe('/notify');
          expect(req.headers['content-type']).toBe('application/json');
          const payload = verifier.verify(req.body, {
            'webhook-id': String(req.headers['webhook-id']),
            'webhook-timestamp': String(req.headers['webhook-timestamp']),
            'webhook-signature': String(req.headers['webhook-signature']),
          }) as { id: string; type: string; data: { order: { id: string }; from: string; to: string; rule: string } };
          expect(payload).toMatchObject({
            type: 'order.state_changed',
            data: { from: 'shipping', to: 'delayed', rule: 'rule-1', order: { id: order.id } },
          });
          expect(payload.id).toMatch(/^evt_/);
          ids.add(String(req.headers['webhook-id']));
        }
        expect([...ids].sort()).toEqual([webhookId, second.deliveries.find((d: { type: string }) => d.type === 'webhook').id].sort());
        // A tampered body does not verify.
        const req = receiver.requests[0];
        expect(() =>
          verifier.verify(`${req?.body} `, {
            'webhook-id': String(req?.headers['webhook-id']),
            'webhook-timestamp': String(req?.headers['webhook-timestamp']),
            'webhook-signature': String(req?.headers['webhook-signature']),
          }),
        ).toThrow();

        const d = await delivery(webhookId);
        expect(d).toMatchObject({ status: 'delivered', attempts: 1, type: 'webhook' });
        expect(d.attemptLog).toEqual([
          expect.objectContaining({ attempt: 1, outcome: 'delivered', status: 200, responseBody: 'ok', error: null }),
        ]);
      });

      it('delivers exactly once after two retries when the receiver answers 500, 500, 200', async () => {
        await createEndpoint();
        await publishWorkflow(t, endpointWorkflow());
        receiver.respond({ status: 500, body: 'boom 1' }, { status: 500, body: 'boom 2' }, { status: 200, body: 'fine' });
        const order = await createOrder(t, 'ep');
        const change = await move(t, order.id, 'a');
        const id = change.deliveries[0].id;

        expect(await t.of.worker.runOnce()).toMatchObject({ retried: 1, delivered: 0 });
        // Not due yet: nothing is claimed until the clock reaches the retry time.
        expect(await t.of.worker.runOnce()).toMatchObject({ claimed: 0 });
        let d = await delivery(id);
        expect(d.status).toBe('pending');
        const wait1 = Date.parse(d.nextAttemptAt) - clock.now().getTime();
        expect(wait1).toBeGreaterThanOrEqual(500);
        expect(wait1).toBeLessThanOrEqual(1000);

        clock.advance(wait1);
        expect(await t.of.worker.runOnce()).toMatchObject({ retried: 1 });
        d = await delivery(id);
        const wait2 = Date.parse(d.nextAttemptAt) - clock.now().getTime();
        expect(wait2).toBeGreaterThanOrEqual(1000);
        expect(wait2).toBeLessThanOrEqual(2000);

        clock.advance(wait2);
        expect(await t.of.worker.runOnce()).toMatchObject({ delivered: 1 });
        clock.advance(24 * 3600_000);
        expect(await t.of.worker.runOnce()).toMatchObject({ claimed: 0 });

        expect(receiver.requests).toHaveLength(3);
        expect(new Set(receiver.requests.map((r) => r.headers['webhook-id']))).toEqual(new Set([id]));
        d = await delivery(id);
        expect(d).toMatchObject({ status: 'delivered', attempts: 3, lastError: null });
        expect(
          d.attemptLog.map((a: { outcome: string; status: number; responseBody: string }) => [a.outcome, a.status, a.responseBody]),
        ).toEqual([
          ['retry', 500, 'boom 1'],
          ['retry', 500, 'boom 2'],
          ['delivered', 200, 'fine'],
        ]);
        expect((await t.request('viewer', { method: 'GET', url: '/api/v1/endpoints/crm' })).json()).toMatchObject({
          consecutiveFailures: 0,
          enabled: true,
        });
      });

      it('honours Retry-After on a 429', async () => {
        await createEndpoint();
        await publishWorkflow(t, endpointWorkflow());
        receiver.respond({ status: 429, headers: { 'retry-after': '120' } }, { status: 200 });
        const order = await createOrder(t, 'ep');
        const id = (await move(t, order.id, 'a')).deliveries[0].id;
        expect(await t.of.worker.runOnce()).toMatchObject({ retried: 1 });
        const d = await delivery(id);
        expect(Date.parse(d.nextAttemptAt) - clock.now().getTime()).toBe(120_000);
        clock.advance(119_000);
        expect(await t.of.worker.runOnce()).toMatchObject({ claimed: 0 });
        clock.advance(1_000);
        expect(await t.of.worker.runOnce()).toMatchObject({ delivered: 1 });
        expect(receiver.requests).toHaveLength(2);
      });

      it('disables the endpoint loudly on 410 and sends nothing more to it', async () => {
        await createEndpoint();
        await publishWorkflow(t, endpointWorkflow());
        receiver.respond({ status: 410, body: 'gone' });
        const order = await createOrder(t, 'ep');
        const id = (await move(t, order.id, 'a')).deliveries[0].id;
        expect(await t.of.worker.runOnce()).toMatchObject({ failed: 1 });
        expect(await delivery(id)).toMatchObject({ status: 'failed' });

        const ep = json(await t.request('viewer', { method: 'GET', url: '/api/v1/endpoints/crm' }));
        expect(ep).toMatchObject({ enabled: false, secretSet: true });
        expect(ep.disabledReason).toMatch(/410/);
        const notes = json(await t.request('viewer', { method: 'GET', url: '/api/v1/notifications' })).items;
        expect(notes).toEqual([expect.objectContaining({ severity: 'critical', channel: 'admins', orderId: order.id, readAt: null })]);
        expect(notes[0].message).toMatch(/endpoint "crm" was disabled/);

        const later = (await move(t, order.id, 'b')).deliveries[0].id;
        await t.of.worker.runOnce();
        expect(receiver.requests).toHaveLength(1);
        const d = await delivery(later);
        expect(d).toMatchObject({ status: 'failed' });
        expect(d.lastError).toMatch(/disabled/);

        // Enabled again by hand, a bulk retry delivers what failed meanwhile.
        receiver.respond({ status: 200 });
        const put = await t.request('designer', {
          method: 'PUT',
          url: '/api/v1/endpoints/crm',
          body: { url: `${receiver.url}/crm`, enabled: true },
        });
        expect(json(put)).toMatchObject({ enabled: true, disabledReason: null, consecutiveFailures: 0 });
        const bulk = await t.request('operator', {
          method: 'POST',
          url: '/api/v1/deliveries/retry',
          body: { status: 'failed', type: 'webhook' },
        });
        expect(json(bulk)).toEqual({ retried: 2 });
        expect(await t.of.worker.runOnce()).toMatchObject({ delivered: 2 });
      });

      it('does not follow a redirect: a 3xx fails the delivery', async () => {
        await createEndpoint();
        await publishWorkflow(t, endpointWorkflow());
        receiver.respond({ status: 302, headers: { location: `${receiver.url}/elsewhere` } }, { status: 200 });
        const order = await createOrder(t, 'ep');
        const id = (await move(t, order.id, 'a')).deliveries[0].id;
        expect(await t.of.worker.runOnce()).toMatchObject({ failed: 1 });
        clock.advance(3600_000);
        await t.of.worker.runOnce();
        expect(receiver.requests.map((r) => r.url)).toEqual(['/crm']);
        const d = await delivery(id);
        expect(d).toMatchObject({ status: 'failed', attempts: 1 });
        expect(d.attemptLog[0]).toMatchObject({ outcome: 'failed', status: 302 });
        expect(d.lastError).toMatch(/redirect/);
      });

      it('signs with the endpoint secret, adds its headers and renders a JSON body and header templates', async () => {
        const secret = 'whsec_ZW5kcG9pbnQtc2VjcmV0LW9mLWNybS0wMTIzNDU2';
        const ep = await createEndpoint(secret, { 'x-tenant': 'acme' });
        await publishWorkflow(
          t,
          endpointWorkflow({
            body: {
              order: '{{ order.id }}',
              state: '{{ new_state.name }}',
              total: '{{ order.data.total }}',
              note: '{{ order.data.note }}',
            },
            headers: { 'x-order': '{{ order.id }} {{ order.data.note }}' },
          }),
        );
        expect(JSON.stringify(ep)).not.toContain(secret);
        const note = 'say "hi"\r\nX-Injected: 1';
        const order = await createOrder(t, 'ep', { total: 42, note });
        await move(t, order.id, 'a');
        await t.of.worker.runOnce();
        const req = receiver.requests[0];
        expect(req?.headers['x-tenant']).toBe('acme');
        expect(req?.headers['x-order']).toBe(`${order.id} say "hi" X-Injected: 1`);
        expect(req?.headers['x-injected']).toBeUndefined();
        const payload = new Webhook(secret).verify(req?.body ?? '', {
          'webhook-id': String(req?.headers['webhook-id']),
          'webhook-timestamp': String(req?.headers['webhook-timestamp']),
          'webhook-signature': String(req?.headers['webhook-signature']),
        });
        expect(payload).toEqual({ order: order.id, state: 'A', total: 42, note });
        expect(() => new Webhook(WEBHOOK_SECRET).verify(req?.body ?? '', req?.headers as Record<string, string>)).toThrow();
      });
    });

    describe('retry limits and endpoint failure counts', () => {
      it('marks a delivery dead after its last attempt, raises a critical notification, and retries it by hand', async () => {
        await setup(dialect, { ORDERFLOW_RETRY_MAX_ATTEMPTS: '3' });
        await createEndpoint();
        await publishWorkflow(t, endpointWorkflow());
        receiver.respond({ status: 503 });
        const order = await createOrder(t, 'ep');
        const id = (await move(t, order.id, 'a')).deliveries[0].id;
        const totals = { retried: 0, dead: 0 };
        for (let i = 0; i < 5; i++) {
          const c = await t.of.worker.runOnce();
          totals.retried += c.retried;
          totals.dead += c.dead;
          clock.advance(60_000);
        }
        expect(totals).toEqual({ retried: 2, dead: 1 });
        expect(receiver.requests).toHaveLength(3);
        const d = await delivery(id);
        expect(d).toMatchObject({ status: 'dead', attempts: 3, nextAttemptAt: null });
        expect(d.attemptLog.map((a: { outcome: string }) => a.outcome)).toEqual(['retry', 'retry', 'dead']);
        const notes = json(await t.request('viewer', { method: 'GET', url: '/api/v1/notifications' })).items;
        expect(notes).toEqual([expect.objectContaining({ severity: 'critical', channel: 'admins' })]);
        expect(notes[0].message).toContain(`Delivery ${id}`);
        expect(notes[0].message).toMatch(/dead after 3 attempts/);

        receiver.respond({ status: 200 });
        const retried = await t.request('operator', { method: 'POST', url: `/api/v1/deliveries/${id}/retry` });
        expect(json(retried)).toMatchObject({ id, status: 'pending' });
        expect(await t.of.worker.runOnce()).toMatchObject({ delivered: 1 });
        expect(await delivery(id)).toMatchObject({ status: 'delivered', attempts: 4 });
      });

      it('disables an endpoint after the configured number of deliveries in a row failed', async () => {
        await setup(dialect, { ORDERFLOW_ENDPOINT_FAILURE_LIMIT: '3' });
        await createEndpoint();
        await publishWorkflow(t, endpointWorkflow());
        receiver.respond({ status: 400, body: 'bad' });
        const order = await createOrder(t, 'ep');
        await move(t, order.id, 'a');
        await move(t, order.id, 'b');
        await t.of.worker.runOnce();
        expect(json(await t.request('viewer', { method: 'GET', url: '/api/v1/endpoints/crm' }))).toMatchObject({
          enabled: true,
          consecutiveFailures: 2,
        });
        await move(t, order.id, 'a');
        await t.of.worker.runOnce();
        const ep = json(await t.request('viewer', { method: 'GET', url: '/api/v1/endpoints/crm' }));
        expect(ep).toMatchObject({ enabled: false, consecutiveFailures: 3 });
        expect(ep.disabledReason).toMatch(/3 deliveries in a row failed/);
        expect(await count(t, 'notifications')).toBe(1);
        await move(t, order.id, 'b');
        await t.of.worker.runOnce();
        expect(receiver.requests).toHaveLength(3);
      });
    });
  });
}
