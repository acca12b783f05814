import { afterEach, describe, expect, it } from 'vitest';
import { createSimulatedClock } from '../../src/runtime/clock.js';
import { DIALECTS } from '../dialects.js';
import { createAutomationTest, createOrder, move, publishWorkflow } from '../helpers/automation.js';
import { json, type TestOrderflow } from '../helpers/orderflow.js';

/**
 * Workflows that are valid by the validator's rules but would make one change do unbounded
 * work: breadth explosions, huge fan-outs, timeouts that bounce forever.
 */
let t: TestOrderflow | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const STATES = [
  { key: 'new', name: 'New', group: 'new', initial: true },
  { key: 'work', name: 'Work', group: 'processing' },
  { key: 'done', name: 'Done', group: 'completed', requires: ['checked'] },
  { key: 'dropped', name: 'Dropped', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
];
const TRANSITIONS = [
  { from: 'new', to: 'work' },
  { from: 'work', to: 'done' },
  { from: '*', to: 'dropped' },
];

async function rows(x: TestOrderflow, table: 'orders' | 'deliveries' | 'timers'): Promise<number> {
  const r = await x.of.store.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

async function failures(x: TestOrderflow): Promise<{ code: string }[]> {
  const hs = await x.of.store.db.selectFrom('history').select('entry_json').where('type', '=', 'rule_failed').execute();
  return hs.map((h) => (JSON.parse(h.entry_json) as { error: { code: string } }).error);
}

async function criticalNotifications(x: TestOrderflow): Promise<number> {
  const ds = await x.of.store.db.selectFrom('deliveries').select('action_json').where('type', '=', 'notify').execute();
  return ds.filter((d) => (JSON.parse(d.action_json) as { severity?: string }).severity === 'critical').length;
}

for (const dialect of DIALECTS) {
  describe(`hostile workflows (${dialect})`, () => {
    it.each([2, 3])('bounds a rule with %i create_order actions into its own workflow', async (n) => {
      t = await createAutomationTest({ dialect, demo: false });
      const definition = {
        key: 'spawn',
        name: 'Spawn',
        criteria: ['checked'],
        states: STATES,
        transitions: TRANSITIONS,
        rules: [
          {
            id: 'spawn',
            trigger: 'order_created',
            actions: Array.from({ length: n }, () => ({ type: 'create_order', workflow: 'spawn' })),
          },
        ],
      };
      const validated = json(await t.request('designer', { method: 'POST', url: '/api/v1/workflows/spawn/validate', body: definition }));
      expect(validated.problems).toContainEqual(expect.objectContaining({ code: 'automated_cycle', severity: 'warning' }));
      await publishWorkflow(t, definition);
      const started = Date.now();
      const res = await t.request('operator', { method: 'POST', url: '/api/v1/orders', body: { workflow: 'spawn', data: {} } });
      console.log(`spawn x${n} (${dialect}): ${res.statusCode} in ${Date.now() - started} ms`);
      expect(res.statusCode, res.body.slice(0, 300)).toBe(201);
      const stored = (await rows(t, 'orders')) + (await rows(t, 'deliveries')) + (await rows(t, 'timers'));
      expect(stored).toBeLessThanOrEqual(500);
      expect(await failures(t)).toHaveLength(1);
      expect(await criticalNotifications(t)).toBe(1);
    });

    it('stops a change at ORDERFLOW_MAX_CASCADE_EFFECTS: 50 rules × 50 notify actions', async () => {
      t = await createAutomationTest({ dialect, demo: false });
      const notify = { type: 'notify', channel: 'ops', message: 'Order {{ order.id }} made one' };
      const rules = Array.from({ length: 50 }, (_, i) => ({
        id: `fan-${i}`,
        trigger: 'order_created',
        actions: Array.from({ length: 50 }, () => notify),
      }));
      await publishWorkflow(t, { key: 'fan', name: 'Fan', criteria: ['checked'], states: STATES, transitions: TRANSITIONS, rules });
      const res = await t.request('operator', { method: 'POST', url: '/api/v1/orders', body: { workflow: 'fan', data: {} } });
      expect(res.statusCode, res.body.slice(0, 300)).toBe(201);
      // 499 notifications fit next to the created order; the report of the stop is the 500th delivery.
      expect(await rows(t, 'deliveries')).toBe(500);
      expect(await failures(t)).toEqual([expect.objectContaining({ code: 'budget_exceeded' })]);
      expect(await criticalNotifications(t)).toBe(1);
    });

    it('stores a fan-out of 2,500 deliveries in one change when the budget allows it', async () => {
      t = await createAutomationTest({ dialect, demo: false, env: { ORDERFLOW_MAX_CASCADE_EFFECTS: '3000' } });
      const notify = { type: 'notify', channel: 'ops', message: 'made one' };
      const rules = Array.from({ length: 50 }, (_, i) => ({ id: `fan-${i}`, trigger: 'order_created', actions: Array(50).fill(notify) }));
      await publishWorkflow(t, { key: 'fan', name: 'Fan', criteria: ['checked'], states: STATES, transitions: TRANSITIONS, rules });
      const res = await t.request('operator', { method: 'POST', url: '/api/v1/orders', body: { workflow: 'fan', data: {} } });
      expect(res.statusCode, res.body.slice(0, 300)).toBe(201);
      expect(await rows(t, 'deliveries')).toBe(2500);
      expect(await failures(t)).toEqual([]);
    });

    it('stops two states whose timeouts point at each other with a loop_guard entry and one critical notification', async () => {
      const clock = createSimulatedClock();
      t = await createAutomationTest({ dialect, demo: false, clock, env: { ORDERFLOW_RULE_REENTRY_LIMIT: '5' } });
      await publishWorkflow(t, {
        key: 'pingpong',
        name: 'Ping-pong',
        criteria: ['checked'],
        states: [
          { key: 'new', name: 'New', group: 'new', initial: true },
          { key: 'ping', name: 'Ping', group: 'processing', timeout: { after: '1m', to: 'pong' } },
          { key: 'pong', name: 'Pong', group: 'processing', timeout: { after: '1m', to: 'ping' } },
          { key: 'done', name: 'Done', group: 'completed' },
          { key: 'dropped', name: 'Dropped', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
        ],
        transitions: [
          { from: 'new', to: 'ping' },
          { from: 'group:processing', to: 'done' },
          { from: '*', to: 'dropped' },
        ],
      });
      const order = await createOrder(t, 'pingpong');
      await move(t, order.id, 'ping');
      for (let i = 0; i < 30; i++) {
        clock.advance(60_000);
        await t.of.worker.runOnce();
      }
      const history = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}/history` })).items;
      const timerMoves = history.filter(
        (h: { type: string; actor: { type: string } }) => h.type === 'transition' && h.actor.type === 'timer',
      );
      // 5 moves into each state, then the guard holds the order where it is.
      expect(timerMoves).toHaveLength(10);
      const failed = history.filter((h: { type: string }) => h.type === 'rule_failed');
      expect(failed).toEqual([expect.objectContaining({ error: expect.objectContaining({ code: 'loop_guard' }) })]);
      expect(await criticalNotifications(t)).toBe(1);
      expect(json(await t.request('viewer', { method: 'GET', url: `/api/v1/timers?orderId=${order.id}` })).items).toEqual([]);
    });

    it('runs fact_recorded rules for facts given in a transition body', async () => {
      t = await createAutomationTest({ dialect, demo: false });
      await publishWorkflow(t, {
        key: 'facts',
        name: 'Facts',
        criteria: ['checked'],
        states: STATES,
        transitions: TRANSITIONS,
        rules: [
          {
            id: 'on-checked',
            trigger: 'fact_recorded',
            fact: 'checked',
            actions: [{ type: 'set_data', set: { seen: '{{ new_state }}' } }],
          },
        ],
      });
      const order = await createOrder(t, 'facts');
      await move(t, order.id, 'work');
      const done = await move(t, order.id, 'done', { facts: ['checked'] });
      expect(done.order).toMatchObject({ state: 'done', data: { seen: 'done' } });
    });
  });
}
