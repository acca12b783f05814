/**
 * Pure edits of a workflow definition made by the builder. None of them
 * validates anything: the result is checked by core's `validateDefinition`.
 */
import type { Condition, Definition, Group, Rule, State, Transition } from '@orderflow/core';
import { slotPosition } from './flow-mapping.js';

/** Default card colour per group. */
export const GROUP_COLORS: Record<Group, string> = {
  new: '#64748b',
  processing: '#3b82f6',
  cancelled: '#9ca3af',
  completed: '#16a34a',
};

/** A state key made from a name: `Quality check` → `quality_check`. */
export function slugify(name: string): string {
  const s = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .replace(/^[^a-z]+/, '')
    .slice(0, 64)
    .replace(/_+$/, '');
  return s || 'state';
}

/** A key not yet used by any state. */
export function uniqueKey(definition: Definition, base: string): string {
  const used = new Set(definition.states.map((s) => s.key));
  if (!used.has(base)) return base;
  for (let i = 2; ; i++) {
    const suffix = `_${i}`;
    const key = `${base.slice(0, 64 - suffix.length)}${suffix}`;
    if (!used.has(key)) return key;
  }
}

function indexAfterGroup(states: State[], group: Group): number {
  let at = -1;
  states.forEach((s, i) => {
    if (s.group === group) at = i;
  });
  if (at >= 0) return at + 1;
  // An empty group: insert before the first state of a later group.
  const order: Group[] = ['new', 'processing', 'cancelled', 'completed'];
  const later = order.slice(order.indexOf(group) + 1);
  const next = states.findIndex((s) => later.includes(s.group));
  return next >= 0 ? next : states.length;
}

/** Adds a state at the end of a lane. */
export function addState(definition: Definition, group: Group, name: string): { definition: Definition; key: string } {
  const key = uniqueKey(definition, slugify(name));
  const state: State = { key, name: name.trim() || key, group, color: GROUP_COLORS[group] };
  const states = [...definition.states];
  states.splice(indexAfterGroup(states, group), 0, state);
  const position = slotPosition(group, definition.states.filter((s) => s.group === group).length);
  return { definition: { ...definition, states, layout: { ...definition.layout, [key]: position } }, key };
}

/** Replaces fields of a state; `undefined` values remove the field. */
export function updateState(definition: Definition, key: string, patch: Partial<State>): Definition {
  return {
    ...definition,
    states: definition.states.map((s) => {
      if (s.key !== key) return s;
      const next = { ...s, ...patch } as Record<string, unknown>;
      for (const [k, v] of Object.entries(patch)) if (v === undefined) delete next[k];
      return next as State;
    }),
  };
}

/** Makes `key` the one initial state (SPEC §1.3: exactly one). */
export function setInitial(definition: Definition, key: string): Definition {
  return {
    ...definition,
    states: definition.states.map((s) => {
      if (s.key === key) return { ...s, initial: true };
      if (!s.initial) return s;
      const { initial: _, ...rest } = s;
      return rest;
    }),
  };
}

function renameInCondition(c: Condition | undefined, from: string, to: string): Condition | undefined {
  if (!c || typeof c !== 'object') return c;
  const o = c as Record<string, unknown>;
  if (Array.isArray(o.all)) return { all: (o.all as Condition[]).map((x) => renameInCondition(x, from, to) as Condition) };
  if (Array.isArray(o.any)) return { any: (o.any as Condition[]).map((x) => renameInCondition(x, from, to) as Condition) };
  if (o.not !== undefined) return { not: renameInCondition(o.not as Condition, from, to) as Condition };
  if (typeof o.path === 'string') return c;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (k === 'new_state' || k === 'old_state') out[k] = Array.isArray(v) ? v.map((x) => (x === from ? to : x)) : v === from ? to : v;
    else out[k] = v;
  }
  return out as Condition;
}

function renameInRule(rule: Rule, from: string, to: string): Rule {
  const next: Rule = { ...rule, actions: rule.actions.map((a) => (a.type === 'transition' && a.to === from ? { ...a, to } : a)) };
  if (rule.state === from) next.state = to;
  if (rule.conditions) next.conditions = renameInCondition(rule.conditions, from, to) as Condition;
  return next;
}

/** Changes a state's key and every reference to it (transitions, timeouts, rules, layout). */
export function renameStateKey(definition: Definition, from: string, to: string): Definition {
  if (from === to) return definition;
  const layout = { ...definition.layout };
  if (layout[from]) {
    layout[to] = layout[from];
    delete layout[from];
  }
  return {
    ...definition,
    states: definition.states.map((s) => {
      let next = s.key === from ? { ...s, key: to } : s;
      if (next.timeout?.to === from) next = { ...next, timeout: { ...next.timeout, to } };
      return next;
    }),
    transitions: definition.transitions.map((t) => ({ ...t, from: t.from === from ? to : t.from, to: t.to === from ? to : t.to })),
    rules: definition.rules?.map((r) => renameInRule(r, from, to)),
    layout,
  };
}

/** Removes a state and the transitions into and out of it. */
export function removeState(definition: Definition, key: string): Definition {
  const layout = { ...definition.layout };
  delete layout[key];
  return {
    ...definition,
    states: definition.states.filter((s) => s.key !== key),
    transitions: definition.transitions.filter((t) => t.from !== key && t.to !== key),
    layout,
  };
}

/** Moves a state to `index` within `group` (the table view's move). */
export function moveState(definition: Definition, key: string, group: Group, index: number): Definition {
  const state = definition.states.find((s) => s.key === key);
  if (!state) return definition;
  let moved: State = { ...state, group };
  if (group !== state.group) {
    if (group !== 'cancelled') delete moved.cancellation;
    if (group !== 'completed') delete moved.requires;
  }
  const rest = definition.states.filter((s) => s.key !== key);
  const inGroup = rest.filter((s) => s.group === group);
  const clamped = Math.max(0, Math.min(index, inGroup.length));
  const anchor = inGroup[clamped];
  const states = [...rest];
  const at = anchor ? states.indexOf(anchor) : indexAfterGroup(states, group);
  moved = { ...moved };
  states.splice(at, 0, moved);
  return { ...definition, states };
}

/** Adds a transition unless the same edge exists already. */
export function addTransition(definition: Definition, from: string, to: string): { definition: Definition; index: number } {
  const existing = definition.transitions.findIndex((t) => t.from === from && t.to === to);
  if (existing >= 0) return { definition, index: existing };
  return { definition: { ...definition, transitions: [...definition.transitions, { from, to }] }, index: definition.transitions.length };
}

/** Replaces fields of the transition at `index`; `undefined` values remove the field. */
export function updateTransition(definition: Definition, index: number, patch: Partial<Transition>): Definition {
  return {
    ...definition,
    transitions: definition.transitions.map((t, i) => {
      if (i !== index) return t;
      const next = { ...t, ...patch } as Record<string, unknown>;
      for (const [k, v] of Object.entries(patch)) if (v === undefined) delete next[k];
      return next as Transition;
    }),
  };
}

/** Removes the transition at `index`. */
export function removeTransition(definition: Definition, index: number): Definition {
  return { ...definition, transitions: definition.transitions.filter((_, i) => i !== index) };
}
