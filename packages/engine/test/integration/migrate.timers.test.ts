import { afterEach, describe, expect, it } from 'vitest';
import { createSimulatedClock, type SimulatedClock } from '../../src/runtime/clock.js';
import { DIALECTS, type Dialect } from '../dialects.js';
import { createAutomationTest, createOrder, move, publishWorkflow, type Receiver, startReceiver } from '../helpers/automation.js';
import { json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow | undefined;
let receiver: Receiver | undefined;

afterEach(async () => {
  await t?.close();
  await receiver?.close();
  t = undefined;
  receiver = undefined;
});

const SECOND = 1000;

/** Shipping announces itself to a tracking service 3 s after entry, if the order is still shipping; it times out after 1 h. */
function shipWorkflow(url: string, shippingTimeout = '1h') {
  return {
    key: 'ship',
    name: 'Ship',
    states: [
      { key: 'placed', name: 'Placed', group: 'new', initial: true },
      { key: 'packing', name: 'Packing', group: 'processing' },
      { key: 'shipping', name: 'Shipping', group: 'processing', timeout: { after: shippingTimeout, to: 'stuck' } },
      { key: 'stuck', name: 'Stuck', group: 'processing' },
      { key: 'delivered', name: 'Delivered', group: 'completed' },
      { key: 'dropped', name: 'Dropped', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
    ],
    transitions: [
      { from: 'placed', to: 'packing' },
      { from: '*', to: 'dropped' },
      { from: 'packing', to: 'shipping' },
      { from: 'stuck', to: 'shipping' },
      { from: 'shipping', to: 'delivered' },
    ],
    rules: [
      {
        id: 'tracking',
        trigger: 'state_changed',
        conditions: { new_state: 'shipping' },
        actions: [{ type: 'webhook', url: `${url}/track`, delay: '3s', onlyIfStillIn: true }],
      },
    ],
  };
}

// biome-ignore lint/suspicious/noExplicitAny: answers are read loosely
type Loose = any;

async function setup(dialect: Dialect, clock: SimulatedClock) {
  receiver = await startReceiver();
  t = await createAutomationTest({ dialect, clock, demo: false, env: { ORDERFLOW_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' } });
  const v1 = shipWorkflow(receiver.url);
  await publishWorkflow(t, v1);
  const order = await createOrder(t, 'ship');
  await move(t, order.id, 'packing');
  await move(t, order.id, 'shipping');
  // v2 makes shipping time out after 2 h instead of 1 h; the tracking rule is unchanged.
  const put = await t.request('designer', { method: 'PUT', url: '/api/v1/workflows/ship/draft', body: shipWorkflow(receiver.url, '2h') });
  expect(put.statusCode, put.body).toBe(200);
  const pub = await t.request('designer', { method: 'POST', url: '/api/v1/workflows/ship/publish' });
  expect(pub.statusCode, pub.body).toBe(200);
  return { x: t, order };
}

/** Runs the worker until nothing is due (bounded). */
async function drain(x: TestOrderflow) {
  for (let i = 0; i < 5; i++) {
    const c = await x.of.worker.runOnce();
    if (c.timersFired + c.claimed === 0) break;
  }
}

for (const dialect of DIALECTS) {
  describe(`migration timer fates (${dialect})`, () => {
    const expected = {
      keep: { action: 'kept', timeout: 'kept', sent: 1 },
      recompute: { action: 'kept', timeout: 'retimed', sent: 1 },
      cancel: { action: 'cancelled', timeout: 'cancelled', sent: 0 },
    } as const;

    for (const policy of ['keep', 'recompute', 'cancel'] as const) {
      it(`gives every pending timer a fate under "${policy}", lists it in the answer and history, and sends the delayed webhook ${expected[policy].sent} time(s)`, async () => {
        // Near real time: the webhook signature is checked against the wall clock by receivers.
        const clock = createSimulatedClock(new Date());
        const { x, order } = await setup(dialect, clock);
        const entered = clock.now().getTime();
        clock.advance(1 * SECOND);

        const res = await x.request('operator', {
          method: 'POST',
          url: `/api/v1/orders/${order.id}/migrate`,
          body: { toVersion: 2, timers: policy },
        });
        expect(res.statusCode, res.body).toBe(200);
        const answer: Loose = json(res);
        expect(answer.order).toMatchObject({ workflowVersion: 2, state: 'shipping' });
        const fates: Loose[] = answer.migration.timers;
        const action = fates.find((f) => f.kind === 'action');
        const timeout = fates.find((f) => f.kind === 'timeout');
        expect(fates).toHaveLength(2);
        expect(action).toMatchObject({
          fate: expected[policy].action,
          ruleId: 'tracking',
          dueAt: new Date(entered + 3 * SECOND).toISOString(),
        });
        expect(timeout).toMatchObject({ fate: expected[policy].timeout, dueAt: new Date(entered + 3600 * SECOND).toISOString() });
        if (policy === 'recompute') expect(timeout.newDueAt).toBe(new Date(entered + 7200 * SECOND).toISOString());
        if (policy === 'cancel') expect(action.why).toMatch(/cancel/);

        const history: Loose[] = json(await x.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}/history` })).items;
        const migrated = history.find((h) => h.type === 'migrated');
        expect(migrated.timers).toEqual(fates);

        const pending: Loose[] = json(await x.request('viewer', { method: 'GET', url: `/api/v1/timers?orderId=${order.id}` })).items;
        expect(pending.map((p) => p.kind).sort()).toEqual(policy === 'cancel' ? [] : ['action', 'timeout']);

        clock.advance(3 * SECOND);
        await drain(x);
        clock.advance(60 * SECOND);
        await drain(x);
        const tracked = receiver?.requests.filter((r) => r.url === '/track') ?? [];
        expect(tracked).toHaveLength(expected[policy].sent);
        const timeoutTimer = (await x.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}` })).json();
        expect(timeoutTimer.state).toBe('shipping');
      });
    }
  });
}
