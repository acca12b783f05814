import type { z } from 'zod';
import type {
  ActorSchema,
  AppliedTransitionSchema,
  BlockedReasonSchema,
  ConditionTraceShape,
  FactSchema,
  HistoryEntrySchema,
  MigrationResultSchema,
  OrderLinkSchema,
  OrderSchema,
  TimerEditSchema,
  TimerFateSchema,
  TimerPolicySchema,
} from './api.js';
import type { Action, Reason, Role } from './definition.js';
import type { ErrorCode } from './errors.js';

/** Who made a change. */
export type Actor = z.infer<typeof ActorSchema>;
/** A recorded completion criterion. */
export type Fact = z.infer<typeof FactSchema>;
/** A link between two orders. */
export type OrderLink = z.infer<typeof OrderLinkSchema>;
/** An order. `visit` counts state entries; timers are bound to one visit. */
export type Order = z.infer<typeof OrderSchema>;
/** A history entry. `seq` is assigned by the store. */
export type HistoryEntry = z.infer<typeof HistoryEntrySchema>;
/** How each part of a condition evaluated. */
export type ConditionTrace = ConditionTraceShape;
/** One transition applied by a change; `from` is null for the entry into the initial state. */
export type AppliedTransition = z.infer<typeof AppliedTransitionSchema>;
/** Why a transition is blocked. */
export type BlockedReason = z.infer<typeof BlockedReasonSchema>;
/** What happens to pending timers when an order migrates. */
export type TimerPolicy = z.infer<typeof TimerPolicySchema>;
/** What a migration did with one pending timer (or a timer the target version newly declares). */
export type TimerFate = z.infer<typeof TimerFateSchema>;
/** A timer rescheduled or cancelled by hand, as its history entry records it. */
export type TimerEdit = z.infer<typeof TimerEditSchema>;
/** The outcome of migrating one order: target state and every timer's fate. */
export type MigrationResult = z.infer<typeof MigrationResultSchema>;

/** The context a rule sees (SPEC §2.2), also the template variables' source. */
export interface RuleContext {
  trigger: string;
  order: Order;
  old_state?: string;
  new_state?: string;
  old_group?: string;
  new_group?: string;
  event?: { type: string; data?: unknown };
  fact?: string;
  actor: Actor;
  kind: string;
}

/** An external effect queued in the outbox. */
export interface OutboxEntry {
  id: string;
  orderId: string;
  workflow: string;
  type: 'email' | 'webhook' | 'notify';
  ruleId: string | null;
  action: Extract<Action, { type: 'send_email' | 'webhook' | 'notify' }>;
  /** The event envelope (SPEC §4) the action renders against. */
  envelope: EventEnvelope;
  createdAt: string;
}

/** The webhook event envelope (SPEC §4). */
export interface EventEnvelope {
  id: string;
  type: string;
  createdAt: string;
  data: {
    order: Order;
    from?: string;
    to?: string;
    rule?: string;
    event?: { type: string; data?: unknown };
    fact?: string;
    actor?: Actor;
  };
}

/** A durable timer: a state timeout, a `time_in_state` rule or a delayed action. */
export interface Timer {
  id: string;
  orderId: string;
  kind: 'timeout' | 'time_in_state' | 'action';
  dueAt: string;
  /** The state and visit it belongs to. */
  state: string;
  visit: number;
  /** `visit`: cancelled when the order leaves that visit. `order`: survives it. */
  scope: 'visit' | 'order';
  ruleId?: string;
  actionIndex?: number;
  /** Snapshot of the trigger context for delayed actions. */
  payload?: { trigger: string; from?: string; to?: string; event?: { type: string; data?: unknown }; fact?: string };
}

/** Data effects of a decision, applied by the store in one transaction. */
export type Effect =
  | { type: 'history.append'; orderId: string; entry: HistoryEntry }
  | { type: 'outbox.enqueue'; delivery: OutboxEntry }
  | { type: 'timer.schedule'; timer: Timer }
  | { type: 'timer.cancel'; orderId: string; visit: number }
  /** One pending timer gets a new due time and/or state (migration). */
  | { type: 'timer.update'; orderId: string; timerId: string; dueAt: string; state: string }
  /** One pending timer is cancelled (migration). */
  | { type: 'timer.cancel_one'; orderId: string; timerId: string }
  | { type: 'rule.run'; run: RuleRun };

/** The log of one rule evaluation (`GET /runs`). */
export interface RuleRun {
  id: string;
  orderId: string;
  workflow: string;
  ruleId: string;
  trigger: string;
  at: string;
  matched: boolean;
  conditions: ConditionTrace | null;
  actions: { index: number; type: string; outcome: 'applied' | 'queued' | 'scheduled' | 'failed' | 'skipped'; detail?: string }[];
}

/** A refused command. */
export interface Rejection {
  code: ErrorCode;
  message: string;
  reasons?: BlockedReason[];
  missing?: string[];
  errors?: { path: string; message: string }[];
}

/** The caller of a command. */
export interface Caller {
  actor: Actor;
  roles: Role[];
}

/** Commands decide() accepts. */
export type Command =
  | {
      type: 'create';
      workflow: string;
      workflowVersion: number;
      kind?: string;
      externalRef?: string | null;
      data?: Record<string, unknown>;
      state?: string;
      caller: Caller;
    }
  | {
      type: 'transition';
      to: string;
      reason?: Reason;
      note?: string;
      facts?: Record<string, { evidence?: unknown } | true> | string[];
      force?: boolean;
      caller: Caller;
    }
  | { type: 'event'; event: { type: string; data?: unknown }; caller: Caller }
  | { type: 'fact'; fact: string; evidence?: unknown; caller: Caller }
  | { type: 'data'; patch: Record<string, unknown>; caller: Caller }
  | { type: 'timer'; timer: Timer }
  | {
      type: 'migrate';
      toVersion: number;
      toDefinition: import('./definition.js').Definition;
      /** Old state key → new state key, for states the new version no longer has. */
      stateMap?: Record<string, string>;
      /** What happens to the order's pending timers. @default 'recompute' */
      timers?: TimerPolicy;
      /** The order's pending timers (the runtime loads them). */
      pending?: Timer[];
      caller: Caller;
    };

/** A published workflow version as decide() sees it. */
export interface WorkflowVersion {
  key: string;
  version: number;
  definition: import('./definition.js').Definition;
}

/** What decide() needs besides the definition and the order. */
export interface DecideContext {
  /** Current time, ISO 8601 UTC. */
  now: string;
  /** Returns a fresh id with the prefix, e.g. `ord_01J...`. */
  newId: (prefix: string) => string;
  /** Published workflows by key, for `create_order`. */
  resolveWorkflow?: (key: string) => WorkflowVersion | undefined;
  /** Maximum cascade depth (default 10). */
  maxDepth?: number;
  /**
   * Work budget of one change: applied transitions, created orders, queued deliveries and
   * timers it may cause in all (default 500).
   */
  maxEffects?: number;
  /** Per-order loop guard: entries per state caused by rules or timeouts in the last hour, and the cap. */
  ruleEntriesLastHour?: Record<string, number>;
  maxRuleEntriesPerHour?: number;
  /** Paused rules as `WORKFLOW:RULE`, `WORKFLOW:*` for every rule of a workflow, `*` for all; they do not match. */
  pausedRules?: ReadonlySet<string>;
  /**
   * Renders a Liquid string for `set_data` and `create_order` values; values pass through verbatim without it.
   * It may throw `RenderElsewhere` to abandon the whole decision (nothing is half-decided: decide() is
   * pure), so the caller can decide again where rendering is allowed.
   */
  renderString?: (source: string, scope: Record<string, unknown>) => string;
}

/**
 * Thrown by a `renderString` that will not render here: decide() lets it through instead of failing
 * the rule, so a caller can try the cheap path first (no Liquid reached) and decide again elsewhere.
 */
export class RenderElsewhere extends Error {
  constructor() {
    super('This decision renders Liquid; decide it where rendering is allowed.');
    this.name = 'RenderElsewhere';
  }
}

/** The outcome of decide(). */
export type Decision =
  | {
      ok: true;
      /** The order the command targeted, after the change. */
      order: Order;
      /** Every order created or changed (the target first), with the version it had before (0 = new). */
      orders: { order: Order; previousVersion: number }[];
      effects: Effect[];
      applied: AppliedTransition[];
      /** True when nothing changed (e.g. a stale timer). */
      noop?: boolean;
      /** A migration's target state and timer fates. */
      migration?: MigrationResult;
    }
  | { ok: false; rejection: Rejection };
