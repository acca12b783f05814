import { afterEach, describe, expect, it } from 'vitest';
import { createSimulatedClock } from '../../src/runtime/clock.js';
import { DIALECTS } from '../dialects.js';
import { createAutomationTest, createOrder, move, publishWorkflow } from '../helpers/automation.js';
import { json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const WAIT = {
  key: 'wait',
  name: 'Wait',
  states: [
    { key: 'placed', name: 'Placed', group: 'new', initial: true },
    { key: 'waiting', name: 'Waiting', group: 'processing', timeout: { after: '1h', to: 'expired' } },
    { key: 'done', name: 'Done', group: 'completed' },
    { key: 'expired', name: 'Expired', group: 'cancelled', cancellation: { initiator: 'customer', code: 'payment_timeout' } },
  ],
  transitions: [
    { from: 'placed', to: 'waiting' },
    { from: 'waiting', to: 'done' },
  ],
};

// biome-ignore lint/suspicious/noExplicitAny: answers are read loosely
type Loose = any;

for (const dialect of DIALECTS) {
  describe(`timer edits by hand (${dialect})`, () => {
    it('writes a history entry with actor and old/new due time, and the timeout notes how long the order really waited', async () => {
      const clock = createSimulatedClock(new Date('2026-03-01T10:00:00.000Z'));
      t = await createAutomationTest({ dialect, clock, demo: false });
      await publishWorkflow(t, WAIT);
      const order = await createOrder(t, 'wait');
      await move(t, order.id, 'waiting');
      const [timer]: Loose[] = json(await t.request('viewer', { method: 'GET', url: `/api/v1/timers?orderId=${order.id}` })).items;
      expect(timer.dueAt).toBe('2026-03-01T11:00:00.000Z');

      const res = await t.request('operator', {
        method: 'PATCH',
        url: `/api/v1/timers/${timer.id}`,
        body: { dueAt: '2026-03-01T12:30:00+00:00' },
      });
      expect(res.statusCode, res.body).toBe(200);
      expect(json(res).dueAt).toBe('2026-03-01T12:30:00.000Z');
      const history: Loose[] = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}/history` })).items;
      const edit = history.at(-1);
      expect(edit).toMatchObject({
        type: 'timer',
        actor: { type: 'api' },
        timer: {
          id: timer.id,
          kind: 'timeout',
          action: 'rescheduled',
          dueAt: '2026-03-01T11:00:00.000Z',
          newDueAt: '2026-03-01T12:30:00.000Z',
        },
      });
      expect(edit.actor.id).not.toBe('');

      clock.advance(2 * 3600_000);
      await t.of.worker.runOnce();
      expect(json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}` })).state).toBe('waiting');
      clock.advance(3600_000);
      await t.of.worker.runOnce();
      const after: Loose[] = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}/history` })).items;
      const timedOut = after.at(-1);
      expect(timedOut).toMatchObject({ type: 'transition', to: 'expired', actor: { type: 'timer' } });
      expect(timedOut.note).toBe('Timed out after 2h 30m in "waiting" (its timer was rescheduled; the state\'s timeout is 1h).');
    });

    it('writes a history entry when a timer is cancelled by hand, and refuses a second cancel', async () => {
      const clock = createSimulatedClock(new Date('2026-03-01T10:00:00.000Z'));
      t = await createAutomationTest({ dialect, clock, demo: false });
      await publishWorkflow(t, WAIT);
      const order = await createOrder(t, 'wait');
      await move(t, order.id, 'waiting');
      const [timer]: Loose[] = json(await t.request('viewer', { method: 'GET', url: `/api/v1/timers?orderId=${order.id}` })).items;
      expect((await t.request('operator', { method: 'DELETE', url: `/api/v1/timers/${timer.id}` })).statusCode).toBe(204);
      const again = await t.request('operator', { method: 'DELETE', url: `/api/v1/timers/${timer.id}` });
      expect(again.statusCode).toBe(409);
      expect(json(again).code).toBe('conflict');
      const history: Loose[] = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}/history` })).items;
      expect(history.filter((h) => h.type === 'timer')).toEqual([
        expect.objectContaining({ timer: expect.objectContaining({ action: 'cancelled', dueAt: '2026-03-01T11:00:00.000Z' }) }),
      ]);
      expect(history.at(-1).timer.newDueAt).toBeUndefined();
    });
  });
}
