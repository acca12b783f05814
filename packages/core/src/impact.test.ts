import { describe, expect, it } from 'vitest';
import type { Definition, Rule } from './definition.js';
import { ordersRuleCanActOn, ruleChanges, versionImpact } from './impact.js';
import type { Order, Timer } from './model.js';

const V1: Definition = {
  key: 'w',
  name: 'W',
  states: [
    { key: 'a', name: 'A', group: 'new', initial: true },
    { key: 'b', name: 'B', group: 'processing', timeout: { after: '1h', to: 'c' } },
    { key: 'c', name: 'C', group: 'processing' },
    { key: 'done', name: 'Done', group: 'completed' },
    { key: 'x', name: 'X', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
  ],
  transitions: [
    { from: 'a', to: 'b' },
    { from: 'b', to: 'c' },
    { from: 'c', to: 'done' },
  ],
  rules: [
    {
      id: 'r1',
      name: 'One',
      trigger: 'state_changed',
      conditions: { new_state: 'c' },
      actions: [{ type: 'notify', channel: 'ops', message: 'c' }],
    },
    { id: 'wait', trigger: 'time_in_state', state: 'c', after: '2h', actions: [{ type: 'notify', channel: 'ops', message: 'slow' }] },
    { id: 'hello', trigger: 'order_created', actions: [{ type: 'set_data', set: { hi: true } }] },
  ],
};

const order = (id: string, state: string, group: Order['group'] = 'processing'): Order => ({
  id,
  workflow: 'w',
  workflowVersion: 1,
  kind: 'order',
  externalRef: null,
  state,
  group,
  data: {},
  facts: {},
  cancellation: null,
  links: [],
  version: 2,
  visit: 2,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  stateEnteredAt: '2026-01-01T00:00:00.000Z',
});

const clone = (d: Definition): Definition => structuredClone(d);

describe('ruleChanges', () => {
  it('names the changed parts and ignores key order and names', () => {
    const next = clone(V1);
    const [r1, wait] = next.rules as [Rule, Rule, Rule];
    next.rules = [
      { actions: r1.actions, conditions: { new_state: 'b' }, trigger: r1.trigger, name: 'Renamed', id: 'r1' },
      { ...wait, after: '3h' },
      { id: 'new', trigger: 'fact_recorded', fact: 'delivered', actions: [] },
    ];
    expect(ruleChanges(V1, next)).toEqual([
      { ruleId: 'r1', name: 'Renamed', change: 'changed', fields: ['conditions'] },
      { ruleId: 'wait', change: 'changed', fields: ['trigger'] },
      { ruleId: 'new', change: 'added', fields: [] },
      { ruleId: 'hello', change: 'removed', fields: [] },
    ]);
    const renamedOnly = clone(V1);
    (renamedOnly.rules as Rule[])[0] = { ...(V1.rules?.[0] as Rule), name: 'Just a name' };
    expect(ruleChanges(V1, renamedOnly)).toEqual([]);
  });
});

describe('ordersRuleCanActOn', () => {
  const orders = [order('o1', 'b'), order('o2', 'c'), order('o3', 'done', 'completed')];
  it('counts in-flight orders by trigger', () => {
    const [r1, wait, hello] = V1.rules as [Rule, Rule, Rule];
    expect(ordersRuleCanActOn(r1, orders).map((o) => o.id)).toEqual(['o1', 'o2']);
    expect(ordersRuleCanActOn(wait, orders).map((o) => o.id)).toEqual(['o2']);
    expect(ordersRuleCanActOn(hello, orders)).toEqual([]);
  });
});

describe('versionImpact', () => {
  it('lists removed and changed states, timers that would change by policy, and leaves unchanged versions empty', () => {
    const draft = clone(V1);
    draft.states = draft.states.filter((s) => s.key !== 'c').map((s) => (s.key === 'b' ? { ...s, timeout: { after: '2h', to: 'x' } } : s));
    draft.transitions = [{ from: 'a', to: 'b' }];
    draft.rules = [];
    const orders = [order('o1', 'b'), order('o2', 'c')];
    const timers: Timer[] = [
      { id: 't1', orderId: 'o1', kind: 'timeout', dueAt: '2026-01-01T01:00:00.000Z', state: 'b', visit: 2, scope: 'visit' },
      {
        id: 't2',
        orderId: 'o2',
        kind: 'time_in_state',
        dueAt: '2026-01-01T02:00:00.000Z',
        state: 'c',
        visit: 2,
        scope: 'visit',
        ruleId: 'wait',
      },
    ];
    const impact = versionImpact({ version: 1, definition: V1, draft, orders, timers, draftVersion: 2 });
    expect(impact.states).toEqual([
      { state: 'b', change: 'changed', fields: ['timeout'], count: 1, orderIds: ['o1'] },
      { state: 'c', change: 'removed', fields: [], count: 1, orderIds: ['o2'] },
    ]);
    expect(impact.timers.map((t) => [t.policy, t.kind, t.fate, t.count])).toEqual([
      ['keep', 'time_in_state', 'cancelled', 1],
      ['recompute', 'timeout', 'retimed', 1],
      ['recompute', 'time_in_state', 'cancelled', 1],
    ]);
    expect(impact.rules.map((r) => [r.ruleId, r.change, r.orders])).toEqual([
      ['r1', 'removed', 2],
      ['wait', 'removed', 1],
      ['hello', 'removed', 0],
    ]);
    expect(impact.affected).toBe(2);
    expect(versionImpact({ version: 1, definition: V1, draft: clone(V1), orders, timers, draftVersion: 2 })).toMatchObject({
      states: [],
      timers: [],
      rules: [],
      affected: 0,
    });
  });
});
