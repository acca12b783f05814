import { cloneJson } from './clone.js';
import { type Definition, findState, isTerminalGroup, type Rule, ruleIdOf, type State } from './definition.js';
import type {
  Command,
  DecideContext,
  Decision,
  Effect,
  HistoryEntry,
  MigrationResult,
  Order,
  Timer,
  TimerFate,
  TimerPolicy,
} from './model.js';
import { stateTimers } from './state-timers.js';

/** What `planTimers` needs to decide every pending timer's fate. */
export interface TimerPlanInput {
  /** The definition the order runs on now. */
  source: Definition;
  /** The definition it moves to. */
  target: Definition;
  toVersion: number;
  order: Order;
  /** The state the order will be in (after `stateMap`); `undefined` when its state has no place in `target`. */
  toState: string | undefined;
  pending: readonly Timer[];
  policy: TimerPolicy;
  newId: (prefix: string) => string;
}

/** Every timer's fate, and the timer effects that carry it out. */
export interface TimerPlan {
  fates: TimerFate[];
  effects: Effect[];
}

function ruleById(d: Definition, id: string | undefined): Rule | undefined {
  if (id === undefined) return undefined;
  return (d.rules ?? []).find((r, i) => ruleIdOf(r, i) === id);
}

const CANCEL_POLICY = 'The timer policy "cancel" cancels every pending timer.';

/**
 * Decides what happens to each pending timer of an order that moves to another
 * version: `keep` keeps every timer whose basis (its state's timeout, its
 * `time_in_state` rule, its delayed action's rule and action) exists in the target
 * version; `recompute` also re-times timeouts and `time_in_state` timers from the
 * state entry under the target version; `cancel` cancels all. A timer whose basis
 * is gone is cancelled, saying why. Under `keep` and `recompute`, a timer the
 * target version newly declares for the order's (mapped) state is scheduled from
 * the state entry (fate `scheduled`: a new timer, not the fate of a pending one);
 * one the source version already declared for the order's state, which fired or
 * was cancelled by hand, is never scheduled again. Nothing is dropped without a fate.
 */
export function planTimers(input: TimerPlanInput): TimerPlan {
  const { source, target, order, policy } = input;
  const v = `version ${input.toVersion}`;
  const to: State | undefined = input.toState === undefined ? undefined : findState(target, input.toState);
  const declared = to ? stateTimers(target, { ...order, state: to.key }, order.stateEnteredAt, input.newId) : [];
  const fates: TimerFate[] = [];
  const effects: Effect[] = [];
  const covered = new Set<Timer>();

  const stateGone = (): string =>
    to
      ? `State "${order.state}" is mapped to "${to.key}"`
      : `State "${order.state}" does not exist in ${v} and is not mapped to one of its states`;

  for (const timer of input.pending) {
    const fate: TimerFate = { timerId: timer.id, kind: timer.kind, state: timer.state, fate: 'kept', dueAt: timer.dueAt };
    if (timer.ruleId !== undefined) fate.ruleId = timer.ruleId;
    if (timer.actionIndex !== undefined) fate.actionIndex = timer.actionIndex;
    const inVisit = timer.scope === 'visit' && timer.state === order.state && timer.visit === order.visit;
    const newState = inVisit && to ? to.key : timer.state;

    // The timer's basis in the target version: its recomputed due time, or why it has none.
    let basis: { due: string } | { why: string };
    if (timer.kind === 'action') {
      const rule = ruleById(target, timer.ruleId);
      const action = rule?.actions[timer.actionIndex ?? -1];
      const before = ruleById(source, timer.ruleId)?.actions[timer.actionIndex ?? -1];
      if (!rule) basis = { why: `Rule "${timer.ruleId}" does not exist in ${v}.` };
      else if (!action) basis = { why: `Rule "${timer.ruleId}" has no action ${(timer.actionIndex ?? 0) + 1} in ${v}.` };
      else if (before && before.type !== action.type)
        basis = {
          why: `Action ${(timer.actionIndex ?? 0) + 1} of rule "${timer.ruleId}" is a ${action.type} in ${v}, not a ${before.type}.`,
        };
      else if (inVisit && !to) basis = { why: `${stateGone()}.` };
      else basis = { due: timer.dueAt };
    } else if (!inVisit) {
      basis = { why: `It belongs to an earlier visit of state "${timer.state}".` };
    } else if (!to) {
      basis = { why: `${stateGone()}.` };
    } else if (timer.kind === 'timeout') {
      const d = declared.find((x) => x.kind === 'timeout');
      if (d) covered.add(d);
      basis = d
        ? { due: d.dueAt }
        : { why: to.key === order.state ? `State "${to.key}" has no timeout in ${v}.` : `${stateGone()}, which has no timeout in ${v}.` };
    } else {
      const rule = ruleById(target, timer.ruleId);
      const d = declared.find((x) => x.kind === 'time_in_state' && x.ruleId === timer.ruleId);
      if (d) covered.add(d);
      if (!rule) basis = { why: `Rule "${timer.ruleId}" does not exist in ${v}.` };
      else if (rule.trigger !== 'time_in_state' || rule.state !== to.key)
        basis = { why: `Rule "${timer.ruleId}" no longer waits in state "${to.key}" in ${v}.` };
      else if (!d) basis = { why: `Rule "${timer.ruleId}" is disabled in ${v}.` };
      else basis = { due: d.dueAt };
    }

    if (policy === 'cancel' || 'why' in basis) {
      fate.fate = 'cancelled';
      fate.why = 'why' in basis && policy !== 'cancel' ? basis.why : CANCEL_POLICY;
      effects.push({ type: 'timer.cancel_one', orderId: order.id, timerId: timer.id });
    } else {
      const due = policy === 'recompute' ? basis.due : timer.dueAt;
      if (due !== timer.dueAt) {
        fate.fate = 'retimed';
        fate.newDueAt = due;
      }
      if (due !== timer.dueAt || newState !== timer.state) {
        effects.push({ type: 'timer.update', orderId: order.id, timerId: timer.id, dueAt: due, state: newState });
      }
    }
    fates.push(fate);
  }

  if (policy !== 'cancel' && to) {
    // A timer of the same kind (and rule) that the source version declared for the order's state in this
    // visit, but that is no longer pending, fired or was cancelled by hand: never revive it, whether the
    // order stays in its state or its state is mapped to another one (a pending one would move along).
    const before = stateTimers(source, order, order.stateEnteredAt, () => '');
    const why = to.key === order.state ? `New in ${v}.` : `State "${order.state}" is mapped to "${to.key}", which declares it in ${v}.`;
    for (const d of declared) {
      if (covered.has(d)) continue;
      if (before.some((b) => b.kind === d.kind && b.ruleId === d.ruleId)) continue;
      effects.push({ type: 'timer.schedule', timer: d });
      const fate: TimerFate = { timerId: d.id, kind: d.kind, state: d.state, fate: 'scheduled', dueAt: d.dueAt, why };
      if (d.ruleId !== undefined) fate.ruleId = d.ruleId;
      fates.push(fate);
    }
  }
  return { fates, effects };
}

const reject = (rejection: Extract<Decision, { ok: false }>['rejection']): Decision => ({ ok: false, rejection });

/**
 * The states (of orders about to migrate) that have no place in the target version: neither
 * kept by it nor mapped by `stateMap` to one of its states. One error per state, in the
 * `validation_failed` shape; empty when every state is mapped.
 */
export function unmappedStates(
  target: Definition,
  toVersion: number,
  states: Iterable<string>,
  stateMap: Readonly<Record<string, string>> | undefined,
): { path: string; message: string }[] {
  const errors: { path: string; message: string }[] = [];
  for (const s of new Set(states)) {
    if (findState(target, stateMap?.[s] ?? s)) continue;
    errors.push({ path: `stateMap.${s}`, message: `must map "${s}" to a state of version ${toVersion}` });
  }
  return errors;
}

/** Summary of fates for the history note, e.g. `1 kept, 1 retimed`. */
function fateSummary(fates: readonly TimerFate[]): string {
  if (fates.length === 0) return 'no pending timers';
  const counts = new Map<string, number>();
  for (const f of fates) counts.set(f.fate, (counts.get(f.fate) ?? 0) + 1);
  return [...counts].map(([fate, n]) => `${n} ${fate}`).join(', ');
}

/**
 * Moves an order to a newer version of its workflow: maps its state with
 * `stateMap` (refusing when its state would be left unmapped or a terminal order
 * would leave its group), gives every pending timer a fate under the policy, and
 * records both in one `migrated` history entry.
 */
export function migrateOrder(
  source: Definition,
  order: Order,
  command: Extract<Command, { type: 'migrate' }>,
  ctx: Pick<DecideContext, 'now' | 'newId'>,
): Decision {
  const target = command.toDefinition;
  if (command.toVersion <= order.workflowVersion) {
    return reject({
      code: 'validation_failed',
      message: `The order already runs on version ${order.workflowVersion}; migrate only to a newer version.`,
      errors: [{ path: 'toVersion', message: `must be greater than ${order.workflowVersion}` }],
    });
  }
  const state = findState(target, command.stateMap?.[order.state] ?? order.state);
  if (!state) {
    return reject({
      code: 'validation_failed',
      message: `State "${order.state}" does not exist in version ${command.toVersion}; map it with stateMap.`,
      errors: unmappedStates(target, command.toVersion, [order.state], command.stateMap),
    });
  }
  if (isTerminalGroup(order.group) && state.group !== order.group) {
    return reject({
      code: 'transition_not_allowed',
      message: `The order is ${order.group}; a migration cannot move it to group ${state.group}.`,
      reasons: [{ code: 'terminal_state', message: 'Orders never leave a terminal group.' }],
    });
  }
  // Entering a terminal group by migration obeys the same checks as by a transition (§1.6, §1.7).
  const entering = !isTerminalGroup(order.group) && isTerminalGroup(state.group);
  if (entering && state.group === 'cancelled' && !state.cancellation) {
    return reject({
      code: 'reason_required',
      message: `Migrating into "${state.key}" would cancel the order without a reason: that state of version ${command.toVersion} has no default cancellation reason. Map "${order.state}" to another state, or give "${state.key}" a default reason.`,
      reasons: [{ code: 'reason_required', message: `"${state.key}" has no default cancellation reason.` }],
    });
  }
  const missing = entering && state.group === 'completed' ? (state.requires ?? []).filter((c) => !(c in order.facts)) : [];
  if (missing.length > 0) {
    return reject({
      code: 'criteria_unmet',
      message: `Migrating into "${state.key}" would complete the order without ${missing.join(', ')}; record them first or map "${order.state}" to another state.`,
      missing,
      reasons: [{ code: 'criteria_unmet', message: `Record these criteria first: ${missing.join(', ')}.`, missing }],
    });
  }
  const policy = command.timers ?? 'recompute';
  const plan = planTimers({
    source,
    target,
    toVersion: command.toVersion,
    order,
    toState: state.key,
    pending: command.pending ?? [],
    policy,
    newId: ctx.newId,
  });
  const next: Order = cloneJson(order);
  next.version = order.version + 1;
  next.updatedAt = ctx.now;
  next.workflowVersion = command.toVersion;
  next.state = state.key;
  next.group = state.group;
  if (entering && state.group === 'cancelled') next.cancellation = state.cancellation ?? null;
  const entry: HistoryEntry = {
    id: ctx.newId('hst'),
    version: next.version,
    at: ctx.now,
    type: 'migrated',
    from: order.state,
    to: state.key,
    actor: command.caller.actor,
    note: `Migrated from version ${order.workflowVersion} to ${command.toVersion} (timers: ${policy}; ${fateSummary(plan.fates)}).`,
    timers: plan.fates,
  };
  const migration: MigrationResult = {
    fromVersion: order.workflowVersion,
    toVersion: command.toVersion,
    from: order.state,
    to: state.key,
    policy,
    timers: plan.fates,
  };
  return {
    ok: true,
    order: next,
    orders: [{ order: next, previousVersion: order.version }],
    effects: [{ type: 'history.append', orderId: order.id, entry }, ...plan.effects],
    applied: [],
    migration,
  };
}
