import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSimulatedClock, type SimulatedClock } from '../../src/runtime/clock.js';
import { DIALECTS } from '../dialects.js';
import {
  count,
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

/** Webhooks one move of a `slowmany` order sends to the slow receiver. */
const PER_MOVE = 10;
/** Moves of `slowmany` orders: 160 deliveries to one slow destination, more than the worker claims at once. */
const MOVES = 16;
const BACKLOG = PER_MOVE * MOVES;

let t: TestOrderflow;
let clock: SimulatedClock;
let fast: Receiver;
let slow: HeldReceiver;

for (const dialect of DIALECTS) {
  describe(`worker with a backlog for one slow destination (${dialect})`, () => {
    beforeEach(async () => {
      clock = createSimulatedClock();
      fast = await startReceiver();
      // Held for at most 8 s, under the 10 s webhook timeout.
      slow = await startHeldReceiver(8_000);
      t = await createAutomationTest({
        dialect,
        clock,
        demo: false,
        env: { ORDERFLOW_WEBHOOK_ALLOW_HOSTS: '127.0.0.1', ORDERFLOW_DESTINATION_CONCURRENCY: '2' },
      });
      await publishWorkflow(
        t,
        hookWorkflow(
          'slowmany',
          Array.from({ length: PER_MOVE }, (_, i) => ({ type: 'webhook', url: `${slow.url}/slow/${i}` })),
        ),
      );
      await publishWorkflow(t, hookWorkflow('fasthook', [{ type: 'webhook', url: `${fast.url}/fast` }]));
    });
    afterEach(async () => {
      slow.release();
      await t.close();
      await fast.close();
      await slow.close();
    });

    const deliveryOf = (id: string) => t.of.store.db.selectFrom('deliveries').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

    it('sends a delivery to another destination that falls due behind the backlog while the backlog is in flight', async () => {
      for (let i = 0; i < MOVES; i++) await move(t, (await createOrder(t, 'slowmany')).id, 'working');
      // Due after every delivery of the backlog: claimed oldest first, it comes last.
      clock.advance(1_000);
      const fastId: string = (await move(t, (await createOrder(t, 'fasthook')).id, 'working')).deliveries[0].id;
      expect(await count(t, 'deliveries')).toBe(BACKLOG + 1);

      const run = t.of.worker.runOnce();
      // Bounded: the slow receiver answers each request within 8 s, and 2 at a time it would take
      // minutes to work through the backlog; the fast delivery must not wait for that.
      await fast.waitFor(1, 5_000);
      // The slow receiver has answered none of its (at most 2) requests yet.
      expect(slow.requests()).toBeGreaterThan(0);
      expect(slow.requests()).toBeLessThanOrEqual(2);
      expect(slow.inFlight()).toBe(slow.requests());
      // The claims passed over the slow destination's rows once the worker held its 2 slots' worth
      // and as many again waiting: the rest of the backlog is not even leased.
      const leased = await t.of.store.db
        .selectFrom('deliveries')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('workflow', '=', 'slowmany')
        .where('lease_token', 'is not', null)
        .executeTakeFirstOrThrow();
      expect(Number(leased.n)).toBe(2 * 2);
      // Its 2 slots stay in use (bounded wait: the second request may still be on its way).
      for (let i = 0; i < 100 && slow.inFlight() < 2; i++) await new Promise((r) => setTimeout(r, 20));
      expect(slow.inFlight()).toBe(2);

      slow.release();
      expect(await run).toMatchObject({ claimed: BACKLOG + 1, delivered: BACKLOG + 1 });
      expect(slow.maxInFlight()).toBeLessThanOrEqual(2);
      expect(slow.requests()).toBe(BACKLOG);
      expect(fast.requests).toHaveLength(1);
      expect(await deliveryOf(fastId)).toMatchObject({ status: 'delivered', attempts: 1 });
      expect(await count(t, 'delivery_attempts')).toBe(BACKLOG + 1);
    });

    it('the running worker sends a delivery queued while it works on the backlog before the backlog is done', async () => {
      for (let i = 0; i < MOVES; i++) await move(t, (await createOrder(t, 'slowmany')).id, 'working');
      t.of.worker.start();
      // Bounded wait for the worker to take the slow destination's slots.
      for (let i = 0; i < 250 && slow.inFlight() < 2; i++) await new Promise((r) => setTimeout(r, 20));
      expect(slow.inFlight()).toBe(2);
      clock.advance(1_000);
      const fastId: string = (await move(t, (await createOrder(t, 'fasthook')).id, 'working')).deliveries[0].id;
      await fast.waitFor(1, 5_000);
      expect(slow.requests()).toBeLessThanOrEqual(2);
      expect(slow.inFlight()).toBe(slow.requests());

      slow.release();
      // Bounded: released, the backlog is answered at once.
      for (let i = 0; i < 500 && (await count(t, 'delivery_attempts')) < BACKLOG + 1; i++) await new Promise((r) => setTimeout(r, 20));
      await t.of.worker.stop();
      expect(await count(t, 'delivery_attempts')).toBe(BACKLOG + 1);
      expect(slow.requests()).toBe(BACKLOG);
      expect(await deliveryOf(fastId)).toMatchObject({ status: 'delivered', attempts: 1 });
    });
  });
}
