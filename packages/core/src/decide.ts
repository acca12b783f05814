import type { AvailableTransition } from './api.js';
import { cloneJson } from './clone.js';
import { explainTrace, readPath, traceCondition } from './condition.js';
import {
  type Action,
  type Definition,
  findState,
  fromMatches,
  isExternalAction,
  isTerminalGroup,
  type Reason,
  type Role,
  type Rule,
  ruleIdOf,
  type State,
  workflowCriteria,
  workflowKinds,
  workflowReasons,
} from './definition.js';
import { addMs, formatDuration, parseDuration } from './duration.js';
import { mergePatch } from './merge-patch.js';
import { migrateOrder } from './migrate-order.js';
import type {
  Actor,
  AppliedTransition,
  BlockedReason,
  Caller,
  Command,
  DecideContext,
  Decision,
  Effect,
  EventEnvelope,
  HistoryEntry,
  Order,
  OutboxEntry,
  Rejection,
  RuleContext,
  RuleRun,
  Timer,
} from './model.js';
import { RenderElsewhere } from './model.js';
import { stateTimers } from './state-timers.js';

/** Default bound on rule cascades (SPEC §2.4). */
export const DEFAULT_MAX_DEPTH = 10;
/** Default work budget of one change: effects it may cause in all. */
export const DEFAULT_MAX_EFFECTS = 500;

type TriggerInfo = {
  trigger: Rule['trigger'];
  from?: string;
  to?: string;
  event?: { type: string; data?: unknown };
  fact?: string;
  actor: Actor;
  causedBy?: string;
};

class RuleFailure {
  constructor(
    readonly code: string,
    readonly message: string,
    /** Bounds of the whole change (depth, work budget): once hit, nothing more of the cascade runs. */
    readonly stopsCascade = false,
  ) {}
}

/** Mutable working set of one decision; never escapes decide(). */
class Session {
  readonly orders = new Map<string, { order: Order; previousVersion: number; definition: Definition }>();
  readonly effects: Effect[] = [];
  readonly applied: AppliedTransition[] = [];
  readonly ruleEntries = new Map<string, number>();
  /** Effects caused so far that count towards the work budget. */
  work = 0;
  /** Set once the depth bound or the work budget stopped the cascade. */
  stopped = false;

  constructor(readonly ctx: DecideContext) {}

  /**
   * Refuses an action whose own effects would take the change over its work budget. Effects of
   * the change itself (the request's move or creation) are counted but never refused.
   */
  ensureBudget(cost: number, what: string): void {
    const max = this.ctx.maxEffects ?? DEFAULT_MAX_EFFECTS;
    if (this.work + cost > max) {
      throw new RuleFailure(
        'budget_exceeded',
        `Work budget of ${max} effects per change reached (${this.work} so far); the ${what} action did not run.`,
        true,
      );
    }
  }

  get now(): string {
    return this.ctx.now;
  }

  /** Registers an order; the first touch bumps its version by exactly one. */
  touch(order: Order, definition: Definition, isNew = false): Order {
    const existing = this.orders.get(order.id);
    if (existing) return existing.order;
    const next: Order = cloneJson(order);
    next.version = isNew ? 1 : order.version + 1;
    next.updatedAt = this.now;
    this.orders.set(order.id, { order: next, previousVersion: isNew ? 0 : order.version, definition });
    return next;
  }

  get(orderId: string): { order: Order; definition: Definition } {
    const o = this.orders.get(orderId);
    if (!o) throw new Error(`order ${orderId} not in session`);
    return o;
  }

  history(order: Order, entry: Omit<HistoryEntry, 'id' | 'at'>): HistoryEntry {
    const full: HistoryEntry = { id: this.ctx.newId('hst'), version: order.version, at: this.now, ...entry };
    this.effects.push({ type: 'history.append', orderId: order.id, entry: full });
    return full;
  }
}

const system = (id: string): Actor => ({ type: 'system', id });
const reject = (rejection: Rejection): Decision => ({ ok: false, rejection });

/** Cancellation reason in force for entering `target`: the given one, else the state's default. */
function resolveReason(target: State, given: Reason | undefined): Reason | undefined {
  return given ?? target.cancellation;
}

/** Options of a transition check. */
export interface TransitionCheck {
  roles?: readonly Role[];
  actor: Actor;
  reason?: Reason;
  /** Facts that the request itself would record. */
  extraFacts?: readonly string[];
  force?: boolean;
  /** Timeouts are declared edges of their own: they need no transition entry. */
  viaTimeout?: boolean;
}

/** A transition check outcome: allowed, or the reasons it is blocked with the matching error code. */
export type TransitionVerdict =
  | { allowed: true; target: State; reason?: Reason }
  | { allowed: false; code: Rejection['code']; reasons: BlockedReason[]; missing?: string[]; target?: State };

/** A state as people know it, by its name (`"Awaiting payment"`); the key when it is unknown. */
function nameOf(state: State | undefined, key: string): string {
  return `"${state?.name ?? key}"`;
}

function rolesAllow(required: readonly Role[] | undefined, roles: readonly Role[] | undefined, actor: Actor): boolean {
  if (!required || required.length === 0) return true;
  // Rules and timers act for the workflow itself; role lists restrict people and API clients.
  if (actor.type === 'rule' || actor.type === 'timer' || actor.type === 'system') return true;
  if (!roles) return false;
  return roles.includes('admin') || required.some((r) => roles.includes(r));
}

/**
 * Checks whether `order` may move to `to` under `definition`: terminal rule,
 * edge, roles, guard, cancellation reason and completion criteria. The same
 * check serves the API, rules, timers and `availableTransitions`.
 */
export function checkTransition(definition: Definition, order: Order, to: string, opts: TransitionCheck): TransitionVerdict {
  const current = findState(definition, order.state);
  const target = findState(definition, to);
  if (!target) {
    return {
      allowed: false,
      code: 'transition_not_allowed',
      reasons: [{ code: 'unknown_state', message: `State "${to}" does not exist in workflow "${definition.key}".` }],
    };
  }
  if (isTerminalGroup(order.group)) {
    return {
      allowed: false,
      code: 'transition_not_allowed',
      target,
      reasons: [
        {
          code: 'terminal_state',
          message: `The order is in ${nameOf(current, order.state)}, a ${order.group} state; orders never leave the ${order.group} group.`,
        },
      ],
    };
  }
  let blocked: { code: Rejection['code']; reasons: BlockedReason[] } | undefined;
  if (!opts.force && !opts.viaTimeout) {
    const edges = definition.transitions.filter((t) => t.to === to && current !== undefined && fromMatches(t.from, current));
    if (edges.length === 0) {
      return {
        allowed: false,
        code: 'transition_not_allowed',
        target,
        reasons: [
          { code: 'no_edge', message: `The workflow has no transition from ${nameOf(current, order.state)} to ${nameOf(target, to)}.` },
        ],
      };
    }
    const scope = guardScope(order, current, target, opts.actor);
    let best: BlockedReason[] | undefined;
    let bestCode: Rejection['code'] = 'transition_not_allowed';
    let passed = false;
    for (const edge of edges) {
      const reasons: BlockedReason[] = [];
      let code: Rejection['code'] = 'transition_not_allowed';
      if (!rolesAllow(edge.roles, opts.roles, opts.actor)) {
        reasons.push({
          code: 'role_required',
          message: `This transition needs one of the roles: ${edge.roles?.join(', ')}.`,
          roles: [...(edge.roles ?? [])],
        });
        code = 'forbidden';
      }
      if (edge.guard !== undefined) {
        const trace = traceCondition(edge.guard, scope);
        if (!trace.result) {
          reasons.push({
            code: 'guard_failed',
            message: `The transition guard does not hold: ${explainTrace(trace) || 'the condition is false'}.`,
            condition: edge.guard,
            trace,
          });
          code = 'transition_not_allowed';
        }
      }
      if (reasons.length === 0) {
        passed = true;
        break;
      }
      if (!best) {
        best = reasons;
        bestCode = code;
      }
    }
    // Not returned yet: the reason and criteria checks below add what else blocks the move, so a
    // caller learns every reason at once (the code stays the first blocker's).
    if (!passed) blocked = { code: bestCode, reasons: [...(best ?? [])] };
  }
  let reason: Reason | undefined;
  if (target.group === 'cancelled') {
    reason = resolveReason(target, opts.reason);
    if (!reason) {
      blocked ??= { code: 'reason_required', reasons: [] };
      blocked.reasons.push({
        code: 'reason_required',
        message: `Entering ${nameOf(target, to)} needs a cancellation reason ({ initiator, code }); the state has no default.`,
      });
    }
  }
  let missing: string[] = [];
  if (target.group === 'completed' && target.requires && target.requires.length > 0) {
    const have = new Set([...Object.keys(order.facts), ...(opts.extraFacts ?? [])]);
    missing = target.requires.filter((c) => !have.has(c));
    if (missing.length > 0) {
      blocked ??= { code: 'criteria_unmet', reasons: [] };
      blocked.reasons.push({ code: 'criteria_unmet', message: `Record these criteria first: ${missing.join(', ')}.`, missing });
    }
  }
  if (blocked) return { allowed: false, code: blocked.code, target, reasons: blocked.reasons, ...(missing.length > 0 ? { missing } : {}) };
  return reason ? { allowed: true, target, reason } : { allowed: true, target };
}

function guardScope(order: Order, current: State | undefined, target: State, actor: Actor): Record<string, unknown> {
  return {
    order,
    old_state: order.state,
    new_state: target.key,
    old_group: current?.group ?? order.group,
    new_group: target.group,
    actor,
    kind: order.kind,
  };
}

/**
 * Every transition out of the order's current state, each marked allowed or
 * blocked with structured reasons (SPEC §5.2). Reason and criteria blocks are
 * reported even though a request may supply them.
 */
export function availableTransitions(definition: Definition, order: Order, caller: Caller): AvailableTransition[] {
  const current = findState(definition, order.state);
  if (!current) return [];
  const targets: string[] = [];
  const names = new Map<string, string | undefined>();
  for (const t of definition.transitions) {
    if (!fromMatches(t.from, current) || targets.includes(t.to)) continue;
    targets.push(t.to);
    names.set(t.to, t.name);
  }
  return targets.map((to) => {
    const v = checkTransition(definition, order, to, { roles: caller.roles, actor: caller.actor });
    const group = findState(definition, to)?.group ?? ('unknown' as const);
    const name = names.get(to);
    const base = name === undefined ? { to, group } : { to, name, group };
    return v.allowed ? { ...base, allowed: true, blocked: [] } : { ...base, allowed: false, blocked: v.reasons };
  });
}

function envelopeType(trigger: string): string {
  switch (trigger) {
    case 'state_changed':
      return 'order.state_changed';
    case 'order_created':
      return 'order.created';
    case 'event_received':
      return 'order.event_received';
    case 'fact_recorded':
      return 'order.fact_recorded';
    default:
      return `order.${trigger}`;
  }
}

function ruleScope(order: Order, definition: Definition, info: TriggerInfo): RuleContext & Record<string, unknown> {
  const from = info.from !== undefined ? findState(definition, info.from) : undefined;
  const to = info.to !== undefined ? findState(definition, info.to) : findState(definition, order.state);
  const scope: RuleContext & Record<string, unknown> = {
    trigger: info.trigger,
    order,
    actor: info.actor,
    kind: order.kind,
    new_state: info.to ?? order.state,
    new_group: to?.group ?? order.group,
  };
  if (info.from !== undefined) {
    scope.old_state = info.from;
    scope.old_group = from?.group ?? '';
  }
  if (info.event) scope.event = info.event;
  if (info.fact !== undefined) scope.fact = info.fact;
  return scope;
}

/** Timers entering `stateKey` schedules: its timeout and its `time_in_state` rules. */
function stateTimerCount(s: Session, definition: Definition, stateKey: string): number {
  const probe = { id: '', state: stateKey, visit: 0 } as Order;
  return stateTimers(definition, probe, s.now, () => 'tmr').length;
}

function scheduleStateTimers(s: Session, order: Order, definition: Definition): void {
  for (const timer of stateTimers(definition, order, s.now, s.ctx.newId)) {
    s.work += 1;
    s.effects.push({ type: 'timer.schedule', timer });
  }
}

/** Moves an order into `target` and runs the `state_changed` rules it triggers. */
function enterState(
  s: Session,
  orderId: string,
  target: State,
  actor: Actor,
  opts: { reason?: Reason; note?: string; ruleId?: string; causedBy?: string; forced?: boolean },
  depth: number,
): HistoryEntry {
  const { order, definition } = s.get(orderId);
  const from = order.state;
  s.effects.push({ type: 'timer.cancel', orderId, visit: order.visit });
  order.state = target.key;
  order.group = target.group;
  order.visit += 1;
  order.stateEnteredAt = s.now;
  if (target.group === 'cancelled') order.cancellation = opts.reason ?? null;
  const entry: Omit<HistoryEntry, 'id' | 'at'> = { type: 'transition', from, to: target.key, actor };
  if (opts.reason) entry.reason = opts.reason;
  if (opts.note !== undefined) entry.note = opts.note;
  if (opts.ruleId !== undefined) entry.ruleId = opts.ruleId;
  if (opts.causedBy !== undefined) entry.causedBy = opts.causedBy;
  if (opts.forced) entry.forced = true;
  const h = s.history(order, entry);
  const applied: AppliedTransition = { orderId, from, to: target.key, actor };
  if (opts.ruleId !== undefined) applied.ruleId = opts.ruleId;
  if (opts.forced) applied.forced = true;
  s.work += 1;
  s.applied.push(applied);
  scheduleStateTimers(s, order, definition);
  runRules(s, orderId, { trigger: 'state_changed', from, to: target.key, actor, causedBy: h.id }, depth);
  return h;
}

function ruleFailed(s: Session, orderId: string, ruleId: string, failure: RuleFailure, causedBy?: string): void {
  const { order } = s.get(orderId);
  const entry: Omit<HistoryEntry, 'id' | 'at'> = {
    type: 'rule_failed',
    actor: { type: 'rule', id: ruleId },
    ruleId,
    error: { code: failure.code, message: failure.message },
  };
  if (causedBy !== undefined) entry.causedBy = causedBy;
  s.history(order, entry);
  const envelope: EventEnvelope = {
    id: s.ctx.newId('evt'),
    type: 'order.rule_failed',
    createdAt: s.now,
    data: { order: cloneJson(order), rule: ruleId },
  };
  s.effects.push({
    type: 'outbox.enqueue',
    delivery: {
      id: s.ctx.newId('dlv'),
      orderId,
      workflow: order.workflow,
      type: 'notify',
      ruleId,
      action: {
        type: 'notify',
        channel: 'admins',
        severity: 'critical',
        message: `Rule "${ruleId}" failed on order ${orderId}: ${failure.message}`,
      },
      envelope,
      createdAt: s.now,
    },
  });
}

function ruleMatchesTrigger(rule: Rule, info: TriggerInfo): boolean {
  if (rule.trigger !== info.trigger) return false;
  if (rule.trigger === 'event_received' && rule.event !== undefined && rule.event !== info.event?.type) return false;
  if (rule.trigger === 'fact_recorded' && rule.fact !== undefined && rule.fact !== info.fact) return false;
  return true;
}

/** Runs every enabled rule of the order's workflow whose trigger matches, in definition order. */
function runRules(s: Session, orderId: string, info: TriggerInfo, depth: number): void {
  const { definition } = s.get(orderId);
  (definition.rules ?? []).forEach((rule, index) => {
    if (s.stopped || !ruleMatchesTrigger(rule, info)) return;
    if (rule.trigger === 'time_in_state') return; // runs from its timer only
    runRule(s, orderId, rule, index, info, depth);
  });
}

/** A rule is paused by itself (`WORKFLOW:RULE`) or with its whole workflow (`WORKFLOW:*`). */
const isPaused = (ctx: DecideContext, workflow: string, ruleId: string): boolean =>
  ctx.pausedRules !== undefined &&
  (ctx.pausedRules.has(`${workflow}:${ruleId}`) || ctx.pausedRules.has(`${workflow}:*`) || ctx.pausedRules.has('*'));

function runRule(s: Session, orderId: string, rule: Rule, index: number, info: TriggerInfo, depth: number, onlyAction?: number): void {
  const ruleId = ruleIdOf(rule, index);
  const { order, definition } = s.get(orderId);
  if (s.stopped || rule.enabled === false || isPaused(s.ctx, definition.key, ruleId)) return;
  const scope = ruleScope(order, definition, info);
  const trace = onlyAction === undefined ? traceCondition(rule.conditions, scope) : { result: true, condition: null };
  const run: RuleRun = {
    id: s.ctx.newId('run'),
    orderId,
    workflow: order.workflow,
    ruleId,
    trigger: info.trigger,
    at: s.now,
    matched: trace.result,
    conditions: rule.conditions === undefined ? null : trace,
    actions: [],
  };
  s.effects.push({ type: 'rule.run', run });
  if (!trace.result) return;
  for (let i = 0; i < rule.actions.length; i++) {
    if (s.stopped) return;
    if (onlyAction !== undefined && i !== onlyAction) continue;
    const action = rule.actions[i] as Action;
    if (action.delay !== undefined && onlyAction === undefined) {
      try {
        s.ensureBudget(1, `delayed ${action.type}`);
      } catch (e) {
        if (!(e instanceof RuleFailure)) throw e;
        failRule(s, orderId, ruleId, run, i, action, e, info.causedBy);
        return;
      }
      s.work += 1;
      const ms = parseDuration(action.delay) ?? 0;
      const current = s.get(orderId).order;
      const payload: NonNullable<Timer['payload']> = { trigger: info.trigger };
      if (info.from !== undefined) payload.from = info.from;
      if (info.to !== undefined) payload.to = info.to;
      if (info.event) payload.event = info.event;
      if (info.fact !== undefined) payload.fact = info.fact;
      s.effects.push({
        type: 'timer.schedule',
        timer: {
          id: s.ctx.newId('tmr'),
          orderId,
          kind: 'action',
          dueAt: addMs(s.now, ms),
          state: current.state,
          visit: current.visit,
          scope: action.onlyIfStillIn ? 'visit' : 'order',
          ruleId,
          actionIndex: i,
          payload,
        },
      });
      run.actions.push({ index: i, type: action.type, outcome: 'scheduled', detail: `in ${action.delay}` });
      continue;
    }
    try {
      const outcome = runAction(s, orderId, action, ruleId, info, depth);
      run.actions.push({ index: i, type: action.type, outcome });
    } catch (e) {
      if (!(e instanceof RuleFailure)) throw e;
      failRule(s, orderId, ruleId, run, i, action, e, info.causedBy);
      return; // the cascade stops here; the triggering change still commits
    }
  }
}

function failRule(
  s: Session,
  orderId: string,
  ruleId: string,
  run: RuleRun,
  index: number,
  action: Action,
  failure: RuleFailure,
  causedBy: string | undefined,
): void {
  run.actions.push({ index, type: action.type, outcome: 'failed', detail: failure.message });
  ruleFailed(s, orderId, ruleId, failure, causedBy);
  // One rule_failed entry and one critical notification per change: the rest of the cascade does not run.
  if (failure.stopsCascade) s.stopped = true;
}

/**
 * Renders one Liquid string. A template that fails or runs past its limits or the change's
 * render budget fails the action with the reason; its raw text is never stored.
 */
function renderText(s: Session, source: string, scope: Record<string, unknown>): string {
  const render = s.ctx.renderString;
  if (!render) return source;
  try {
    return render(source, scope);
  } catch (e) {
    if (e instanceof RenderElsewhere) throw e;
    throw new RuleFailure('render_failed', `A template could not be rendered: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function renderValue(s: Session, value: unknown, scope: Record<string, unknown>): unknown {
  if (typeof value === 'string') {
    // A value that is exactly one `{{ path }}` keeps the type of what it points at (objects, numbers).
    const single = /^\{\{\s*([A-Za-z_][\w.]*)\s*\}\}$/.exec(value);
    if (single) return cloneJson(readPath(scope, single[1] as string));
    return value.includes('{{') || value.includes('{%') ? renderText(s, value, scope) : value;
  }
  if (Array.isArray(value)) return value.map((v) => renderValue(s, v, scope));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === '__proto__') continue;
      out[k] = renderValue(s, v, scope);
    }
    return out;
  }
  return value;
}

function runAction(s: Session, orderId: string, action: Action, ruleId: string, info: TriggerInfo, depth: number): 'applied' | 'queued' {
  const { order, definition } = s.get(orderId);
  const actor: Actor = { type: 'rule', id: ruleId };
  if (isExternalAction(action)) {
    s.ensureBudget(1, action.type);
    s.work += 1;
    const envelope: EventEnvelope = {
      id: s.ctx.newId('evt'),
      type: envelopeType(info.trigger),
      createdAt: s.now,
      data: { order: cloneJson(order), rule: ruleId },
    };
    if (info.from !== undefined) envelope.data.from = info.from;
    if (info.to !== undefined) envelope.data.to = info.to;
    if (info.event) envelope.data.event = info.event;
    if (info.fact !== undefined) envelope.data.fact = info.fact;
    envelope.data.actor = info.actor;
    const delivery: OutboxEntry = {
      id: s.ctx.newId('dlv'),
      orderId,
      workflow: order.workflow,
      type: action.type === 'send_email' ? 'email' : action.type,
      ruleId,
      action,
      envelope,
      createdAt: s.now,
    };
    s.effects.push({ type: 'outbox.enqueue', delivery });
    return 'queued';
  }
  const maxDepth = s.ctx.maxDepth ?? DEFAULT_MAX_DEPTH;
  // Every internal action that can trigger more rules counts towards the cascade bound.
  if (action.type !== 'set_data' && depth + 1 > maxDepth) {
    throw new RuleFailure('depth_exceeded', `Cascade depth bound ${maxDepth} reached; the ${action.type} action did not run.`, true);
  }
  switch (action.type) {
    case 'transition': {
      const cap = s.ctx.maxRuleEntriesPerHour;
      if (cap !== undefined) {
        const key = `${orderId}:${action.to}`;
        const before =
          (orderId === [...s.orders.keys()][0] ? (s.ctx.ruleEntriesLastHour?.[action.to] ?? 0) : 0) + (s.ruleEntries.get(key) ?? 0);
        if (before >= cap) {
          throw new RuleFailure(
            'loop_guard',
            `Rules moved this order into "${action.to}" ${before} times in the last hour (limit ${cap}).`,
          );
        }
        s.ruleEntries.set(key, (s.ruleEntries.get(key) ?? 0) + 1);
      }
      const verdict = checkTransition(definition, order, action.to, { actor, ...(action.reason ? { reason: action.reason } : {}) });
      if (!verdict.allowed) {
        throw new RuleFailure(verdict.code, verdict.reasons.map((r) => r.message).join(' '));
      }
      s.ensureBudget(1 + stateTimerCount(s, definition, verdict.target.key), 'transition');
      const opts: Parameters<typeof enterState>[4] = { ruleId };
      if (verdict.reason) opts.reason = verdict.reason;
      if (action.note !== undefined) opts.note = action.note;
      if (info.causedBy !== undefined) opts.causedBy = info.causedBy;
      enterState(s, orderId, verdict.target, actor, opts, depth + 1);
      return 'applied';
    }
    case 'set_data': {
      const scope = ruleScope(order, definition, info);
      const patch = renderValue(s, action.set, scope) as Record<string, unknown>;
      order.data = mergePatch(order.data, patch) as Record<string, unknown>;
      const entry: Omit<HistoryEntry, 'id' | 'at'> = { type: 'data', actor, ruleId, patch };
      if (info.causedBy !== undefined) entry.causedBy = info.causedBy;
      s.history(order, entry);
      return 'applied';
    }
    case 'record_fact': {
      if (!workflowCriteria(definition).includes(action.fact)) {
        throw new RuleFailure('validation_failed', `Criterion "${action.fact}" is not declared by workflow "${definition.key}".`);
      }
      recordFact(s, orderId, action.fact, action.evidence, actor, depth + 1, ruleId, info.causedBy);
      return 'applied';
    }
    case 'create_order': {
      const target = s.ctx.resolveWorkflow?.(action.workflow);
      if (!target) throw new RuleFailure('not_found', `Workflow "${action.workflow}" has no published version.`);
      const initial = target.definition.states.find((st) => st.initial)?.key;
      s.ensureBudget(1 + (initial === undefined ? 0 : stateTimerCount(s, target.definition, initial)), 'create_order');
      const scope = ruleScope(order, definition, info);
      let data: Record<string, unknown> = {};
      if (typeof action.data === 'string') {
        const rendered = renderText(s, action.data, scope);
        try {
          const parsed: unknown = JSON.parse(rendered);
          if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
          data = parsed as Record<string, unknown>;
        } catch {
          throw new RuleFailure('validation_failed', 'create_order data did not render to a JSON object.');
        }
      } else if (action.data) {
        data = renderValue(s, action.data, scope) as Record<string, unknown>;
      }
      const kinds = workflowKinds(target.definition);
      const kind = action.kind ?? (kinds.includes(order.kind) ? order.kind : kinds[0]);
      const rel = action.link ?? 'related';
      const created = createOrder(
        s,
        target.definition,
        target.version,
        { kind, data, externalRef: null, links: [{ rel: `${rel}_of`, orderId }] },
        actor,
        depth + 1,
        ruleId,
      );
      if (!created.ok) throw new RuleFailure(created.rejection.code, created.rejection.message);
      order.links.push({ rel, orderId: created.order.id });
      return 'applied';
    }
  }
}

function recordFact(
  s: Session,
  orderId: string,
  fact: string,
  evidence: unknown,
  actor: Actor,
  depth: number,
  ruleId?: string,
  causedBy?: string,
): void {
  const { order } = s.get(orderId);
  const f: Order['facts'][string] = { at: s.now, by: actor };
  if (evidence !== undefined) f.evidence = evidence;
  order.facts[fact] = f;
  const entry: Omit<HistoryEntry, 'id' | 'at'> = { type: 'fact', fact, actor };
  if (ruleId !== undefined) entry.ruleId = ruleId;
  if (causedBy !== undefined) entry.causedBy = causedBy;
  const h = s.history(order, entry);
  runRules(s, orderId, { trigger: 'fact_recorded', fact, actor, causedBy: h.id }, depth);
}

function createOrder(
  s: Session,
  definition: Definition,
  workflowVersion: number,
  input: { kind: string | undefined; data: Record<string, unknown>; externalRef: string | null; state?: string; links?: Order['links'] },
  actor: Actor,
  depth: number,
  ruleId?: string,
): { ok: true; order: Order } | { ok: false; rejection: Rejection } {
  const kinds = workflowKinds(definition);
  const kind = input.kind ?? (kinds.includes('order') ? 'order' : kinds[0]);
  if (kind === undefined || !kinds.includes(kind)) {
    return {
      ok: false,
      rejection: {
        code: 'validation_failed',
        message: `Workflow "${definition.key}" does not accept kind "${kind}".`,
        errors: [{ path: 'kind', message: `must be one of: ${kinds.join(', ')}` }],
      },
    };
  }
  const stateKey = input.state ?? definition.states.find((st) => st.initial)?.key;
  const state = stateKey === undefined ? undefined : findState(definition, stateKey);
  if (state?.group !== 'new') {
    return {
      ok: false,
      rejection: {
        code: 'validation_failed',
        message: input.state
          ? `State "${input.state}" is not a state of group new in "${definition.key}".`
          : 'The workflow has no initial state.',
        errors: [{ path: 'state', message: 'must be a state in group new' }],
      },
    };
  }
  const id = s.ctx.newId('ord');
  const order: Order = {
    id,
    workflow: definition.key,
    workflowVersion,
    kind,
    externalRef: input.externalRef,
    state: state.key,
    group: state.group,
    data: input.data,
    facts: {},
    cancellation: null,
    links: input.links ?? [],
    version: 0,
    visit: 1,
    createdAt: s.now,
    updatedAt: s.now,
    stateEnteredAt: s.now,
  };
  const live = s.touch(order, definition, true);
  const entry: Omit<HistoryEntry, 'id' | 'at'> = { type: 'created', to: state.key, actor };
  if (ruleId !== undefined) entry.ruleId = ruleId;
  const h = s.history(live, entry);
  const applied: AppliedTransition = { orderId: id, from: null, to: state.key, actor };
  if (ruleId !== undefined) applied.ruleId = ruleId;
  s.work += 1;
  s.applied.push(applied);
  scheduleStateTimers(s, live, definition);
  runRules(s, id, { trigger: 'order_created', to: state.key, actor, causedBy: h.id }, depth);
  return { ok: true, order: live };
}

function normaliseFacts(facts: Extract<Command, { type: 'transition' }>['facts']): { fact: string; evidence?: unknown }[] {
  if (!facts) return [];
  if (Array.isArray(facts)) return facts.map((fact) => ({ fact }));
  return Object.entries(facts).map(([fact, v]) => (v === true || v.evidence === undefined ? { fact } : { fact, evidence: v.evidence }));
}

function finish(s: Session, targetId: string): Decision {
  const orders = [...s.orders.values()].map(({ order, previousVersion }) => ({ order, previousVersion }));
  const target = s.orders.get(targetId);
  if (!target) throw new Error('target order missing');
  return { ok: true, order: target.order, orders, effects: s.effects, applied: s.applied };
}

/**
 * The pure decision function: given a workflow definition, an order (null for
 * `create`) and a command, returns the next order(s) and every effect to
 * persist in one transaction, or a rejection. Runs no I/O and reads no clock:
 * time and ids come from `ctx`.
 */
export function decide(definition: Definition, order: Order | null, command: Command, ctx: DecideContext): Decision {
  const s = new Session(ctx);
  if (command.type === 'create') {
    const created = createOrder(
      s,
      definition,
      command.workflowVersion,
      {
        kind: command.kind,
        data: command.data ?? {},
        externalRef: command.externalRef ?? null,
        ...(command.state !== undefined ? { state: command.state } : {}),
      },
      command.caller.actor,
      0,
    );
    if (!created.ok) return reject(created.rejection);
    return finish(s, created.order.id);
  }
  if (!order) return reject({ code: 'not_found', message: 'Order not found.' });

  switch (command.type) {
    case 'transition': {
      const { caller } = command;
      if (command.force && !caller.roles.includes('admin')) {
        return reject({
          code: 'forbidden',
          message: 'Only an admin may force a transition.',
          reasons: [{ code: 'role_required', message: 'force needs the admin role.', roles: ['admin'] }],
        });
      }
      const facts = normaliseFacts(command.facts);
      const known = workflowCriteria(definition);
      const unknownFacts = facts.filter((f) => !known.includes(f.fact));
      if (unknownFacts.length > 0) {
        return reject({
          code: 'validation_failed',
          message: `Unknown criteria: ${unknownFacts.map((f) => f.fact).join(', ')}.`,
          errors: unknownFacts.map((f) => ({ path: 'facts', message: `"${f.fact}" is not a criterion of workflow "${definition.key}"` })),
        });
      }
      if (command.reason) {
        const codes = workflowReasons(definition, command.reason.initiator);
        if (!codes.includes(command.reason.code)) {
          return reject({
            code: 'validation_failed',
            message: `Unknown ${command.reason.initiator} reason "${command.reason.code}".`,
            errors: [{ path: 'reason.code', message: `must be one of: ${codes.join(', ')}` }],
          });
        }
      }
      const verdict = checkTransition(definition, order, command.to, {
        roles: caller.roles,
        actor: caller.actor,
        ...(command.reason ? { reason: command.reason } : {}),
        extraFacts: facts.map((f) => f.fact),
        ...(command.force ? { force: true } : {}),
      });
      if (!verdict.allowed) {
        const message = verdict.reasons.map((r) => r.message).join(' ') || 'Transition not allowed.';
        const rejection: Rejection = { code: verdict.code, message, reasons: verdict.reasons };
        if (verdict.missing && verdict.code === 'criteria_unmet') rejection.missing = verdict.missing;
        return reject(rejection);
      }
      const live = s.touch(order, definition);
      const recorded: { fact: string; entry: HistoryEntry }[] = [];
      for (const f of facts) {
        const fact: Order['facts'][string] = { at: ctx.now, by: caller.actor };
        if (f.evidence !== undefined) fact.evidence = f.evidence;
        live.facts[f.fact] = fact;
        recorded.push({ fact: f.fact, entry: s.history(live, { type: 'fact', fact: f.fact, actor: caller.actor }) });
      }
      const opts: Parameters<typeof enterState>[4] = {};
      if (verdict.reason) opts.reason = verdict.reason;
      if (command.note !== undefined) opts.note = command.note;
      if (command.force) opts.forced = true;
      enterState(s, order.id, verdict.target, caller.actor, opts, 0);
      // "Facts given in a transition body run fact_recorded rules, after the transition's own rules."
      for (const { fact, entry } of recorded) {
        runRules(s, order.id, { trigger: 'fact_recorded', fact, actor: caller.actor, causedBy: entry.id }, 0);
      }
      return finish(s, order.id);
    }
    case 'event': {
      const live = s.touch(order, definition);
      const h = s.history(live, { type: 'event', actor: command.caller.actor, event: command.event });
      runRules(s, order.id, { trigger: 'event_received', event: command.event, actor: command.caller.actor, causedBy: h.id }, 0);
      return finish(s, order.id);
    }
    case 'fact': {
      if (!workflowCriteria(definition).includes(command.fact)) {
        return reject({
          code: 'validation_failed',
          message: `"${command.fact}" is not a criterion of workflow "${definition.key}".`,
          errors: [{ path: 'fact', message: `must be one of: ${workflowCriteria(definition).join(', ')}` }],
        });
      }
      s.touch(order, definition);
      recordFact(s, order.id, command.fact, command.evidence, command.caller.actor, 0);
      return finish(s, order.id);
    }
    case 'data': {
      const live = s.touch(order, definition);
      live.data = mergePatch(live.data, command.patch) as Record<string, unknown>;
      s.history(live, { type: 'data', actor: command.caller.actor, patch: command.patch });
      return finish(s, order.id);
    }
    case 'timer':
      return fireTimer(s, definition, order, command.timer);
    case 'migrate':
      return migrateOrder(definition, order, command, ctx);
  }
}

function noop(order: Order): Decision {
  return { ok: true, order, orders: [], effects: [], applied: [], noop: true };
}

function fireTimer(s: Session, definition: Definition, order: Order, timer: Timer): Decision {
  if (timer.scope === 'visit' && (order.visit !== timer.visit || order.state !== timer.state)) return noop(order);
  const actor: Actor = { type: 'timer', id: timer.id };
  if (timer.kind === 'timeout') {
    const state = findState(definition, order.state);
    if (!state?.timeout) return noop(order);
    const verdict = checkTransition(definition, order, state.timeout.to, {
      actor,
      ...(state.timeout.reason ? { reason: state.timeout.reason } : {}),
      viaTimeout: true,
    });
    s.touch(order, definition);
    if (!verdict.allowed) {
      ruleFailed(s, order.id, `timeout:${order.state}`, new RuleFailure(verdict.code, verdict.reasons.map((r) => r.message).join(' ')));
      return finish(s, order.id);
    }
    // Moves caused by timers count towards the per-order loop guard exactly like moves caused by rules.
    const cap = s.ctx.maxRuleEntriesPerHour;
    if (cap !== undefined) {
      const to = verdict.target.key;
      const before = s.ctx.ruleEntriesLastHour?.[to] ?? 0;
      if (before >= cap) {
        const failure = new RuleFailure(
          'loop_guard',
          `Rules and timeouts moved this order into "${to}" ${before} times in the last hour (limit ${cap}); the timeout of "${order.state}" did not move it.`,
        );
        ruleFailed(s, order.id, `timeout:${order.state}`, failure);
        return finish(s, order.id);
      }
      s.ruleEntries.set(`${order.id}:${to}`, 1);
    }
    // The timer may have been rescheduled by hand: say how long the order really waited.
    const waited = Date.parse(timer.dueAt) - Date.parse(order.stateEnteredAt);
    const declared = parseDuration(state.timeout.after);
    const note =
      declared === undefined || waited === declared
        ? `Timed out after ${state.timeout.after} in "${order.state}".`
        : waited < 0
          ? `Timed out in "${order.state}" (its timer was rescheduled to before the order entered the state; the state's timeout is ${state.timeout.after}).`
          : `Timed out after ${formatDuration(waited)} in "${order.state}" (its timer was rescheduled; the state's timeout is ${state.timeout.after}).`;
    const opts: Parameters<typeof enterState>[4] = { note };
    if (verdict.reason) opts.reason = verdict.reason;
    enterState(s, order.id, verdict.target, actor, opts, 0);
    return finish(s, order.id);
  }
  const rules = definition.rules ?? [];
  const index = rules.findIndex((r, i) => ruleIdOf(r, i) === timer.ruleId);
  const rule = rules[index];
  if (!rule) return noop(order);
  if (rule.enabled === false || isPaused(s.ctx, definition.key, timer.ruleId ?? '')) return noop(order);
  s.touch(order, definition);
  const p = timer.payload ?? { trigger: rule.trigger };
  const info: TriggerInfo = { trigger: (p.trigger as Rule['trigger']) ?? rule.trigger, actor };
  if (p.from !== undefined) info.from = p.from;
  if (p.to !== undefined) info.to = p.to;
  if (p.event) info.event = p.event;
  if (p.fact !== undefined) info.fact = p.fact;
  runRule(s, order.id, rule, index, info, 0, timer.kind === 'action' ? timer.actionIndex : undefined);
  const live = s.get(order.id).order;
  // A timer that changed nothing on the order leaves its version alone.
  if (s.effects.every((e) => e.type === 'rule.run') && live.state === order.state) {
    return { ok: true, order, orders: [], effects: s.effects, applied: [], noop: true };
  }
  return finish(s, order.id);
}

export { system as systemActor };
