import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WebhookSender } from '../../src/actions/webhook.js';
import type { Store } from '../../src/store/store.js';
import { createWorker } from '../../src/worker/worker.js';
import { DIALECTS } from '../dialects.js';
import {
  count,
  createAutomationTest,
  createOrder,
  hookWorkflow,
  move,
  publishWorkflow,
  type Receiver,
  startHeldReceiver,
  startReceiver,
} from '../helpers/automation.js';
import type { TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow;
let fast: Receiver;
let slow: Awaited<ReturnType<typeof startHeldReceiver>>;

for (const dialect of DIALECTS) {
  describe(`worker bounds deliveries per destination (${dialect})`, () => {
    beforeEach(async () => {
      fast = await startReceiver();
      slow = await startHeldReceiver();
      t = await createAutomationTest({
        dialect,
        demo: false,
        env: { ORDERFLOW_WEBHOOK_ALLOW_HOSTS: '127.0.0.1', ORDERFLOW_DESTINATION_CONCURRENCY: '2' },
        create: { worker: { concurrency: 4 } },
      });
      // Every move sends one webhook to the slow receiver, then one to the fast one.
      await publishWorkflow(
        t,
        hookWorkflow('two', [
          { type: 'webhook', url: `${slow.url}/slow` },
          { type: 'webhook', url: `${fast.url}/fast` },
        ]),
      );
    });
    afterEach(async () => {
      slow.release();
      await t.close();
      await fast.close();
      await slow.close();
    });

    it('a slow receiver holds at most its share of the slots while the other receiver gets every delivery', async () => {
      for (let i = 0; i < 6; i++) await move(t, (await createOrder(t, 'two')).id, 'working');
      expect(await count(t, 'deliveries')).toBe(12);

      const run = t.of.worker.runOnce();
      // Without the bound the slow receiver's deliveries take all 4 slots and the fast ones wait behind them.
      await fast.waitFor(6, 10_000);
      expect(slow.inFlight()).toBe(2);

      slow.release();
      expect(await run).toMatchObject({ claimed: 12, delivered: 12 });
      expect(slow.maxInFlight()).toBe(2);
      expect(fast.requests).toHaveLength(6);
    });

    it('keeps connections to a destination open across rounds (the destination guard checked each when it was opened)', async () => {
      slow.release();
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 4; i++) await move(t, (await createOrder(t, 'two')).id, 'working');
        expect(await t.of.worker.runOnce()).toMatchObject({ delivered: 8 });
      }
      // 12 deliveries to each receiver, at most 2 at once: kept-alive connections carry all of them.
      expect(fast.requests).toHaveLength(12);
      expect(slow.connections()).toBeLessThanOrEqual(2);
    });

    it('claims more deliveries while a batch all for one slow receiver is in flight', async () => {
      await publishWorkflow(t, hookWorkflow('slowonly', [{ type: 'webhook', url: `${slow.url}/slow` }]));
      await publishWorkflow(t, hookWorkflow('fastonly', [{ type: 'webhook', url: `${fast.url}/fast` }]));
      // Claimed oldest first: the first batch of 2 is all for the slow receiver.
      for (let i = 0; i < 2; i++) await move(t, (await createOrder(t, 'slowonly')).id, 'working');
      for (let i = 0; i < 4; i++) await move(t, (await createOrder(t, 'fastonly')).id, 'working');
      const worker = createWorker({
        store: t.of.store,
        runtime: t.of.runtime,
        clock: t.of.clock,
        newId: t.of.newId,
        config: t.of.config,
        senders: t.of.senders,
        batchSize: 2,
        concurrency: 4,
        perDestination: 2,
      });
      const run = worker.runOnce();
      // Claiming in rounds, the fast receiver would get nothing until the slow batch is answered.
      await fast.waitFor(4, 10_000);
      expect(slow.inFlight()).toBe(2);
      slow.release();
      expect(await run).toMatchObject({ claimed: 6, delivered: 6 });
      await worker.close();
      expect(await count(t, 'delivery_attempts')).toBe(6);
    });

    it('records the attempts that finish together in one transaction', async () => {
      for (let i = 0; i < 4; i++) await move(t, (await createOrder(t, 'two')).id, 'working');
      // All 8 sends are answered in the same turn of the event loop, once all of them started.
      let started = 0;
      let open!: () => void;
      const gate = new Promise<void>((r) => {
        open = r;
      });
      const webhook: WebhookSender = {
        async send() {
          if (++started === 8) open();
          await gate;
          return { ok: true, status: 200, durationMs: 1 };
        },
        close: async () => undefined,
      };
      let transactions = 0;
      const store: Store = Object.create(t.of.store);
      store.transaction = (fn) => {
        transactions++;
        return t.of.store.transaction(fn);
      };
      const worker = createWorker({
        store,
        runtime: t.of.runtime,
        clock: t.of.clock,
        newId: t.of.newId,
        config: t.of.config,
        senders: { webhook, email: t.of.senders.email },
        concurrency: 8,
        perDestination: 8,
      });
      expect(await worker.runOnce()).toMatchObject({ claimed: 8, delivered: 8 });
      await worker.close();
      expect(await count(t, 'delivery_attempts')).toBe(8);
      // Two claims of timers and two of deliveries (the second finds nothing), and the completions:
      // one transaction per delivery would make 12.
      expect(transactions).toBe(5);
    });
  });
}
