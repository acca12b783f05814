import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { explainTrace, traceCondition } from './condition.js';
import { availableTransitions, decide } from './decide.js';
import type { Definition } from './definition.js';
import { DEMO_ORDERS, DEMO_WORKFLOWS } from './demo.js';
import { type Caller, type Command, type DecideContext, type Decision, type Order, RenderElsewhere } from './model.js';

const api: Caller = { actor: { type: 'api', id: 'tok_test' }, roles: ['operator'] };
const admin: Caller = { actor: { type: 'user', id: 'tok_admin' }, roles: ['admin'] };

function makeCtx(start = Date.parse('2026-01-01T00:00:00Z')): DecideContext & { tick(ms: number): void } {
  let n = 0;
  let now = start;
  return {
    get now() {
      return new Date(now).toISOString();
    },
    newId: (p: string) => `${p}_${String(++n).padStart(6, '0')}`,
    resolveWorkflow: (key: string) => {
      const d = DEMO_WORKFLOWS.find((w) => w.key === key);
      return d ? { key, version: 1, definition: d } : undefined;
    },
    tick(ms: number) {
      now += ms;
    },
  };
}

function ok(d: Decision): Extract<Decision, { ok: true }> {
  if (!d.ok) throw new Error(`rejected: ${d.rejection.code} ${d.rejection.message}`);
  return d;
}

function create(ctx = makeCtx(), data: Record<string, unknown> = { customer: { email: 'a@example.com' }, total: 120 }) {
  return ok(decide(DEMO_ORDERS, null, { type: 'create', workflow: 'orders', workflowVersion: 1, data, caller: api }, ctx)).order;
}

function move(order: Order, to: string, extra: Partial<Extract<Command, { type: 'transition' }>> = {}, ctx = makeCtx()) {
  return decide(DEMO_ORDERS, order, { type: 'transition', to, caller: api, ...extra }, ctx);
}

describe('decide', () => {
  it('creates an order in the initial state with a created history entry and a confirmation email', () => {
    const d = ok(decide(DEMO_ORDERS, null, { type: 'create', workflow: 'orders', workflowVersion: 1, data: {}, caller: api }, makeCtx()));
    expect(d.order).toMatchObject({ state: 'order_created', group: 'new', version: 1, visit: 1, kind: 'order' });
    expect(d.effects.filter((e) => e.type === 'history.append').map((e) => e.type === 'history.append' && e.entry.type)).toEqual([
      'created',
    ]);
    expect(d.effects.some((e) => e.type === 'outbox.enqueue' && e.delivery.action.type === 'send_email')).toBe(true);
  });

  it('refuses a create in a state outside group new', () => {
    const d = decide(
      DEMO_ORDERS,
      null,
      { type: 'create', workflow: 'orders', workflowVersion: 1, state: 'packing', caller: api },
      makeCtx(),
    );
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.rejection.code).toBe('validation_failed');
  });

  it.each([
    ['no edge', 'order_created', 'delivered', 'transition_not_allowed'],
    ['unknown state', 'order_created', 'nowhere', 'transition_not_allowed'],
  ])('refuses a move with %s', (_name, _from, to, code) => {
    const d = move(create(), to);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.rejection.code).toBe(code);
  });

  it('records the default cancellation reason when none is given', () => {
    const d = ok(move(create(), 'customer_cancelled'));
    expect(d.order.cancellation).toEqual({ initiator: 'customer', code: 'customer_request' });
    expect(d.order.group).toBe('cancelled');
  });

  it('refuses entering a cancelled state without default or reason', () => {
    const def: Definition = {
      ...DEMO_ORDERS,
      states: DEMO_ORDERS.states.map((s) => (s.key === 'out_of_stock' ? { ...s, cancellation: undefined } : s)),
    };
    let o = create();
    for (const to of ['awaiting_payment', 'packing']) o = ok(decide(def, o, { type: 'transition', to, caller: api }, makeCtx())).order;
    const d = decide(def, o, { type: 'transition', to: 'out_of_stock', caller: api }, makeCtx());
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.rejection.code).toBe('reason_required');
    const given = ok(
      decide(
        def,
        o,
        { type: 'transition', to: 'out_of_stock', reason: { initiator: 'provider', code: 'out_of_stock' }, caller: api },
        makeCtx(),
      ),
    );
    expect(given.order.cancellation?.code).toBe('out_of_stock');
  });

  it('refuses completion until the criteria are recorded, listing the missing ones', () => {
    let o = create();
    for (const to of ['awaiting_payment', 'packing', 'shipping']) o = ok(move(o, to)).order;
    const refused = move(o, 'delivered');
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.rejection.code).toBe('criteria_unmet');
      expect(refused.rejection.missing).toEqual(['delivered']);
    }
    const withFact = ok(decide(DEMO_ORDERS, o, { type: 'fact', fact: 'delivered', caller: api }, makeCtx()));
    const done = ok(move(withFact.order, 'delivered'));
    expect(done.order.group).toBe('completed');
    // feedback and loyalty emails
    expect(done.effects.filter((e) => e.type === 'outbox.enqueue')).toHaveLength(2);
    const after = move(done.order, 'shipping', { force: true, caller: admin });
    expect(after.ok).toBe(false);
    if (!after.ok) expect(after.rejection.code).toBe('transition_not_allowed');
  });

  it('accepts facts in the transition body', () => {
    let o = create();
    for (const to of ['awaiting_payment', 'packing', 'shipping']) o = ok(move(o, to)).order;
    const d = ok(move(o, 'delivered', { facts: ['delivered'] }));
    expect(d.order.facts.delivered?.by).toEqual(api.actor);
  });

  it('queues the apology email and webhook when an order is delayed (SPEC §2 example)', () => {
    let o = create();
    for (const to of ['awaiting_payment', 'packing', 'shipping']) o = ok(move(o, to)).order;
    const d = ok(move(o, 'delayed'));
    const out = d.effects.flatMap((e) => (e.type === 'outbox.enqueue' ? [e.delivery] : []));
    expect(out.map((x) => x.action.type)).toEqual(['send_email', 'webhook']);
    expect(out[1]?.envelope).toMatchObject({
      type: 'order.state_changed',
      data: { from: 'shipping', to: 'delayed', rule: 'delay-apology' },
    });
  });

  it('explains blocked transitions', () => {
    let o = create(makeCtx(), { customer: { email: 'x@example.com' }, total: 900 });
    for (const to of ['awaiting_payment', 'packing', 'shipping', 'damaged']) o = ok(move(o, to)).order;
    const list = availableTransitions(DEMO_ORDERS, o, api);
    const full = list.find((t) => t.to === 'full_refund');
    expect(full?.allowed).toBe(false);
    expect(full?.blocked[0]?.code).toBe('guard_failed');
    // The rule and the actual value, not just "does not hold".
    expect(full?.blocked[0]?.message).toBe('The transition guard does not hold: total must be ≤ 500; it is 900.');
    expect(list.find((t) => t.to === 'packing')?.allowed).toBe(true);
    // States by name, not by key.
    const back = move(o, 'awaiting_payment');
    expect(back.ok ? '' : back.rejection.reasons?.[0]?.message).toBe(
      'The workflow has no transition from "Damaged" to "Awaiting payment".',
    );
  });

  it('lists every reason a transition is blocked, not only the first', () => {
    const def: Definition = {
      key: 'repairs',
      name: 'Repairs',
      states: [
        { key: 'open', name: 'Open', group: 'new', initial: true },
        { key: 'repairing', name: 'Repairing', group: 'processing' },
        { key: 'returned', name: 'Returned', group: 'completed', requires: ['service_provided'] },
        { key: 'dropped', name: 'Dropped', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
      ],
      transitions: [
        { from: 'open', to: 'repairing' },
        { from: 'repairing', to: 'returned', guard: { path: 'order.data.paid', op: 'eq', value: true } },
        { from: '*', to: 'dropped' },
      ],
    };
    const ctx = makeCtx();
    const created = decide(def, null, { type: 'create', workflow: 'repairs', workflowVersion: 1, data: { paid: false }, caller: api }, ctx);
    if (!created.ok) throw new Error('not created');
    const moved = decide(def, created.order, { type: 'transition', to: 'repairing', caller: api }, ctx);
    if (!moved.ok) throw new Error('not moved');
    const entry = availableTransitions(def, moved.order, api).find((t) => t.to === 'returned');
    expect(entry?.blocked.map((b) => b.code)).toEqual(['guard_failed', 'criteria_unmet']);
    const refused = decide(def, moved.order, { type: 'transition', to: 'returned', caller: api }, ctx);
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    // The code is the first blocker's; the reasons name them all.
    expect(refused.rejection.code).toBe('transition_not_allowed');
    expect(refused.rejection.reasons?.map((r) => r.code)).toEqual(['guard_failed', 'criteria_unmet']);
    expect(refused.rejection.reasons?.[1]).toMatchObject({ missing: ['service_provided'] });
  });

  it('explains every kind of failing guard with the values compared', () => {
    const t = (condition: unknown, scope: Record<string, unknown>) => explainTrace(traceCondition(condition as never, scope));
    const order = { data: { total: 900, currency: 'EUR' }, kind: 'order' };
    expect(t({ path: 'order.data.total', op: 'lt', value: 100 }, { order })).toBe('total must be < 100; it is 900');
    expect(t({ path: 'order.data.coupon', op: 'eq', value: 'X' }, { order })).toBe('coupon must be "X"; it is not set');
    expect(t({ path: 'order.data.coupon', op: 'exists' }, { order })).toBe('coupon must be set');
    expect(
      t(
        {
          all: [
            { path: 'order.data.total', op: 'gt', value: 10 },
            { path: 'order.data.currency', op: 'in', value: ['USD', 'GBP'] },
          ],
        },
        { order },
      ),
    ).toBe('currency must be one of "USD", "GBP"; it is "EUR"');
    expect(t({ kind: 'subscription' }, { order, kind: 'order' })).toBe('kind must be "subscription"; it is "order"');
    expect(t({ path: 'order.data.total', op: 'gt', value: 10 }, { order })).toBe('');
  });

  it('requires a listed role', () => {
    let o = create();
    for (const to of ['awaiting_payment', 'packing', 'shipping', 'lost_in_transit']) o = ok(move(o, to)).order;
    const d = move(o, 'full_refund');
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.rejection.reasons?.[0]?.code).toBe('role_required');
    expect(ok(move(o, 'full_refund', { caller: admin })).order.state).toBe('full_refund');
  });

  it('runs an event rule that cascades: package lost creates a linked replacement and notifies admins', () => {
    let o = create(makeCtx(), { customer: { email: 'c@example.com', name: 'C' }, items: [{ sku: 'A' }] });
    for (const to of ['awaiting_payment', 'packing', 'shipping']) o = ok(move(o, to)).order;
    const d = ok(decide(DEMO_ORDERS, o, { type: 'event', event: { type: 'package.lost' }, caller: api }, makeCtx()));
    expect(d.order.state).toBe('lost_in_transit');
    expect(d.orders).toHaveLength(2);
    const replacement = d.orders[1]?.order;
    expect(replacement?.links).toEqual([{ rel: 'replacement_of', orderId: o.id }]);
    expect(d.order.links).toEqual([{ rel: 'replacement', orderId: replacement?.id }]);
    expect(replacement?.data.customer).toEqual({ email: 'c@example.com', name: 'C' });
    expect(d.applied.map((a) => [a.from, a.to])).toEqual([
      ['shipping', 'lost_in_transit'],
      [null, 'order_created'],
    ]);
    expect(d.effects.some((e) => e.type === 'outbox.enqueue' && e.delivery.action.type === 'notify')).toBe(true);
  });

  it('stops a two-rule cycle at the depth bound with one recorded failure, and still commits', () => {
    const def: Definition = {
      ...DEMO_ORDERS,
      transitions: [...DEMO_ORDERS.transitions, { from: 'shipping', to: 'delayed' }],
      rules: [
        { id: 'a', trigger: 'state_changed', conditions: { new_state: 'delayed' }, actions: [{ type: 'transition', to: 'shipping' }] },
        { id: 'b', trigger: 'state_changed', conditions: { new_state: 'shipping' }, actions: [{ type: 'transition', to: 'delayed' }] },
      ],
    };
    let o = create();
    for (const to of ['awaiting_payment', 'packing']) o = ok(decide(def, o, { type: 'transition', to, caller: api }, makeCtx())).order;
    const d = ok(decide(def, o, { type: 'transition', to: 'shipping', caller: api }, makeCtx()));
    const failures = d.effects.filter((e) => e.type === 'history.append' && e.entry.type === 'rule_failed');
    expect(failures).toHaveLength(1);
    expect(d.applied).toHaveLength(11);
    expect(d.order.version).toBe(o.version + 1);
  });

  it('fires a state timeout only in the same visit', () => {
    let o = create();
    const d = ok(move(o, 'awaiting_payment'));
    o = d.order;
    const timer = d.effects.flatMap((e) => (e.type === 'timer.schedule' ? [e.timer] : []))[0];
    expect(timer).toMatchObject({ kind: 'timeout', state: 'awaiting_payment', dueAt: '2026-01-03T00:00:00.000Z' });
    if (!timer) return;
    const fired = ok(decide(DEMO_ORDERS, o, { type: 'timer', timer }, makeCtx()));
    expect(fired.order.state).toBe('payment_timeout');
    expect(fired.order.cancellation).toEqual({ initiator: 'customer', code: 'payment_timeout' });
    const moved = ok(move(o, 'packing')).order;
    const stale = ok(decide(DEMO_ORDERS, moved, { type: 'timer', timer }, makeCtx()));
    expect(stale.noop).toBe(true);
  });

  it('notes a timeout whose timer was rescheduled to before the state entry without a negative wait', () => {
    const d = ok(move(create(), 'awaiting_payment'));
    const timer = d.effects.flatMap((e) => (e.type === 'timer.schedule' ? [e.timer] : []))[0];
    if (!timer) throw new Error('no timer');
    const early = { ...timer, dueAt: new Date(Date.parse(d.order.stateEnteredAt) - 3_600_000).toISOString() };
    const fired = ok(decide(DEMO_ORDERS, d.order, { type: 'timer', timer: early }, makeCtx()));
    const note = fired.effects.flatMap((e) => (e.type === 'history.append' && e.entry.type === 'transition' ? [e.entry.note] : []))[0];
    expect(note).toBe(
      'Timed out in "awaiting_payment" (its timer was rescheduled to before the order entered the state; the state\'s timeout is 48h).',
    );
  });

  it('merges data patches', () => {
    const o = create();
    const d = ok(decide(DEMO_ORDERS, o, { type: 'data', patch: { deliveryEstimate: '2026-02-01', total: null }, caller: api }, makeCtx()));
    expect(d.order.data).toEqual({ customer: { email: 'a@example.com' }, deliveryEstimate: '2026-02-01' });
  });
});

describe('decide with a render that defers', () => {
  const refuse = () => {
    throw new RenderElsewhere();
  };
  it('decides a change that reaches no Liquid without rendering', () => {
    const ctx = makeCtx();
    let order = create(ctx);
    for (const to of ['awaiting_payment', 'packing', 'shipping']) order = ok(move(order, to, {}, ctx)).order;
    const d = ok(move(order, 'delayed', {}, { ...ctx, renderString: refuse }));
    expect(d.order.state).toBe('delayed');
  });
  it('lets RenderElsewhere through instead of failing the rule, so the caller can decide again', () => {
    const ctx = makeCtx();
    let order = create(ctx, { customer: { email: 'a@example.com' }, currency: 'EUR', total: 10 });
    for (const to of ['awaiting_payment', 'packing', 'shipping']) order = ok(move(order, to, {}, ctx)).order;
    // Entering lost_in_transit runs the create_order rule, whose values are Liquid.
    expect(() => move(order, 'lost_in_transit', {}, { ...ctx, renderString: refuse })).toThrow(RenderElsewhere);
    const rendered = ok(move(order, 'lost_in_transit', {}, { ...ctx, renderString: (src) => src.replaceAll('{{ order.id }}', order.id) }));
    expect(rendered.orders).toHaveLength(2);
    expect(rendered.effects.some((e) => e.type === 'history.append' && e.entry.type === 'rule_failed')).toBe(false);
  });
});

describe('migrate', () => {
  const v2: Definition = {
    ...DEMO_ORDERS,
    states: DEMO_ORDERS.states
      .filter((s) => s.key !== 'packing')
      .map((s) => (s.key === 'awaiting_payment' ? { ...s, timeout: { after: '24h', to: 'payment_timeout' } } : s)),
    transitions: DEMO_ORDERS.transitions.filter((t) => t.from !== 'packing' && t.to !== 'packing'),
  };

  it('refuses to leave a state unmapped, and maps it when told', () => {
    let o = create();
    for (const to of ['awaiting_payment', 'packing']) o = ok(move(o, to)).order;
    const refused = decide(DEMO_ORDERS, o, { type: 'migrate', toVersion: 2, toDefinition: v2, caller: admin }, makeCtx());
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.rejection.errors?.[0]?.path).toBe('stateMap.packing');
    const d = ok(
      decide(
        DEMO_ORDERS,
        o,
        { type: 'migrate', toVersion: 2, toDefinition: v2, stateMap: { packing: 'shipping' }, caller: admin },
        makeCtx(),
      ),
    );
    expect(d.order).toMatchObject({ workflowVersion: 2, state: 'shipping', version: o.version + 1 });
  });

  it('re-times the pending timeout from the state entry under recompute, and keeps it under keep', () => {
    const ctx = makeCtx();
    const moved = ok(move(create(ctx), 'awaiting_payment', {}, ctx));
    const pending = moved.effects.flatMap((e) => (e.type === 'timer.schedule' ? [e.timer] : []));
    expect(pending.map((x) => [x.kind, x.dueAt])).toEqual([['timeout', '2026-01-03T00:00:00.000Z']]);
    ctx.tick(3_600_000);
    const command = { type: 'migrate', toVersion: 2, toDefinition: v2, pending, caller: admin } as const;
    const d = ok(decide(DEMO_ORDERS, moved.order, command, ctx));
    expect(d.migration?.timers).toEqual([
      expect.objectContaining({ fate: 'retimed', dueAt: '2026-01-03T00:00:00.000Z', newDueAt: '2026-01-02T00:00:00.000Z' }),
    ]);
    expect(d.effects.filter((e) => e.type.startsWith('timer'))).toEqual([
      {
        type: 'timer.update',
        orderId: moved.order.id,
        timerId: pending[0]?.id,
        dueAt: '2026-01-02T00:00:00.000Z',
        state: 'awaiting_payment',
      },
    ]);
    const kept = ok(decide(DEMO_ORDERS, moved.order, { ...command, timers: 'keep' }, ctx));
    expect(kept.effects.filter((e) => e.type.startsWith('timer'))).toEqual([]);
    expect(kept.migration?.timers.map((f) => f.fate)).toEqual(['kept']);
  });
});

describe('decide properties', () => {
  const targets = DEMO_ORDERS.states.map((s) => s.key);
  const step = fc.oneof(
    fc.record({ type: fc.constant('transition' as const), to: fc.constantFrom(...targets), force: fc.boolean() }),
    fc.record({ type: fc.constant('event' as const), name: fc.constantFrom('package.lost', 'payment.received', 'other') }),
    fc.record({ type: fc.constant('fact' as const), fact: fc.constantFrom('delivered', 'customer_confirmed') }),
    fc.record({ type: fc.constant('data' as const), total: fc.integer({ min: 0, max: 1000 }) }),
  );

  it('keeps versions +1, takes only legal edges, never leaves a terminal group, and keeps the history chain', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 25 }), (steps) => {
        const ctx = makeCtx();
        let order = create(ctx);
        let last = order.state;
        for (const s of steps) {
          const cmd: Command =
            s.type === 'transition'
              ? { type: 'transition', to: s.to, force: s.force, caller: s.force ? admin : api }
              : s.type === 'event'
                ? { type: 'event', event: { type: s.name }, caller: api }
                : s.type === 'fact'
                  ? { type: 'fact', fact: s.fact, caller: api }
                  : { type: 'data', patch: { total: s.total }, caller: api };
          const before = order;
          const d = decide(DEMO_ORDERS, order, cmd, ctx);
          if (!d.ok) continue;
          expect(d.order.version).toBe(before.version + 1);
          if (before.group === 'cancelled' || before.group === 'completed') expect(d.order.state).toBe(before.state);
          for (const e of d.effects) {
            if (e.type !== 'history.append' || e.entry.type !== 'transition' || e.orderId !== order.id) continue;
            expect(e.entry.from).toBe(last);
            last = e.entry.to as string;
            if (!e.entry.forced && e.entry.actor.type !== 'timer') {
              const from = DEMO_ORDERS.states.find((x) => x.key === e.entry.from);
              const legal = DEMO_ORDERS.transitions.some(
                (t) => t.to === e.entry.to && (t.from === from?.key || t.from === `group:${from?.group}` || t.from === '*'),
              );
              expect(legal).toBe(true);
            }
          }
          expect(d.order.state).toBe(last);
          order = d.order;
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('decide: bounds of one change', () => {
  const spawnDef = (
    actions: Definition['rules'] extends (infer R)[] | undefined ? (R extends { actions: infer A } ? A : never) : never,
  ): Definition => ({
    key: 'spawn',
    name: 'Spawn',
    states: [
      { key: 'new', name: 'New', group: 'new', initial: true },
      { key: 'work', name: 'Work', group: 'processing' },
      { key: 'done', name: 'Done', group: 'completed' },
      { key: 'dropped', name: 'Dropped', group: 'cancelled', cancellation: { initiator: 'provider', code: 'other' } },
    ],
    transitions: [
      { from: 'new', to: 'work' },
      { from: 'work', to: 'done' },
    ],
    rules: [{ id: 'spawn', trigger: 'order_created', actions }],
  });
  function spawnCtx(def: Definition, extra: Partial<DecideContext> = {}) {
    const ctx = makeCtx();
    ctx.resolveWorkflow = (key) => (key === def.key ? { key, version: 1, definition: def } : undefined);
    Object.assign(ctx, extra);
    return ctx;
  }
  function counted(d: Extract<Decision, { ok: true }>) {
    const deliveries = d.effects.filter((e) => e.type === 'outbox.enqueue');
    return {
      effects: d.applied.length + deliveries.length + d.effects.filter((e) => e.type === 'timer.schedule').length,
      failures: d.effects.filter((e) => e.type === 'history.append' && e.entry.type === 'rule_failed'),
      critical: deliveries.filter(
        (e) => e.type === 'outbox.enqueue' && e.delivery.action.type === 'notify' && e.delivery.action.severity === 'critical',
      ),
    };
  }

  it.each([2, 3])('stops a rule with %i create_order actions into its own workflow with one rule_failed entry', (n) => {
    const def = spawnDef(Array.from({ length: n }, () => ({ type: 'create_order' as const, workflow: 'spawn' })));
    const d = ok(decide(def, null, { type: 'create', workflow: 'spawn', workflowVersion: 1, caller: api }, spawnCtx(def)));
    const c = counted(d);
    expect(c.effects).toBeLessThanOrEqual(500);
    expect(c.failures).toHaveLength(1);
    expect(c.critical).toHaveLength(1);
  });

  it('stops the cascade at the work budget with one rule_failed entry and one critical notification', () => {
    const notify = { type: 'notify' as const, channel: 'admins', message: 'made one' };
    const def = spawnDef([
      ...Array.from({ length: 20 }, () => notify),
      { type: 'create_order', workflow: 'spawn' },
      { type: 'create_order', workflow: 'spawn' },
    ]);
    const d = ok(
      decide(
        def,
        null,
        { type: 'create', workflow: 'spawn', workflowVersion: 1, caller: api },
        spawnCtx(def, { maxDepth: 100, maxEffects: 120 }),
      ),
    );
    const c = counted(d);
    // The one critical notification is the report of the stop itself.
    expect(c.effects - c.critical.length).toBeLessThanOrEqual(120);
    expect(c.effects - c.critical.length).toBeGreaterThan(100);
    expect(c.failures).toHaveLength(1);
    expect(c.failures[0]).toMatchObject({ entry: { error: { code: 'budget_exceeded' } } });
    expect(c.critical).toHaveLength(1);
  });

  it('counts timeout moves towards the loop guard', () => {
    const def: Definition = {
      key: 'pingpong',
      name: 'Ping-pong',
      states: [
        { key: 'a', name: 'A', group: 'new', initial: true, timeout: { after: '1m', to: 'b' } },
        { key: 'b', name: 'B', group: 'processing', timeout: { after: '1m', to: 'a' } },
        { key: 'done', name: 'Done', group: 'completed' },
        { key: 'dropped', name: 'Dropped', group: 'cancelled', cancellation: { initiator: 'provider', code: 'other' } },
      ],
      transitions: [{ from: 'b', to: 'done' }],
    };
    const ctx = makeCtx();
    const order = ok(decide(def, null, { type: 'create', workflow: 'pingpong', workflowVersion: 1, caller: api }, ctx)).order;
    const timer = {
      id: 'tmr_x',
      orderId: order.id,
      kind: 'timeout' as const,
      dueAt: ctx.now,
      state: 'a',
      visit: 1,
      scope: 'visit' as const,
    };
    const allowed = ok(decide(def, order, { type: 'timer', timer }, { ...ctx, maxRuleEntriesPerHour: 3, ruleEntriesLastHour: { b: 2 } }));
    expect(allowed.order.state).toBe('b');
    const stopped = ok(decide(def, order, { type: 'timer', timer }, { ...ctx, maxRuleEntriesPerHour: 3, ruleEntriesLastHour: { b: 3 } }));
    expect(stopped.order.state).toBe('a');
    const c = counted(stopped);
    expect(c.failures).toEqual([
      expect.objectContaining({ entry: expect.objectContaining({ error: expect.objectContaining({ code: 'loop_guard' }) }) }),
    ]);
    expect(c.critical).toHaveLength(1);
  });

  it('runs fact_recorded rules for facts given in a transition body, after the transition rules', () => {
    const def: Definition = {
      ...DEMO_ORDERS,
      rules: [
        { id: 'on-fact', trigger: 'fact_recorded', fact: 'delivered', actions: [{ type: 'notify', channel: 'admins', message: 'fact' }] },
        { id: 'on-move', trigger: 'state_changed', actions: [{ type: 'notify', channel: 'admins', message: 'move' }] },
      ],
    };
    const ctx = makeCtx();
    let order = ok(decide(def, null, { type: 'create', workflow: 'orders', workflowVersion: 1, caller: api }, ctx)).order;
    for (const to of ['awaiting_payment', 'packing', 'shipping'])
      order = ok(decide(def, order, { type: 'transition', to, caller: api }, ctx)).order;
    const d = ok(decide(def, order, { type: 'transition', to: 'delivered', facts: ['delivered'], caller: api }, ctx));
    const runs = d.effects.flatMap((e) => (e.type === 'rule.run' && e.run.matched ? [e.run.ruleId] : []));
    expect(runs).toEqual(['on-move', 'on-fact']);
  });
});
