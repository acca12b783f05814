import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSimulatedClock, type SimulatedClock } from '../../src/runtime/clock.js';
import { DIALECTS } from '../dialects.js';
import { count, createAutomationTest, createOrder, move, publishWorkflow, type Receiver, startReceiver } from '../helpers/automation.js';
import { expectProblem, json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow;
let receiver: Receiver;
let clock: SimulatedClock;

for (const dialect of DIALECTS) {
  describe(`automation pause and resume (${dialect})`, () => {
    beforeEach(async () => {
      clock = createSimulatedClock();
      receiver = await startReceiver();
      // One send at a time, so the order of arrival is the order of the queue.
      t = await createAutomationTest({
        dialect,
        clock,
        demo: false,
        env: { ORDERFLOW_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' },
        create: { worker: { concurrency: 1 } },
      });
      await publishWorkflow(t, {
        key: 'auto',
        name: 'Auto',
        states: [
          { key: 'placed', name: 'Placed', group: 'new', initial: true },
          { key: 'working', name: 'Working', group: 'processing', timeout: { after: '1h', to: 'late' } },
          { key: 'waiting', name: 'Waiting', group: 'processing' },
          { key: 'late', name: 'Late', group: 'processing' },
          { key: 'done', name: 'Done', group: 'completed' },
          { key: 'dropped', name: 'Dropped', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
        ],
        transitions: [
          { from: 'placed', to: 'working' },
          { from: 'working', to: 'waiting' },
          { from: 'waiting', to: 'working' },
          { from: '*', to: 'dropped' },
          { from: 'late', to: 'done' },
        ],
        rules: [
          {
            id: 'alpha',
            trigger: 'state_changed',
            actions: [{ type: 'webhook', url: `${receiver.url}/alpha`, body: '{"to":"{{ new_state.key }}","order":"{{ order.id }}"}' }],
          },
          { id: 'beta', trigger: 'state_changed', actions: [{ type: 'webhook', url: `${receiver.url}/beta` }] },
          {
            id: 'nudge',
            trigger: 'time_in_state',
            state: 'waiting',
            after: '2h',
            actions: [{ type: 'notify', channel: 'ops', message: 'still waiting' }],
          },
        ],
      });
    });
    afterEach(async () => {
      await t.close();
      await receiver.close();
    });

    const pause = (rule?: string) => t.request('admin', { method: 'POST', url: `/api/v1/automation/pause${rule ? `?rule=${rule}` : ''}` });
    const resume = (rule?: string) =>
      t.request('admin', { method: 'POST', url: `/api/v1/automation/resume${rule ? `?rule=${rule}` : ''}` });

    describe('automation pause and resume', () => {
      it('holds every delivery and timer while paused globally, matches no rule meanwhile, drops none, and resumes in order', async () => {
        const order = await createOrder(t, 'auto');
        await move(t, order.id, 'working');
        // Queued before the pause: two deliveries (alpha, beta), held below.
        expect(json(await pause())).toEqual({ paused: true, rules: [], workflows: [] });
        const path = ['waiting', 'working'];
        for (const to of path) {
          // Like a paused workflow or rule: no rule matches while everything is paused.
          expect((await move(t, order.id, to)).deliveries).toEqual([]);
        }
        clock.advance(2 * 3600_000);
        const held = await t.of.worker.runOnce();
        expect(held).toMatchObject({ paused: true, claimed: 0, timersFired: 0 });
        expect(receiver.requests).toHaveLength(0);
        expect(await count(t, 'deliveries')).toBe(2);
        expect(json(await t.request('viewer', { method: 'GET', url: '/api/v1/automation' }))).toEqual({
          paused: true,
          rules: [],
          workflows: [],
        });

        expect(json(await resume())).toEqual({ paused: false, rules: [], workflows: [] });
        const counts = await t.of.worker.runOnce();
        // The held deliveries went out, then the timeout of the last `working` visit fired (→ late, two
        // more deliveries, its rules matching again); nothing was dropped.
        expect(counts).toMatchObject({ paused: false, timersFired: 1, delivered: 4 });
        const alpha = receiver.requests.filter((r) => r.url === '/alpha').map((r) => JSON.parse(r.body).to);
        expect(alpha).toEqual(['working', 'late']);
        const sequence = receiver.requests.map((r) => r.headers['webhook-id'] as string);
        expect(sequence).toEqual([...sequence].sort());
      });

      it('pauses one rule: its queued deliveries and timers are held, new changes do not match it, the rest runs', async () => {
        const order = await createOrder(t, 'auto');
        await move(t, order.id, 'working');
        await move(t, order.id, 'waiting');
        expect(json(await pause('auto:alpha'))).toEqual({ paused: false, rules: ['auto:alpha'], workflows: [] });
        expect(json(await pause('auto:nudge'))).toEqual({ paused: false, rules: ['auto:alpha', 'auto:nudge'], workflows: [] });
        const later = await move(t, order.id, 'working');
        expect(later.deliveries).toHaveLength(1);
        await move(t, order.id, 'waiting');
        clock.advance(3 * 3600_000);
        const c1 = await t.of.worker.runOnce();
        expect(c1).toMatchObject({ delivered: 4, timersFired: 0 });
        expect(receiver.requests.every((r) => r.url === '/beta')).toBe(true);
        expect(await count(t, 'notifications')).toBe(0);

        await resume('auto:alpha');
        expect(json(await resume('auto:nudge'))).toEqual({ paused: false, rules: [], workflows: [] });
        const c2 = await t.of.worker.runOnce();
        expect(c2.delivered).toBe(3);
        expect(c2.timersFired + c2.timersSkipped).toBe(1);
        expect(receiver.requests.filter((r) => r.url === '/alpha').map((r) => JSON.parse(r.body).to)).toEqual(['working', 'waiting']);
        expect(
          json(await t.request('viewer', { method: 'GET', url: '/api/v1/notifications' })).items.map((n: { message: string }) => n.message),
        ).toEqual(['still waiting']);
      });

      it('is for admins only and validates the rule id', async () => {
        expectProblem(await t.request('operator', { method: 'POST', url: '/api/v1/automation/pause' }), 403, 'forbidden');
        expectProblem(
          await t.request('admin', { method: 'POST', url: '/api/v1/automation/pause?rule=Not%20A%20Rule' }),
          422,
          'validation_failed',
        );
      });
    });
  });
}
