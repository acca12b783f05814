import type { z } from 'zod';
import type { VersionImpactSchema } from './api.js';
import { sameJson } from './canonical-json.js';
import { type Definition, isTerminalGroup, type Rule, ruleIdOf } from './definition.js';
import { planTimers } from './migrate-order.js';
import type { Order, Timer } from './model.js';

/** How many order ids an impact lists per item. */
export const IMPACT_ORDER_IDS = 100;

/** A rule that differs between two definitions, and which of its parts changed (the wire's shape, without order counts). */
export type RuleChange = Omit<VersionImpact['rules'][number], 'orders' | 'orderIds'>;

const TRIGGER_FIELDS = ['trigger', 'state', 'event', 'fact', 'after'] as const;

/**
 * The rules `after` adds, removes or changes compared with `before`, matched by
 * rule id and compared by meaning (key order is irrelevant). A change of name or
 * description alone changes no behaviour and is not listed.
 */
export function ruleChanges(before: Definition, after: Definition): RuleChange[] {
  const index = (d: Definition) => new Map((d.rules ?? []).map((r, i) => [ruleIdOf(r, i), r] as [string, Rule]));
  const a = index(before);
  const b = index(after);
  const out: RuleChange[] = [];
  const named = (c: RuleChange, r: Rule): RuleChange => (r.name ? { ...c, name: r.name } : c);
  for (const [id, rule] of b) {
    const old = a.get(id);
    if (!old) {
      out.push(named({ ruleId: id, change: 'added', fields: [] }, rule));
      continue;
    }
    const fields: RuleChange['fields'] = [];
    if (TRIGGER_FIELDS.some((f) => !sameJson(old[f], rule[f]))) fields.push('trigger');
    if (!sameJson(old.conditions, rule.conditions)) fields.push('conditions');
    if (!sameJson(old.actions, rule.actions)) fields.push('actions');
    if ((old.enabled ?? true) !== (rule.enabled ?? true)) fields.push('enabled');
    if (fields.length > 0) out.push(named({ ruleId: id, change: 'changed', fields }, rule));
  }
  for (const [id, rule] of a) if (!b.has(id)) out.push(named({ ruleId: id, change: 'removed', fields: [] }, rule));
  return out;
}

/**
 * The in-flight orders a rule can act on: `order_created` rules none (they ran
 * when the orders were created), `time_in_state` rules the orders waiting in their
 * state, every other trigger any order that is not completed or cancelled.
 */
export function ordersRuleCanActOn(rule: Rule, orders: readonly Order[]): Order[] {
  const live = orders.filter((o) => !isTerminalGroup(o.group));
  if (rule.trigger === 'order_created') return [];
  if (rule.trigger === 'time_in_state') return live.filter((o) => o.state === rule.state);
  return live;
}

/** What the draft would change for the in-flight orders pinned to one published version (declared once, on the wire). */
export type VersionImpact = z.infer<typeof VersionImpactSchema>;

const firstIds = (ids: Iterable<string>) => [...ids].slice(0, IMPACT_ORDER_IDS);

/**
 * Compares one pinned version with the draft for the orders that run on it:
 * orders per removed or changed state, every pending timer whose fate under
 * `keep` or `recompute` is not `kept`, and every added, removed or changed rule
 * with the in-flight orders it can act on. `stateMap` maps removed states as a
 * migration would.
 */
export function versionImpact(input: {
  version: number;
  definition: Definition;
  draft: Definition;
  orders: readonly Order[];
  timers: readonly Timer[];
  stateMap?: Record<string, string>;
  /** The version number the draft would get when published. */
  draftVersion: number;
}): VersionImpact {
  const { definition, draft } = input;
  const live = input.orders.filter((o) => !isTerminalGroup(o.group));
  const affected = new Set<string>();

  const states: VersionImpact['states'] = [];
  for (const state of definition.states) {
    const here = live.filter((o) => o.state === state.key);
    if (here.length === 0) continue;
    const next = draft.states.find((s) => s.key === state.key);
    const fields = next
      ? [...new Set([...Object.keys(state), ...Object.keys(next)])]
          .filter((k) => !sameJson((state as Record<string, unknown>)[k], (next as Record<string, unknown>)[k]))
          .sort()
      : [];
    if (next && fields.length === 0) continue;
    for (const o of here) affected.add(o.id);
    states.push({
      state: state.key,
      change: next ? 'changed' : 'removed',
      fields,
      count: here.length,
      orderIds: firstIds(here.map((o) => o.id)),
    });
  }

  const byOrder = new Map<string, Timer[]>();
  for (const t of input.timers) byOrder.set(t.orderId, [...(byOrder.get(t.orderId) ?? []), t]);
  const groups = new Map<string, VersionImpact['timers'][number] & { ids: Set<string> }>();
  let n = 0;
  const newId = (p: string) => `${p}_impact_${++n}`;
  for (const policy of ['keep', 'recompute'] as const) {
    for (const order of input.orders) {
      const pending = byOrder.get(order.id) ?? [];
      const mapped = input.stateMap?.[order.state] ?? order.state;
      const toState = draft.states.some((s) => s.key === mapped) ? mapped : undefined;
      const plan = planTimers({ source: definition, target: draft, toVersion: input.draftVersion, order, toState, pending, policy, newId });
      for (const f of plan.fates) {
        if (f.fate === 'kept') continue;
        const key = `${policy}/${f.kind}/${f.fate}`;
        const g = groups.get(key) ?? { policy, kind: f.kind, fate: f.fate, count: 0, orderIds: [], ids: new Set<string>() };
        g.count++;
        g.ids.add(order.id);
        affected.add(order.id);
        groups.set(key, g);
      }
    }
  }
  const timers = [...groups.values()].map(({ ids, ...g }) => ({ ...g, orderIds: firstIds(ids) }));

  const rules = ruleChanges(definition, draft).map((c) => {
    const rule =
      c.change === 'removed'
        ? (definition.rules ?? []).find((r, i) => ruleIdOf(r, i) === c.ruleId)
        : (draft.rules ?? []).find((r, i) => ruleIdOf(r, i) === c.ruleId);
    const reach = rule ? ordersRuleCanActOn(rule, input.orders) : [];
    for (const o of reach) affected.add(o.id);
    return { ...c, orders: reach.length, orderIds: firstIds(reach.map((o) => o.id)) };
  });

  return { version: input.version, inFlight: live.length, states, timers, rules, orderIds: firstIds(affected), affected: affected.size };
}
