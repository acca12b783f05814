import type { Definition } from '@orderflow/core';
import { DEMO_ORDERS } from '@orderflow/core';
import { describe, expect, it } from 'vitest';
import { diffDefinitions } from './diff.js';
import {
  addState,
  addTransition,
  moveState,
  removeState,
  removeTransition,
  renameStateKey,
  setInitial,
  slugify,
  updateState,
  updateTransition,
} from './edits.js';
import { slotPosition } from './flow-mapping.js';

const keysOf = (d: Definition, group: string) => d.states.filter((s) => s.group === group).map((s) => s.key);

describe('definition edits', () => {
  it('makes state keys from names', () => {
    expect(slugify('Quality check')).toBe('quality_check');
    expect(slugify('  Crème brûlée 2 ')).toBe('creme_brulee_2');
    expect(slugify('123 go')).toBe('go');
    expect(slugify('<script>')).toBe('script');
    expect(slugify('!!!')).toBe('state');
  });

  it('adds a state at the end of its lane with a unique key and a slot', () => {
    const { definition, key } = addState(DEMO_ORDERS, 'processing', 'Packing');
    expect(key).toBe('packing_2');
    expect(keysOf(definition, 'processing').at(-1)).toBe('packing_2');
    expect(definition.layout?.packing_2).toEqual(slotPosition('processing', 6));
    expect(DEMO_ORDERS.states.some((s) => s.key === 'packing_2')).toBe(false);
  });

  it('adds a state to an empty lane before the later groups', () => {
    const d: Definition = {
      key: 'x',
      name: 'X',
      states: [
        { key: 'a', name: 'A', group: 'new' },
        { key: 'z', name: 'Z', group: 'completed' },
      ],
      transitions: [],
    };
    const { definition } = addState(d, 'processing', 'Mid');
    expect(definition.states.map((s) => s.key)).toEqual(['a', 'mid', 'z']);
  });

  it('updates and removes state fields', () => {
    const d = updateState(DEMO_ORDERS, 'packing', { name: 'Packing now', color: undefined });
    const s = d.states.find((x) => x.key === 'packing');
    expect(s?.name).toBe('Packing now');
    expect(s && 'color' in s).toBe(false);
  });

  it('keeps exactly one initial state', () => {
    const d = setInitial(addState(DEMO_ORDERS, 'new', 'Draft').definition, 'draft');
    expect(d.states.filter((s) => s.initial).map((s) => s.key)).toEqual(['draft']);
  });

  it('renames a key everywhere it is referenced', () => {
    const d = renameStateKey(DEMO_ORDERS, 'payment_timeout', 'unpaid');
    expect(d.states.find((s) => s.key === 'awaiting_payment')?.timeout?.to).toBe('unpaid');
    expect(d.transitions.some((t) => t.to === 'payment_timeout')).toBe(false);
    const r = renameStateKey(DEMO_ORDERS, 'delayed', 'late');
    expect(r.rules?.find((x) => x.id === 'delay-apology')?.conditions).toEqual({ new_state: 'late' });
    expect(r.transitions.filter((t) => t.from === 'late').length).toBe(4);
    const l = renameStateKey(DEMO_ORDERS, 'lost_in_transit', 'lost');
    expect(l.rules?.find((x) => x.id === 'package-lost-event')?.actions[0]).toMatchObject({ type: 'transition', to: 'lost' });
  });

  it('removes a state with its transitions', () => {
    const d = removeState(DEMO_ORDERS, 'delayed');
    expect(d.states.some((s) => s.key === 'delayed')).toBe(false);
    expect(d.transitions.some((t) => t.from === 'delayed' || t.to === 'delayed')).toBe(false);
  });

  it('moves a state within and across lanes', () => {
    const up = moveState(DEMO_ORDERS, 'shipping', 'processing', 0);
    expect(keysOf(up, 'processing').slice(0, 2)).toEqual(['shipping', 'awaiting_payment']);
    const across = moveState(DEMO_ORDERS, 'delivered', 'cancelled', 1);
    expect(keysOf(across, 'cancelled')[1]).toBe('delivered');
    expect(across.states.find((s) => s.key === 'delivered')?.requires).toBeUndefined();
  });

  it('adds, edits and removes transitions', () => {
    const { definition, index } = addTransition(DEMO_ORDERS, 'packing', 'delayed');
    expect(definition.transitions[index]).toEqual({ from: 'packing', to: 'delayed' });
    expect(addTransition(definition, 'packing', 'delayed').definition).toBe(definition);
    const named = updateTransition(definition, index, { name: 'Delay', roles: ['operator'] });
    expect(named.transitions[index]).toEqual({ from: 'packing', to: 'delayed', name: 'Delay', roles: ['operator'] });
    const cleared = updateTransition(named, index, { roles: undefined });
    expect(cleared.transitions[index]).toEqual({ from: 'packing', to: 'delayed', name: 'Delay' });
    expect(removeTransition(cleared, index).transitions).toEqual(DEMO_ORDERS.transitions);
  });
});

describe('diffDefinitions', () => {
  it('says first version when nothing is published', () => {
    expect(diffDefinitions(null, DEMO_ORDERS)).toEqual([expect.objectContaining({ change: 'added', subject: 'workflow' })]);
  });

  it('reports nothing for layout-only changes', () => {
    expect(diffDefinitions(DEMO_ORDERS, { ...DEMO_ORDERS, layout: { packing: { x: 1, y: 2 } } })).toEqual([]);
  });

  it('lists added, moved and removed states, transitions and rules in words', () => {
    let d = addState(DEMO_ORDERS, 'processing', 'Quality check').definition;
    d = moveState(d, 'damaged', 'cancelled', 0);
    d = removeState(d, 'lost_in_transit');
    d = addTransition(d, 'packing', 'quality_check').definition;
    d = { ...d, rules: (d.rules ?? []).filter((r) => r.id !== 'order-confirmation') };
    const text = diffDefinitions(DEMO_ORDERS, d).map((l) => l.text);
    expect(text).toContain('State “Quality check” (quality_check) added to Processing');
    expect(text).toContain('State damaged: moved from Processing to Cancelled');
    expect(text).toContain('State “Lost in transit” (lost_in_transit) removed from Processing');
    expect(text).toContain('Transition packing → quality_check added');
    expect(text).toContain('Transition shipping → lost_in_transit removed');
    expect(text).toContain('Rule “Confirm new orders” (order-confirmation) removed');
  });

  it('describes changed fields', () => {
    const d = updateState(DEMO_ORDERS, 'packing', { name: 'Pack' });
    expect(diffDefinitions(DEMO_ORDERS, d).map((l) => l.text)).toEqual(['State packing: name "Packing" → "Pack"']);
  });
});
