import type { Action, Group, Reason, Role } from './definition.js';
import type { ErrorCode } from './errors.js';

/** Who made a change. */
export interface Actor {
  type: 'user' | 'api' | 'rule' | 'timer' | 'system';
  id: string;
}

/** A recorded completion criterion. */
export interface Fact {
  at: string;
  by: Actor;
  evidence?: unknown;
}

/** A link between two orders. */
export interface OrderLink {
  rel: string;
  orderId: string;
}

/** An order (SPEC §1.5). `visit` counts state entries; timers are bound to one visit. */
export interface Order {
  id: string;
  workflow: string;
  workflowVersion: number;
  kind: string;
  externalRef: string | null;
  state: string;
  group: Group;
  data: Record<string, unknown>;
  facts: Record<string, Fact>;
  cancellation: Reason | null;
  links: OrderLink[];
  version: number;
  visit: number;
  createdAt: string;
  updatedAt: string;
  stateEnteredAt: string;
}

/** A history entry (SPEC §1.8). `seq` is assigned by the store. */
export interface HistoryEntry {
  id: string;
  seq?: number;
  /** The order's version after the change that wrote this entry. */
  version?: number;
  at: string;
  type: 'created' | 'transition' | 'data' | 'fact' | 'event' | 'rule_failed' | 'migrated';
  from?: string;
  to?: string;
  actor: Actor;
  reason?: Reason;
  ruleId?: string;
  causedBy?: string;
  note?: string;
  forced?: boolean;
  fact?: string;
  event?: { type: string; data?: unknown };
  patch?: unknown;
  error?: { code: string; message: string };
}

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

/** How each part of a condition evaluated. */
export interface ConditionTrace {
  result: boolean;
  condition: unknown;
  children?: ConditionTrace[];
  actual?: unknown;
}

/** One transition applied by a change. */
export interface AppliedTransition {
  orderId: string;
  /** `null` for the entry into the initial state on creation. */
  from: string | null;
  to: string;
  actor: Actor;
  ruleId?: string;
  forced?: boolean;
}

/** Why a transition is blocked (SPEC §5.2). */
export type BlockedReason =
  | { code: 'no_edge'; message: string }
  | { code: 'terminal_state'; message: string }
  | { code: 'guard_failed'; message: string; condition: unknown; trace?: ConditionTrace }
  | { code: 'role_required'; message: string; roles: Role[] }
  | { code: 'reason_required'; message: string }
  | { code: 'criteria_unmet'; message: string; missing: string[] }
  | { code: 'unknown_state'; message: string }
  | { code: 'loop_guard'; message: string }
  | { code: 'depth_exceeded'; message: string };

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
      /** What happens to pending timers of the current state visit. @default 'recompute' */
      timers?: 'keep' | 'recompute' | 'cancel';
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
  /** Per-order loop guard: rule-caused entries per state in the last hour, and the cap. */
  ruleEntriesLastHour?: Record<string, number>;
  maxRuleEntriesPerHour?: number;
  /** Rules paused by id (`automation pause ?rule=`); they do not match. */
  pausedRules?: ReadonlySet<string>;
  /** Renders a Liquid string for `set_data` and `create_order` values; values pass through verbatim without it. */
  renderString?: (source: string, scope: Record<string, unknown>) => string;
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
    }
  | { ok: false; rejection: Rejection };
