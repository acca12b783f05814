import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSimulatedClock, type SimulatedClock } from '../../src/runtime/clock.js';
import { DIALECTS } from '../dialects.js';
import {
  createAutomationTest,
  createOrder,
  type HeldReceiver,
  hookWorkflow,
  move,
  publishWorkflow,
  type Receiver,
  startHeldReceiver,
  startReceiver,
} from '../helpers/automation.js';
import type { TestOrderflow } from '../helpers/orderflow.js';

/** Polls `probe` until it answers true (answers true), or until `stop()` holds (answers false). */
async function eventually(probe: () => Promise<boolean>, stop: () => boolean): Promise<boolean> {
  for (;;) {
    if (await probe()) return true;
    if (stop()) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
}

const TIMED = {
  key: 'timed',
  name: 'Timed',
  states: [
    { key: 'placed', name: 'Placed', group: 'new', initial: true },
    { key: 'waiting', name: 'Waiting', group: 'processing', timeout: { after: '1s', to: 'late' } },
    { key: 'late', name: 'Late', group: 'completed' },
    { key: 'dropped', name: 'Dropped', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
  ],
  transitions: [
    { from: 'placed', to: 'waiting' },
    { from: '*', to: 'dropped' },
  ],
  rules: [],
};

/** A bound on a wait that only ends a test that would hang; no timing is asserted. */
const give = (ms: number) => {
  const end = Date.now() + ms;
  return () => Date.now() > end;
};

let t: TestOrderflow;
let clock: SimulatedClock;
let fast: Receiver;
let slow: HeldReceiver;

for (const dialect of DIALECTS) {
  describe(`worker with a slow delivery in flight (${dialect})`, () => {
    beforeEach(async () => {
      clock = createSimulatedClock();
      fast = await startReceiver();
      // Held for at most 8 s, under the 10 s webhook timeout: the slow delivery is then answered 200.
      slow = await startHeldReceiver(8_000);
      t = await createAutomationTest({
        dialect,
        clock,
        demo: false,
        env: { ORDERFLOW_WEBHOOK_ALLOW_HOSTS: '127.0.0.1', ORDERFLOW_DESTINATION_CONCURRENCY: '1' },
      });
      await publishWorkflow(t, hookWorkflow('slowhook', [{ type: 'webhook', url: `${slow.url}/slow` }]));
      await publishWorkflow(t, hookWorkflow('fasthook', [{ type: 'webhook', url: `${fast.url}/fast` }]));
      await publishWorkflow(t, TIMED);
    });
    afterEach(async () => {
      slow.release();
      await t.close();
      await fast.close();
      await slow.close();
    });

    const deliveryOf = (id: string) => t.of.store.db.selectFrom('deliveries').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const attemptsOf = (id: string) => t.of.store.db.selectFrom('delivery_attempts').selectAll().where('delivery_id', '=', id).execute();
    const timerFired = async (orderId: string) =>
      (await t.of.store.db.selectFrom('timers').select('status').where('order_id', '=', orderId).executeTakeFirst())?.status === 'fired';

    it('sends new deliveries and fires due timers while a slow webhook is in flight, and records the slow one once', async () => {
      t.of.worker.start();
      const slowId: string = (await move(t, (await createOrder(t, 'slowhook')).id, 'working')).deliveries[0].id;
      await slow.waitFor(1);

      // While the slow webhook is held: a new webhook to another receiver, and a timer that comes due.
      const timed = await createOrder(t, 'timed');
      await move(t, timed.id, 'waiting');
      const fastId: string = (await move(t, (await createOrder(t, 'fasthook')).id, 'working')).deliveries[0].id;
      clock.advance(1_000);
      t.of.worker.wake();

      const slowAnswered = () => slow.inFlight() === 0;
      const events: string[] = [];
      const delivered = eventually(async () => (await deliveryOf(fastId)).status === 'delivered', slowAnswered).then((ok) => {
        if (ok) events.push('fast delivered');
      });
      const fired = eventually(() => timerFired(timed.id), slowAnswered).then((ok) => {
        if (ok) events.push('timer fired');
      });
      await Promise.all([delivered, fired]);
      // Both happened while the slow receiver still held its answer.
      expect(slowAnswered()).toBe(false);
      expect(events.sort()).toEqual(['fast delivered', 'timer fired']);
      expect(fast.requests).toHaveLength(1);
      expect(await deliveryOf(slowId)).toMatchObject({ status: 'pending', attempts: 0 });

      slow.release();
      expect(await eventually(async () => (await deliveryOf(slowId)).status === 'delivered', give(15_000))).toBe(true);
      await t.of.worker.stop();
      expect(await deliveryOf(slowId)).toMatchObject({ status: 'delivered', attempts: 1 });
      expect((await attemptsOf(slowId)).map((a) => a.outcome)).toEqual(['delivered']);
      expect(slow.requests()).toBe(1);
    });

    it('keeps the per-destination limit for deliveries claimed while a slow one is in flight', async () => {
      t.of.worker.start();
      const first: string = (await move(t, (await createOrder(t, 'slowhook')).id, 'working')).deliveries[0].id;
      await slow.waitFor(1);
      // A second webhook to the same slow receiver (at most 1 at once) and one to the fast receiver.
      const second: string = (await move(t, (await createOrder(t, 'slowhook')).id, 'working')).deliveries[0].id;
      const fastId: string = (await move(t, (await createOrder(t, 'fasthook')).id, 'working')).deliveries[0].id;
      expect(
        await eventually(
          async () => (await deliveryOf(fastId)).status === 'delivered',
          () => slow.inFlight() === 0,
        ),
      ).toBe(true);
      expect(slow.requests()).toBe(1);

      slow.release();
      await slow.waitFor(2);
      expect(await eventually(async () => (await deliveryOf(second)).status === 'delivered', give(15_000))).toBe(true);
      await t.of.worker.stop();
      expect(slow.maxInFlight()).toBe(1);
      for (const id of [first, second]) {
        expect(await deliveryOf(id)).toMatchObject({ status: 'delivered', attempts: 1 });
        expect(await attemptsOf(id)).toHaveLength(1);
      }
    });

    it('stop() waits for the slow delivery in flight and records it before it settles', async () => {
      t.of.worker.start();
      const slowId: string = (await move(t, (await createOrder(t, 'slowhook')).id, 'working')).deliveries[0].id;
      await slow.waitFor(1);
      let stopped = false;
      const stopping = t.of.worker.stop().then(() => {
        stopped = true;
      });
      // A change committed while stopping claims nothing more.
      const fastId: string = (await move(t, (await createOrder(t, 'fasthook')).id, 'working')).deliveries[0].id;
      await new Promise((r) => setTimeout(r, 50));
      expect(stopped).toBe(false);
      slow.release();
      await stopping;
      expect(await deliveryOf(slowId)).toMatchObject({ status: 'delivered', attempts: 1 });
      expect(await attemptsOf(slowId)).toHaveLength(1);
      expect(await deliveryOf(fastId)).toMatchObject({ status: 'pending', attempts: 0, lease_token: null });
      expect(fast.requests).toHaveLength(0);
    });
  });
}
