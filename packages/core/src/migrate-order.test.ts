import { describe, expect, it } from 'vitest';
import type { Definition } from './definition.js';
import { migrateOrder, planTimers } from './migrate-order.js';
import type { Order, Timer, TimerPolicy } from './model.js';

const ENTERED = '2026-01-01T00:00:00.000Z';
const NOW = '2026-01-01T00:10:00.000Z';

const V1: Definition = {
  key: 'ship',
  name: 'Ship',
  states: [
    { key: 'placed', name: 'Placed', group: 'new', initial: true },
    { key: 'shipping', name: 'Shipping', group: 'processing', timeout: { after: '1h', to: 'stuck' } },
    { key: 'stuck', name: 'Stuck', group: 'processing' },
    { key: 'done', name: 'Done', group: 'completed' },
  ],
  transitions: [
    { from: 'placed', to: 'shipping' },
    { from: 'shipping', to: 'done' },
    { from: 'stuck', to: 'shipping' },
  ],
  rules: [
    {
      id: 'remind',
      trigger: 'time_in_state',
      state: 'shipping',
      after: '30m',
      actions: [{ type: 'notify', channel: 'admins', message: 'slow' }],
    },
    {
      id: 'track',
      trigger: 'state_changed',
      actions: [{ type: 'webhook', url: 'https://track.example/x', delay: '3s', onlyIfStillIn: true }],
    },
  ],
};

const order: Order = {
  id: 'ord_1',
  workflow: 'ship',
  workflowVersion: 1,
  kind: 'order',
  externalRef: null,
  state: 'shipping',
  group: 'processing',
  data: {},
  facts: {},
  cancellation: null,
  links: [],
  version: 3,
  visit: 2,
  createdAt: ENTERED,
  updatedAt: ENTERED,
  stateEnteredAt: ENTERED,
};

const timer = (kind: Timer['kind'], dueAt: string, extra: Partial<Timer> = {}): Timer => ({
  id: `tmr_${kind}`,
  orderId: order.id,
  kind,
  dueAt,
  state: 'shipping',
  visit: 2,
  scope: 'visit',
  ...extra,
});

const PENDING: Timer[] = [
  timer('timeout', '2026-01-01T01:00:00.000Z'),
  timer('time_in_state', '2026-01-01T00:30:00.000Z', { ruleId: 'remind' }),
  timer('action', '2026-01-01T00:00:03.000Z', { ruleId: 'track', actionIndex: 0 }),
];

let n = 0;
const newId = (p: string) => `${p}_new${++n}`;

function with2(patch: (d: Definition) => Definition): Definition {
  return patch(structuredClone(V1));
}

const plan = (target: Definition, policy: TimerPolicy, toState: string | undefined = 'shipping', pending = PENDING) =>
  planTimers({ source: V1, target, toVersion: 2, order, toState, pending, policy, newId });

const fateOf = (p: ReturnType<typeof plan>, kind: string) => p.fates.find((f) => f.kind === kind && f.fate !== 'scheduled');

describe('planTimers', () => {
  const slower = with2((d) => ({
    ...d,
    states: d.states.map((s) => (s.key === 'shipping' ? { ...s, timeout: { after: '2h', to: 'stuck' } } : s)),
    rules: d.rules?.map((r) => (r.id === 'remind' ? { ...r, after: '45m' } : r)),
  }));

  it('keeps every timer at its due time under keep', () => {
    const p = plan(slower, 'keep');
    expect(p.fates.map((f) => [f.kind, f.fate, f.dueAt])).toEqual([
      ['timeout', 'kept', '2026-01-01T01:00:00.000Z'],
      ['time_in_state', 'kept', '2026-01-01T00:30:00.000Z'],
      ['action', 'kept', '2026-01-01T00:00:03.000Z'],
    ]);
    expect(p.effects).toEqual([]);
  });

  it('re-times timeouts and time_in_state from the state entry under recompute, and keeps delayed actions', () => {
    const p = plan(slower, 'recompute');
    expect(p.fates.map((f) => [f.kind, f.fate, f.newDueAt])).toEqual([
      ['timeout', 'retimed', '2026-01-01T02:00:00.000Z'],
      ['time_in_state', 'retimed', '2026-01-01T00:45:00.000Z'],
      ['action', 'kept', undefined],
    ]);
    expect(p.effects.map((e) => e.type)).toEqual(['timer.update', 'timer.update']);
  });

  it('cancels everything under cancel, saying why', () => {
    const p = plan(slower, 'cancel');
    expect(p.fates.every((f) => f.fate === 'cancelled' && /cancel/.test(f.why ?? ''))).toBe(true);
    expect(p.effects.map((e) => e.type)).toEqual(['timer.cancel_one', 'timer.cancel_one', 'timer.cancel_one']);
  });

  it('cancels a timer whose basis is gone, with the reason, under keep and recompute', () => {
    const bare = with2((d) => ({
      ...d,
      states: d.states.map((s) => (s.key === 'shipping' ? { key: s.key, name: s.name, group: s.group } : s)),
      rules: [],
    }));
    for (const policy of ['keep', 'recompute'] as const) {
      const p = plan(bare, policy);
      expect(p.fates.map((f) => [f.kind, f.fate])).toEqual([
        ['timeout', 'cancelled'],
        ['time_in_state', 'cancelled'],
        ['action', 'cancelled'],
      ]);
      expect(fateOf(p, 'timeout')?.why).toBe('State "shipping" has no timeout in version 2.');
      expect(fateOf(p, 'time_in_state')?.why).toBe('Rule "remind" does not exist in version 2.');
      expect(fateOf(p, 'action')?.why).toBe('Rule "track" does not exist in version 2.');
    }
  });

  it('moves state-bound timers to the mapped state, and cancels them when the state has no place', () => {
    const renamed = with2((d) => ({
      ...d,
      states: d.states.map((s) => (s.key === 'shipping' ? { ...s, key: 'in_transit' } : s)),
      transitions: [{ from: 'placed', to: 'in_transit' }],
      rules: d.rules?.map((r) => (r.id === 'remind' ? { ...r, state: 'in_transit' } : r)),
    }));
    const mapped = plan(renamed, 'keep', 'in_transit');
    expect(mapped.fates.map((f) => f.fate)).toEqual(['kept', 'kept', 'kept']);
    expect(mapped.effects).toEqual(
      PENDING.map((t) => ({ type: 'timer.update', orderId: order.id, timerId: t.id, dueAt: t.dueAt, state: 'in_transit' })),
    );
    const unmapped = plan(renamed, 'keep', undefined);
    expect(unmapped.fates.map((f) => f.fate)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect(unmapped.fates[0]?.why).toMatch(/does not exist in version 2/);
  });

  it('schedules a timer the target version newly declares, but never revives one the source declared', () => {
    const more = with2((d) => ({
      ...d,
      rules: [
        ...(d.rules ?? []),
        {
          id: 'escalate',
          trigger: 'time_in_state',
          state: 'shipping',
          after: '2h',
          actions: [{ type: 'notify', channel: 'admins', message: 'x' }],
        },
      ],
    }));
    // The reminder already fired (not pending): it is not scheduled again.
    const p = plan(more, 'recompute', 'shipping', [PENDING[0] as Timer]);
    expect(p.fates.map((f) => [f.kind, f.ruleId, f.fate])).toEqual([
      ['timeout', undefined, 'kept'],
      ['time_in_state', 'escalate', 'scheduled'],
    ]);
    expect(p.fates[1]?.dueAt).toBe('2026-01-01T02:00:00.000Z');
    expect(plan(more, 'cancel', 'shipping', []).fates).toEqual([]);
  });

  it('never revives a timer cancelled by hand when the state is mapped to another one', () => {
    const renamed = with2((d) => ({
      ...d,
      states: d.states.map((s) => (s.key === 'shipping' ? { ...s, key: 'in_transit', timeout: { after: '2h', to: 'stuck' } } : s)),
      transitions: [{ from: 'placed', to: 'in_transit' }],
      rules: d.rules?.map((r) => (r.id === 'remind' ? { ...r, state: 'in_transit' } : r)),
    }));
    // The timeout and the reminder of this visit were cancelled by hand: only the delayed action is pending.
    for (const policy of ['keep', 'recompute'] as const) {
      const p = plan(renamed, policy, 'in_transit', [PENDING[2] as Timer]);
      expect(p.fates.map((f) => [f.kind, f.fate])).toEqual([['action', 'kept']]);
      expect(p.effects.some((e) => e.type === 'timer.schedule')).toBe(false);
    }
  });

  it('schedules a timer the mapped state declares when the old state declared none of its kind', () => {
    // "placed" has no timeout; it is mapped to "shipping", which has one.
    const p = planTimers({
      source: V1,
      target: V1,
      toVersion: 2,
      order: { ...order, state: 'placed', group: 'new' },
      toState: 'shipping',
      pending: [],
      policy: 'keep',
      newId,
    });
    expect(p.fates.map((f) => [f.kind, f.ruleId, f.fate])).toEqual([
      ['timeout', undefined, 'scheduled'],
      ['time_in_state', 'remind', 'scheduled'],
    ]);
    expect(p.fates[0]?.why).toMatch(/"placed" is mapped to "shipping"/);
  });
});

describe('migrateOrder', () => {
  it('records the fates in the migrated history entry and in the answer', () => {
    const d = migrateOrder(
      V1,
      order,
      {
        type: 'migrate',
        toVersion: 2,
        toDefinition: V1,
        pending: PENDING,
        caller: { actor: { type: 'api', id: 't' }, roles: ['operator'] },
      },
      { now: NOW, newId },
    );
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    const entry = d.effects.find((e) => e.type === 'history.append');
    expect(entry?.type === 'history.append' && entry.entry).toMatchObject({
      type: 'migrated',
      from: 'shipping',
      to: 'shipping',
      timers: d.migration?.timers,
      note: 'Migrated from version 1 to 2 (timers: recompute; 3 kept).',
    });
    expect(d.order).toMatchObject({ workflowVersion: 2, version: 4, updatedAt: NOW });
  });

  it('enters a cancelled or completed state only as a transition could: with a reason, with the criteria', () => {
    const v2 = with2((d) => ({
      ...d,
      states: [
        ...d.states.filter((st) => st.key !== 'shipping'),
        { key: 'void', name: 'Void', group: 'cancelled' },
        { key: 'lost', name: 'Lost', group: 'cancelled', cancellation: { initiator: 'provider', code: 'delivery_failed' } },
        { key: 'closed', name: 'Closed', group: 'completed', requires: ['delivered'] },
      ],
    }));
    const to = (target: string, o: Order = order) =>
      migrateOrder(
        V1,
        o,
        {
          type: 'migrate',
          toVersion: 2,
          toDefinition: v2,
          stateMap: { shipping: target },
          pending: [],
          caller: { actor: { type: 'api', id: 't' }, roles: ['operator'] },
        },
        { now: NOW, newId },
      );
    const noReason = to('void');
    expect(noReason.ok === false && noReason.rejection).toMatchObject({ code: 'reason_required' });
    const unmet = to('closed');
    expect(unmet.ok === false && unmet.rejection).toMatchObject({ code: 'criteria_unmet', missing: ['delivered'] });
    // The state's default reason is the order's cancellation; recorded criteria complete it.
    const lost = to('lost');
    expect(lost.ok && lost.order).toMatchObject({
      state: 'lost',
      group: 'cancelled',
      cancellation: { initiator: 'provider', code: 'delivery_failed' },
    });
    const closed = to('closed', { ...order, facts: { delivered: { at: NOW, by: { type: 'api', id: 't' } } } });
    expect(closed.ok && closed.order).toMatchObject({ state: 'closed', group: 'completed' });
  });
});
