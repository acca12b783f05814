import type { Caller } from '@orderflow/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSimulatedClock } from '../../src/runtime/clock.js';
import { createIdGenerator } from '../../src/runtime/ids.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import type { Store } from '../../src/store/store.js';
import { DIALECTS, freshStore, publishDemoOrders } from '../dialects.js';

const caller: Caller = { actor: { type: 'api', id: 'tok_test' }, roles: ['operator'] };

for (const dialect of DIALECTS) {
  describe(`wake-ups after a change (${dialect})`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    const clock = createSimulatedClock('2026-03-01T10:00:00.000Z');
    beforeEach(async () => {
      ({ store, cleanup } = await freshStore(dialect));
      await publishDemoOrders(store, clock.now().toISOString());
    });
    afterEach(async () => {
      await cleanup();
    });

    it('wakes the workers after a change that queues deliveries or timers, and only then', async () => {
      let wakes = 0;
      const counted: Store = { ...store, wake: async () => void wakes++ };
      const runtime = createRuntime({ store: counted, clock, newId: createIdGenerator(clock) });
      const created = await runtime.applyCommand({
        command: { type: 'create', workflow: 'orders', workflowVersion: 0, data: { customer: { email: 'a@example.com' } }, caller },
      });
      expect(created.body.deliveries.length).toBeGreaterThan(0);
      expect(wakes).toBe(1);
      // Every step of the demo's happy path, with what each one queued.
      const id = created.body.order.id;
      let quiet = 0;
      for (const to of ['awaiting_payment', 'packing', 'shipping', 'delayed', 'shipping']) {
        const before = wakes;
        const moved = await runtime.applyCommand({ orderId: id, command: { type: 'transition', to, caller } });
        const timers = (moved.decision?.effects ?? []).filter((e) => e.type === 'timer.schedule').length;
        const work = moved.body.deliveries.length + timers;
        expect(wakes - before, `${to}: ${work} deliveries and timers`).toBe(work > 0 ? 1 : 0);
        if (work === 0) quiet++;
      }
      expect(quiet).toBeGreaterThan(0);
    });
  });
}
