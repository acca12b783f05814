/**
 * The wire contract of the HTTP API: every request and response body, query,
 * the problem document and the role hierarchy, declared once. The engine
 * validates with these schemas, the OpenAPI document is generated from
 * {@link API_ROUTES}, and the client and web UI take their types from here.
 */
import { z } from 'zod';
import {
  ActionSchema,
  ConditionSchema,
  DefinitionSchema,
  GROUPS,
  ReasonSchema,
  ROLES,
  RuleSchema,
  StateSchema,
  TransitionSchema,
} from './definition.js';
import { ERROR_STATUS, type ErrorCode } from './errors.js';

// The definition document's parts are named components of the contract.
for (const [schema, id] of [
  [DefinitionSchema, 'Definition'],
  [StateSchema, 'State'],
  [TransitionSchema, 'Transition'],
  [RuleSchema, 'Rule'],
  [ActionSchema, 'Action'],
  [ConditionSchema, 'Condition'],
  [ReasonSchema, 'Reason'],
] as const) {
  if (!z.globalRegistry.has(schema)) z.globalRegistry.add(schema, { id });
}

// ---------------------------------------------------------------- primitives

const slugRe = /^[a-z][a-z0-9_]{0,63}$/;
/** A lowercase key: letter, then letters, digits or `_` (max 64). */
export const Slug = z.string().regex(slugRe, 'must be a slug');
/** A workflow key as the path and bodies accept it. */
export const WorkflowKey = z.string().min(1).max(64);
/** A rule id, or `workflow:rule`. */
export const RuleKey = z
  .string()
  .regex(/^(?:[a-z][a-z0-9_-]{0,63}:)?[a-z0-9][a-z0-9_-]{0,63}$/, 'must be a rule id, or workflow:rule')
  .describe('A rule id, or `workflow:rule`');
/** An id in a path or query (orders, deliveries, timers...). */
export const Id = z.string().min(1).max(64);
/** An ISO 8601 timestamp with offset. */
export const Timestamp = z.iso.datetime({ offset: true });
/** A filter bound: an ISO 8601 date-time with offset, or a plain date meaning midnight UTC. */
export const TimeBound = z
  .union([Timestamp, z.iso.date()], {
    error: 'must be an ISO 8601 date (2026-01-01, midnight UTC) or date-time with offset (2026-01-01T09:00:00Z)',
  })
  .describe('An ISO 8601 date-time with offset, or a date (midnight UTC)');
/** A JSON object. */
export const JsonObject = z.record(z.string(), z.unknown());
/** Page size: 1..500, default 50. */
export const Limit = z.coerce.number<string | number>().int().min(1).max(500).default(50);
/** An opaque cursor from `nextCursor`. */
export const Cursor = z.string().max(400);
const boolString = z.enum(['true', 'false']);

/** The four API roles. */
export const RoleSchema = z.enum(ROLES).meta({ id: 'Role' });
/** A stage group. */
export const GroupSchema = z.enum(GROUPS).meta({ id: 'Group' });

/**
 * The roles each role holds: admin holds every role, designer and operator
 * hold viewer. The single place the hierarchy is written down.
 */
export const ROLE_HIERARCHY: Readonly<Record<(typeof ROLES)[number], readonly (typeof ROLES)[number][]>> = {
  admin: ['admin', 'designer', 'operator', 'viewer'],
  designer: ['designer', 'viewer'],
  operator: ['operator', 'viewer'],
  viewer: ['viewer'],
};

/** True when a caller with `role` may use something that needs one of `needed`. */
export const roleSatisfies = (role: (typeof ROLES)[number], ...needed: (typeof ROLES)[number][]): boolean =>
  needed.some((r) => ROLE_HIERARCHY[role].includes(r));

// ---------------------------------------------------------------- problems

/** One validation finding of a workflow definition. */
export const ValidationProblemSchema = z
  .object({
    severity: z.enum(['error', 'warning']),
    code: z.string(),
    path: z.string(),
    message: z.string(),
  })
  .meta({ id: 'ValidationProblem' });

/** How each part of a condition evaluated. */
export interface ConditionTraceShape {
  result: boolean;
  condition: unknown;
  children?: ConditionTraceShape[] | undefined;
  actual?: unknown;
}
export const ConditionTraceSchema: z.ZodType<ConditionTraceShape> = z
  .object({
    result: z.boolean(),
    condition: z.unknown(),
    get children() {
      return z.array(ConditionTraceSchema).optional();
    },
    actual: z.unknown().optional(),
  })
  .meta({ id: 'ConditionTrace' });

/** Why a transition is blocked. */
export const BlockedReasonSchema = z
  .discriminatedUnion('code', [
    z.object({ code: z.literal('no_edge'), message: z.string() }),
    z.object({ code: z.literal('terminal_state'), message: z.string() }),
    z.object({ code: z.literal('guard_failed'), message: z.string(), condition: z.unknown(), trace: ConditionTraceSchema.optional() }),
    z.object({ code: z.literal('role_required'), message: z.string(), roles: z.array(RoleSchema) }),
    z.object({ code: z.literal('reason_required'), message: z.string() }),
    z.object({ code: z.literal('criteria_unmet'), message: z.string(), missing: z.array(z.string()) }),
    z.object({ code: z.literal('unknown_state'), message: z.string() }),
    z.object({ code: z.literal('loop_guard'), message: z.string() }),
    z.object({ code: z.literal('depth_exceeded'), message: z.string() }),
  ])
  .meta({ id: 'BlockedReason' });

/** An RFC 9457 problem document with a stable `code`; every 4xx answers one. */
export const ProblemSchema = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    code: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    missing: z.array(z.string()).optional(),
    reasons: z.array(BlockedReasonSchema).optional(),
    problems: z.array(ValidationProblemSchema).optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details with a stable `code`' });

// ---------------------------------------------------------------- orders

export const ActorSchema = z.object({ type: z.enum(['user', 'api', 'rule', 'timer', 'system']), id: z.string() }).meta({ id: 'Actor' });
export const FactSchema = z.object({ at: z.string(), by: ActorSchema, evidence: z.unknown().optional() }).meta({ id: 'Fact' });
export const OrderLinkSchema = z.object({ rel: z.string(), orderId: z.string() }).meta({ id: 'OrderLink' });

/** An order. `visit` counts state entries; timers are bound to one visit. */
export const OrderSchema = z
  .object({
    id: z.string(),
    workflow: z.string(),
    workflowVersion: z.number().int(),
    kind: z.string(),
    externalRef: z.string().nullable(),
    state: z.string(),
    group: GroupSchema,
    data: JsonObject,
    facts: z.record(z.string(), FactSchema),
    cancellation: ReasonSchema.nullable(),
    links: z.array(OrderLinkSchema),
    version: z.number().int(),
    visit: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
    stateEnteredAt: z.string(),
  })
  .meta({ id: 'Order' });

const EventSchema = z.object({ type: z.string(), data: z.unknown().optional() });
const TimerKindSchema = z.enum(['timeout', 'time_in_state', 'action']);

/** What happens to pending timers when an order migrates. */
export const TimerPolicySchema = z.enum(['keep', 'recompute', 'cancel']).meta({ id: 'TimerPolicy' });

/**
 * What a migration did with one pending timer: `kept` (same due time), `retimed`
 * (`dueAt` → `newDueAt`) or `cancelled` (`why`). Besides these fates of pending timers,
 * `scheduled` lists a new timer: one the target version declares for the order's
 * (mapped) state that the source version did not declare for its state (`dueAt` is its
 * due time, `why` says so). A timer that fired or was cancelled by hand is never scheduled again.
 */
export const TimerFateSchema = z
  .object({
    timerId: z.string(),
    kind: TimerKindSchema,
    /** The state the timer belonged to before the migration. */
    state: z.string(),
    ruleId: z.string().optional(),
    actionIndex: z.number().int().optional(),
    fate: z.enum(['kept', 'retimed', 'cancelled', 'scheduled']),
    dueAt: z.string(),
    newDueAt: z.string().optional(),
    why: z.string().optional(),
  })
  .meta({ id: 'TimerFate' });

/** A timer rescheduled or cancelled by hand. */
export const TimerEditSchema = z
  .object({
    id: z.string(),
    kind: TimerKindSchema,
    action: z.enum(['rescheduled', 'cancelled']),
    dueAt: z.string(),
    newDueAt: z.string().optional(),
    ruleId: z.string().optional(),
  })
  .meta({ id: 'TimerEdit' });

/** The outcome of migrating one order. */
export const MigrationResultSchema = z
  .object({
    fromVersion: z.number().int(),
    toVersion: z.number().int(),
    from: z.string(),
    to: z.string(),
    policy: TimerPolicySchema,
    timers: z.array(TimerFateSchema),
  })
  .meta({ id: 'MigrationResult' });

/** A history entry. */
export const HistoryEntrySchema = z
  .object({
    id: z.string(),
    seq: z.number().int().optional(),
    version: z.number().int().optional(),
    at: z.string(),
    type: z.enum(['created', 'transition', 'data', 'fact', 'event', 'rule_failed', 'migrated', 'timer']),
    from: z.string().optional(),
    to: z.string().optional(),
    actor: ActorSchema,
    reason: ReasonSchema.optional(),
    ruleId: z.string().optional(),
    causedBy: z.string().optional(),
    note: z.string().optional(),
    forced: z.boolean().optional(),
    fact: z.string().optional(),
    event: EventSchema.optional(),
    patch: z.unknown().optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
    /** `migrated`: the fate of every pending timer. */
    timers: z.array(TimerFateSchema).optional(),
    /** `timer`: a pending timer rescheduled or cancelled by hand. */
    timer: TimerEditSchema.optional(),
    /** `GET /orders/:id/history`: the name of the token that acted (its role when it has none). */
    actorName: z.string().optional(),
  })
  .meta({ id: 'HistoryEntry' });

/** One transition applied by a change. */
export const AppliedTransitionSchema = z
  .object({
    orderId: z.string(),
    from: z.string().nullable(),
    to: z.string(),
    actor: ActorSchema,
    ruleId: z.string().optional(),
    forced: z.boolean().optional(),
  })
  .meta({ id: 'AppliedTransition' });

export const DeliveryTypeSchema = z.enum(['email', 'webhook', 'notify']).meta({ id: 'DeliveryType' });
export const DeliveryStatusSchema = z.enum(['pending', 'delivered', 'failed', 'dead']).meta({ id: 'DeliveryStatus' });

/** A transition in a change's answer: `orderId` only when it moved another order than the one changed. */
export const AppliedStepSchema = AppliedTransitionSchema.extend({ orderId: z.string().optional() }).meta({ id: 'AppliedStep' });

/** The answer to every change of an order. */
export const ChangeSchema = z
  .object({
    order: OrderSchema,
    applied: z.array(AppliedStepSchema),
    deliveries: z.array(z.object({ id: z.string(), type: DeliveryTypeSchema, status: DeliveryStatusSchema })),
    /** Migrations only: the target state and every pending timer's fate. */
    migration: MigrationResultSchema.optional(),
  })
  .meta({ id: 'Change' });

/** A transition out of the current state, allowed or blocked with reasons. */
export const AvailableTransitionSchema = z
  .object({
    to: z.string(),
    name: z.string().optional(),
    /** The target's group; `unknown` when the definition names no such state. */
    group: z.union([GroupSchema, z.literal('unknown')]),
    allowed: z.boolean(),
    blocked: z.array(BlockedReasonSchema),
  })
  .meta({ id: 'AvailableTransition' });

export const AvailableTransitionsSchema = z
  .object({ items: z.array(AvailableTransitionSchema), state: z.string(), group: GroupSchema })
  .meta({ id: 'AvailableTransitions' });

/** The webhook event envelope. */
export const EventEnvelopeSchema = z
  .object({
    id: z.string(),
    type: z.string(),
    createdAt: z.string(),
    data: z.looseObject({ order: OrderSchema }),
  })
  .meta({ id: 'EventEnvelope' });

/** A durable timer. */
export const TimerSchema = z
  .object({
    id: z.string(),
    orderId: z.string(),
    kind: z.enum(['timeout', 'time_in_state', 'action']),
    dueAt: z.string(),
    state: z.string(),
    visit: z.number().int(),
    scope: z.enum(['visit', 'order']),
    ruleId: z.string().optional(),
    actionIndex: z.number().int().optional(),
    payload: z.unknown().optional(),
    createdAt: z.string().optional(),
    firedAt: z.string().nullable().optional(),
  })
  .meta({ id: 'Timer' });

/** The log of one rule evaluation. */
export const RuleRunSchema = z
  .object({
    id: z.string(),
    orderId: z.string(),
    workflow: z.string(),
    ruleId: z.string(),
    trigger: z.string(),
    at: z.string(),
    matched: z.boolean(),
    conditions: ConditionTraceSchema.nullable(),
    actions: z.array(
      z.object({
        index: z.number().int(),
        type: z.string(),
        outcome: z.enum(['applied', 'queued', 'scheduled', 'failed', 'skipped']),
        detail: z.string().optional(),
      }),
    ),
  })
  .meta({ id: 'RuleRun' });

/** Everything a transition would cause, storing nothing. */
/** An email of a preview, rendered as it would be sent. */
export const RenderedEmailSchema = z
  .object({ to: z.string(), cc: z.string().nullable(), subject: z.string(), html: z.string(), text: z.string() })
  .meta({ id: 'RenderedEmail' });
/** A webhook of a preview, rendered as it would be sent (credential-like headers redacted). */
export const RenderedWebhookSchema = z
  .object({
    url: z.string(),
    method: z.string(),
    headers: z.record(z.string(), z.string()),
    body: z.string(),
    endpoint: z.string().nullable().optional(),
  })
  .meta({ id: 'RenderedWebhook' });
/** A notification of a preview. */
export const RenderedNotificationSchema = z
  .object({ channel: z.string(), severity: z.string(), message: z.string(), emailTo: z.string().nullable() })
  .meta({ id: 'RenderedNotification' });

export const TransitionPreviewSchema = z
  .object({
    order: OrderSchema,
    applied: z.array(AppliedTransitionSchema),
    deliveries: z.array(
      z.looseObject({
        id: z.string(),
        orderId: z.string(),
        type: DeliveryTypeSchema,
        action: z.unknown(),
        rendered: z.union([RenderedEmailSchema, RenderedWebhookSchema, RenderedNotificationSchema]).optional(),
        renderError: z.string().optional(),
      }),
    ),
    timers: z.array(TimerSchema),
    cancelledTimers: z.array(z.object({ orderId: z.string(), visit: z.number().int() })),
    history: z.array(HistoryEntrySchema.extend({ orderId: z.string() })),
    ruleRuns: z.array(RuleRunSchema),
    createdOrders: z.array(OrderSchema),
    stored: z.literal(false),
  })
  .meta({ id: 'TransitionPreview' });

// requests

/** Body of `POST /orders`. */
export const CreateOrderBody = z
  .strictObject({
    workflow: WorkflowKey,
    kind: Slug.optional(),
    externalRef: z.string().min(1).max(200).nullable().optional(),
    data: JsonObject.optional(),
    state: Slug.optional(),
  })
  .meta({ id: 'CreateOrderBody' });

/** Body of `POST /orders/:id/transitions`. */
export const TransitionBody = z
  .strictObject({
    to: Slug,
    reason: ReasonSchema.optional(),
    note: z.string().max(2000).optional(),
    facts: z
      .union([z.array(Slug).max(50), z.record(Slug, z.union([z.literal(true), z.strictObject({ evidence: z.unknown().optional() })]))])
      .optional(),
    force: z.boolean().optional(),
    expectedVersion: z.number().int().min(1).optional(),
  })
  .meta({ id: 'TransitionBody' });

export const FactBody = z.strictObject({ fact: Slug, evidence: z.unknown().optional() }).meta({ id: 'FactBody' });
export const EventBody = z.strictObject({ type: z.string().min(1).max(200), data: z.unknown().optional() }).meta({ id: 'EventBody' });

/** What a preview may decide under instead of the order's version: a definition, or the stored draft. */
const PreviewUnder = {
  definition: z.unknown().optional().describe("A definition of the order's workflow (e.g. an unsaved draft) to decide under"),
  draft: z.boolean().optional().describe('Decide under the stored draft'),
};
/** Body of `POST /orders/:id/transitions/preview`. */
export const TransitionPreviewBody = TransitionBody.extend(PreviewUnder).meta({ id: 'TransitionPreviewBody' });
/** Body of `POST /orders/:id/events/preview`. */
export const EventPreviewBody = EventBody.extend(PreviewUnder).meta({ id: 'EventPreviewBody' });
/** Body of `POST /orders/:id/facts/preview`. */
export const FactPreviewBody = FactBody.extend(PreviewUnder).meta({ id: 'FactPreviewBody' });

/** Query of `POST /workflows`; strict like every query of a change, so `?publsh=true` is refused, not ignored. */
export const CreateWorkflowQuery = z.strictObject({ publish: boolString.optional() });

/** Filters of `GET /orders`. */
export const OrderQuery = z.object({
  workflow: z.string().max(64).optional(),
  state: z.string().max(64).optional(),
  group: GroupSchema.optional(),
  kind: z.string().max(64).optional(),
  externalRef: z.string().max(200).optional(),
  q: z.string().max(200).optional(),
  createdAfter: TimeBound.optional(),
  createdBefore: TimeBound.optional(),
  limit: Limit,
  cursor: Cursor.optional(),
});

/** Body of `POST /orders/:id/migrate`. */
export const MigrateOrderBody = z
  .strictObject({
    toVersion: z.number().int().min(1),
    stateMap: z.record(Slug, Slug).optional(),
    timers: TimerPolicySchema.optional(),
  })
  .meta({ id: 'MigrateOrderBody' });
/** Body of `POST /workflows/:key/migrate`; `dryRun: true` stores nothing and answers what would happen. */
export const MigrateWorkflowBody = MigrateOrderBody.extend({
  filter: z
    .strictObject({
      state: Slug.optional(),
      fromVersion: z.number().int().min(1).optional(),
      group: GroupSchema.optional(),
      ids: z.array(z.string().min(1).max(64)).max(5000).optional(),
    })
    .optional(),
  limit: z.number().int().min(1).max(5000).optional(),
  dryRun: z.boolean().optional(),
}).meta({ id: 'MigrateWorkflowBody' });
export const MigrateWorkflowResultSchema = z
  .looseObject({
    dryRun: z.boolean(),
    matched: z.number().int(),
    migrated: z.number().int(),
    /** Orders refused one by one (e.g. a terminal order that would leave its group, or one changed meanwhile); an unmapped state refuses the whole request instead. */
    failed: z.array(z.object({ orderId: z.string(), code: z.string(), message: z.string() })),
    /** Per order: the target state and every timer's fate (planned on a dry run). */
    orders: z.array(MigrationResultSchema.extend({ orderId: z.string() })),
  })
  .meta({ id: 'MigrateWorkflowResult' });

// ---------------------------------------------------------------- workflows

export const WorkflowSummarySchema = z
  .object({
    key: z.string(),
    name: z.string(),
    publishedVersion: z.number().int().nullable(),
    hasDraft: z.boolean(),
    counts: z.record(z.string(), z.number().int()),
  })
  .meta({ id: 'WorkflowSummary' });

/** A workflow: published definition, draft and the draft's problems. */
export const WorkflowSchema = z
  .looseObject({
    key: z.string(),
    name: z.string(),
    publishedVersion: z.number().int().nullable(),
    definition: DefinitionSchema.nullable(),
    draft: DefinitionSchema.nullable(),
    problems: z.array(ValidationProblemSchema),
    version: z.number().int().optional(),
  })
  .meta({ id: 'Workflow' });

export const ValidationResultSchema = z
  .object({ ok: z.boolean(), problems: z.array(ValidationProblemSchema) })
  .meta({ id: 'ValidationResult' });

export const WorkflowVersionInfoSchema = z
  .looseObject({
    version: z.number().int(),
    publishedAt: z.string(),
    /** The publishing token's id. */
    publishedBy: z.string().nullable(),
    /** The publishing token's name, when it has one. */
    publisherName: z.string().nullable().optional(),
    orders: z.object({ total: z.number().int(), inFlight: z.number().int() }).optional(),
  })
  .meta({ id: 'WorkflowVersionInfo' });

const OrderIds = z.array(z.string()).describe('The first 100 order ids');

/** What the draft would change for the in-flight orders pinned to one version. */
export const VersionImpactSchema = z
  .object({
    version: z.number().int(),
    inFlight: z.number().int(),
    states: z.array(
      z.object({
        state: z.string(),
        change: z.enum(['removed', 'changed']),
        fields: z.array(z.string()),
        count: z.number().int(),
        orderIds: OrderIds,
      }),
    ),
    timers: z.array(
      z.object({
        policy: TimerPolicySchema,
        kind: TimerKindSchema,
        fate: z.enum(['kept', 'retimed', 'cancelled', 'scheduled']),
        count: z.number().int(),
        orderIds: OrderIds,
      }),
    ),
    rules: z.array(
      z.object({
        ruleId: z.string(),
        name: z.string().optional(),
        change: z.enum(['added', 'removed', 'changed']),
        fields: z.array(z.enum(['trigger', 'conditions', 'actions', 'enabled'])),
        orders: z.number().int(),
        orderIds: OrderIds,
      }),
    ),
    orderIds: OrderIds,
    affected: z.number().int(),
  })
  .meta({ id: 'VersionImpact' });

/** Body of `POST /workflows/:key/impact`: a definition, or `{ definition?, stateMap? }`; empty uses the stored draft. */
export const ImpactBody = z
  .union([
    z.looseObject({ states: z.unknown() }),
    z.strictObject({ definition: z.unknown().optional(), stateMap: z.record(z.string(), z.string()).optional() }),
  ])
  .optional()
  .meta({ id: 'ImpactBody' });

/** What publishing the draft would change for orders in flight, per pinned version. */
export const ImpactSchema = z
  .looseObject({
    draftVersion: z.number().int(),
    versions: z.array(VersionImpactSchema),
    ordersInChangedStates: z.array(z.looseObject({ state: z.string(), count: z.number().int(), change: z.enum(['removed', 'changed']) })),
    timers: z.looseObject({ count: z.number().int() }),
    rules: z.looseObject({ added: z.array(z.string()), removed: z.array(z.string()), changed: z.array(z.string()).optional() }),
  })
  .meta({ id: 'Impact' });

/** The difference between two definitions, as the publish dialog shows it (the UI's; no route answers it). */
export const DefinitionDiffSchema = z.object({
  states: z.object({ added: z.array(z.string()), removed: z.array(z.string()), changed: z.array(z.string()) }),
  transitions: z.object({ added: z.array(z.string()), removed: z.array(z.string()), changed: z.array(z.string()) }),
  rules: z.object({ added: z.array(z.string()), removed: z.array(z.string()), changed: z.array(z.string()) }),
});

// ---------------------------------------------------------------- deliveries, timers, notifications, mailbox

export const DeliverySchema = z
  .object({
    id: z.string(),
    orderId: z.string(),
    workflow: z.string(),
    type: DeliveryTypeSchema,
    status: DeliveryStatusSchema,
    attempts: z.number().int(),
    nextAttemptAt: z.string().nullable(),
    lastError: z.string().nullable(),
    ruleId: z.string().nullable(),
    action: z.unknown(),
    envelope: z.unknown(),
    createdAt: z.string(),
    updatedAt: z.string(),
    deliveredAt: z.string().nullable(),
    /** Who it goes to and what it is about, as they render now. */
    summary: z.object({ to: z.string().optional(), subject: z.string().optional(), error: z.string().optional() }).optional(),
  })
  .meta({ id: 'Delivery' });

export const DeliveryAttemptSchema = z
  .object({
    attempt: z.number().int(),
    at: z.string(),
    durationMs: z.number(),
    outcome: z.enum(['delivered', 'retry', 'failed', 'dead']),
    status: z.number().int().nullable(),
    responseBody: z.string().nullable(),
    error: z.string().nullable(),
  })
  .meta({ id: 'DeliveryAttempt' });

export const DeliveryDetailSchema = DeliverySchema.extend({ attemptLog: z.array(DeliveryAttemptSchema) }).meta({ id: 'DeliveryDetail' });

export const DeliveryQuery = z.object({
  status: DeliveryStatusSchema.optional(),
  type: DeliveryTypeSchema.optional(),
  orderId: Id.optional(),
  limit: Limit,
  cursor: Cursor.optional(),
});

export const RetryDeliveriesBody = z
  .strictObject({
    ids: z.array(Id).min(1).max(1000).optional(),
    status: z.enum(['failed', 'dead']).optional(),
    type: DeliveryTypeSchema.optional(),
  })
  .meta({ id: 'RetryDeliveriesBody' });
export const RetryDeliveryBody = z.strictObject({ force: z.boolean().optional() }).meta({ id: 'RetryDeliveryBody' });

export const TimerQuery = z.object({
  orderId: Id.optional(),
  due_before: TimeBound.optional(),
  status: z.enum(['pending', 'fired', 'cancelled', 'failed']).default('pending'),
  limit: Limit,
  cursor: Cursor.optional(),
});
export const RescheduleTimerBody = z.strictObject({ dueAt: Timestamp }).meta({ id: 'RescheduleTimerBody' });

export const RunQuery = z.object({
  orderId: Id.optional(),
  rule: RuleKey.optional(),
  limit: Limit,
  cursor: Cursor.optional(),
});

export const AutomationStateSchema = z
  .looseObject({ paused: z.boolean(), rules: z.array(z.string()), workflows: z.array(z.string()) })
  .meta({ id: 'AutomationState', description: 'The automation kill switch' });
/** The kill switch's target; strict, so a misspelt parameter is refused rather than pausing everything. */
export const AutomationQuery = z.strictObject({
  workflow: Slug.optional(),
  rule: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,63}:[a-z0-9][a-z0-9_-]{0,63}$/, 'must be WORKFLOW:RULE')
    .describe('One rule of one workflow, `workflow:rule`')
    .optional(),
});

export const NotificationSchema = z
  .object({
    id: z.string(),
    channel: z.string(),
    severity: z.enum(['info', 'warning', 'critical']),
    message: z.string(),
    orderId: z.string().nullable(),
    deliveryId: z.string().nullable(),
    createdAt: z.string(),
    readAt: z.string().nullable(),
    /** Repeats of an alert folded into this one while it stayed unread. */
    count: z.number().int().min(1),
    lastAt: z.string().nullable(),
  })
  .meta({ id: 'Notification' });
export const NotificationQuery = z.object({
  unread: boolString.optional(),
  channel: z.string().max(64).optional(),
  limit: Limit,
  cursor: Cursor.optional(),
});

export const MailboxMessageSchema = z
  .object({
    id: z.string(),
    to: z.string(),
    cc: z.string().nullable(),
    subject: z.string(),
    html: z.string(),
    text: z.string(),
    messageId: z.string(),
    deliveryId: z.string().nullable(),
    createdAt: z.string(),
  })
  .meta({ id: 'MailboxMessage' });
export const MailboxQuery = z.object({ limit: Limit, cursor: Cursor.optional(), deliveryId: Id.optional() });

// ---------------------------------------------------------------- templates and endpoints

export const TemplateSchema = z
  .looseObject({
    key: z.string(),
    subject: z.string(),
    html: z.string(),
    text: z.string().nullable().optional(),
    description: z.string().nullable().optional(),
  })
  .meta({ id: 'Template' });
export const TemplateBody = z
  .strictObject({
    key: z.string().optional(),
    subject: z.string().min(1).max(1000),
    html: z.string().max(200_000),
    text: z.string().max(200_000).nullable().optional(),
    description: z.string().max(2000).nullable().optional(),
  })
  .meta({ id: 'TemplateBody' });
export const TemplatePreviewBody = z
  .strictObject({
    orderId: Id.optional(),
    sample: JsonObject.optional(),
    template: z
      .strictObject({
        subject: z.string().max(1000),
        html: z.string().max(200_000),
        text: z.string().max(200_000).nullable().optional(),
        description: z.string().max(2000).nullable().optional(),
      })
      .optional(),
  })
  .meta({ id: 'TemplatePreviewBody' });
export const RenderedTemplateSchema = z
  .looseObject({ subject: z.string(), html: z.string(), text: z.string() })
  .meta({ id: 'RenderedTemplate' });

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;
/** Extra HTTP headers of an endpoint. */
export const HeadersSchema = z
  .record(
    z.string().regex(HEADER_NAME, 'must be an HTTP header name'),
    z
      .string()
      .max(2000)
      .regex(/^[^\r\n\0]*$/, 'must be one line'),
  )
  .refine((h) => Object.keys(h).length <= 50, 'at most 50 headers');
// Core is compiled without DOM or Node typings; URL is a global of every runtime it runs on.
const URLParser = (globalThis as unknown as { URL: new (u: string) => { protocol: string; username: string; password: string } }).URL;
/** A webhook target URL: http(s), no credentials. */
export const WebhookUrl = z
  .string()
  .max(2000)
  .refine((u) => {
    try {
      const p = new URLParser(u);
      return (p.protocol === 'http:' || p.protocol === 'https:') && p.username === '' && p.password === '';
    } catch {
      return false;
    }
  }, 'must be an http(s) URL without credentials');
/** A Standard Webhooks secret (`whsec_` + base64); the engine checks the decoded length. */
export const WebhookSecret = z.string().regex(/^whsec_[A-Za-z0-9+/=]{22,}$/, 'must be whsec_ followed by base64 of at least 16 bytes');

export const EndpointBody = z
  .strictObject({
    key: Slug.optional(),
    url: WebhookUrl,
    secret: WebhookSecret.optional(),
    headers: HeadersSchema.optional(),
    enabled: z.boolean().optional(),
  })
  .meta({ id: 'EndpointBody' });
export const EndpointSchema = z
  .object({
    key: z.string(),
    url: z.string(),
    headers: z.record(z.string(), z.string()),
    enabled: z.boolean(),
    secretSet: z.boolean(),
    consecutiveFailures: z.number().int(),
    disabledReason: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Endpoint' });

// ---------------------------------------------------------------- session, tokens, stats

export const SessionBody = z.strictObject({ token: z.string().min(1).max(512) }).meta({ id: 'SessionBody' });
export const SessionSchema = z
  .object({ role: RoleSchema, tokenId: z.string(), via: z.enum(['bearer', 'cookie']).optional() })
  .meta({ id: 'Session' });

export const CreateTokenBody = z
  .strictObject({ name: z.string().trim().min(1).max(200), role: RoleSchema, expiresAt: Timestamp.nullable().optional() })
  .meta({ id: 'CreateTokenBody' });
export const TokenInfoSchema = z
  .looseObject({
    id: z.string(),
    name: z.string().nullable(),
    role: RoleSchema,
    createdAt: z.string(),
    lastUsedAt: z.string().nullable().optional(),
    expiresAt: z.string().nullable().optional(),
  })
  .meta({ id: 'TokenInfo' });
export const CreatedTokenSchema = TokenInfoSchema.extend({ token: z.string() }).meta({ id: 'CreatedToken' });

export const StatsSchema = z
  .object({
    groups: z.record(z.string(), z.number().int()),
    states: z.array(z.looseObject({ state: z.string(), group: GroupSchema, count: z.number().int() })),
    cancellations: z.array(z.object({ initiator: z.string(), code: z.string(), count: z.number().int() })),
    medianTimeInState: z.array(z.looseObject({ state: z.string(), ms: z.number() })),
    recentFailures: z.array(DeliverySchema),
  })
  .meta({ id: 'Stats' });

export const HealthSchema = z.looseObject({ status: z.string() }).meta({ id: 'Health' });

/** A page of a list resource. */
export const pageOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), nextCursor: z.string().nullable() });

// ---------------------------------------------------------------- routes

/** A method of the API. */
export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** One answer of a route: a JSON body, another media type, or no body. */
export interface ApiResponse {
  description: string;
  schema?: z.ZodType;
  /** @default 'application/json' when a schema is given */
  contentType?: string;
  /** Response headers it sets (`ETag`, `Location`, `Idempotent-Replayed`, `Retry-After`). */
  headers?: readonly ResponseHeader[];
}

/** Request headers a route reads. */
export type RequestHeader = 'Idempotency-Key' | 'If-Match' | 'If-None-Match' | 'Last-Event-ID';
/** Response headers a route sets. */
export type ResponseHeader = 'ETag' | 'Location' | 'Idempotent-Replayed' | 'Allow';

/** One route of the HTTP API. */
export interface ApiRoute {
  operationId: string;
  method: HttpMethod;
  /** OpenAPI path, e.g. `/api/v1/orders/{id}`. */
  path: string;
  summary: string;
  tag: string;
  /**
   * Who may call it: a role (admin holds all), several roles (any one of them), `anonymous`
   * (no token), or `token` (any role).
   */
  role: (typeof ROLES)[number] | readonly (typeof ROLES)[number][] | 'anonymous' | 'token';
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** The body may be left out. */
  bodyOptional?: boolean;
  /** Media types the body is accepted in. @default ['application/json'] */
  bodyTypes?: readonly string[];
  headers?: readonly RequestHeader[];
  responses: Record<number, ApiResponse>;
  /** Problem codes besides the ones every route of its kind can answer. */
  problems?: readonly ErrorCode[];
}

const idPath = z.object({ id: Id });
const keyPath = z.object({ key: WorkflowKey });
const slugPath = z.object({ key: Slug });
const ok = (schema: z.ZodType, description = 'OK', headers?: readonly ResponseHeader[]): ApiResponse => ({
  description,
  schema,
  ...(headers ? { headers } : {}),
});
const noContent: ApiResponse = { description: 'Done; no body' };
const V1 = '/api/v1';

/** Every route of the HTTP API, the source of the OpenAPI document and of the client. */
export const API_ROUTES: readonly ApiRoute[] = [
  // operations
  {
    operationId: 'healthz',
    method: 'get',
    path: '/healthz',
    tag: 'operations',
    summary: 'Process is up',
    role: 'anonymous',
    responses: { 200: ok(HealthSchema) },
  },
  {
    operationId: 'readyz',
    method: 'get',
    path: '/readyz',
    tag: 'operations',
    summary: 'Database reachable and migrated',
    role: 'anonymous',
    responses: { 200: ok(HealthSchema), 503: { description: 'Not ready', schema: HealthSchema } },
  },
  {
    operationId: 'metrics',
    method: 'get',
    path: '/metrics',
    tag: 'operations',
    summary: 'Prometheus metrics (needs a token of any role unless ORDERFLOW_METRICS_PUBLIC=true)',
    role: 'token',
    responses: { 200: { description: 'Prometheus text exposition', schema: z.string(), contentType: 'text/plain' } },
  },
  {
    operationId: 'getOpenApi',
    method: 'get',
    path: '/docs/openapi.json',
    tag: 'operations',
    summary: 'This OpenAPI 3.1 document',
    role: 'anonymous',
    responses: { 200: ok(JsonObject) },
  },
  // session
  {
    operationId: 'signIn',
    method: 'post',
    path: `${V1}/session`,
    tag: 'session',
    summary: 'Sign in with a token (sets an HttpOnly session cookie for the web UI)',
    role: 'anonymous',
    body: SessionBody,
    responses: { 200: ok(SessionSchema) },
    problems: ['unauthorized'],
  },
  {
    operationId: 'getSession',
    method: 'get',
    path: `${V1}/session`,
    tag: 'session',
    summary: 'Who am I',
    role: 'viewer',
    responses: { 200: ok(SessionSchema) },
  },
  {
    operationId: 'signOut',
    method: 'delete',
    path: `${V1}/session`,
    tag: 'session',
    summary: 'Sign out',
    role: 'anonymous',
    responses: { 204: noContent },
  },
  // tokens
  {
    operationId: 'createToken',
    method: 'post',
    path: `${V1}/tokens`,
    tag: 'tokens',
    summary: 'Create an API token; its secret is answered this once',
    role: 'admin',
    body: CreateTokenBody,
    responses: { 201: ok(CreatedTokenSchema, 'Created', ['Location']) },
  },
  {
    operationId: 'listTokens',
    method: 'get',
    path: `${V1}/tokens`,
    tag: 'tokens',
    summary: 'List tokens that are not revoked (never their secrets)',
    role: 'admin',
    query: z.object({ limit: Limit, cursor: Cursor.optional() }),
    responses: { 200: ok(pageOf(TokenInfoSchema)) },
  },
  {
    operationId: 'revokeToken',
    method: 'delete',
    path: `${V1}/tokens/{id}`,
    tag: 'tokens',
    summary: 'Revoke a token at once (409 for the last valid admin token)',
    role: 'admin',
    params: idPath,
    responses: { 204: noContent },
    problems: ['conflict'],
  },
  // workflows
  {
    operationId: 'listWorkflows',
    method: 'get',
    path: `${V1}/workflows`,
    tag: 'workflows',
    summary: 'List workflows with order counts per group',
    role: 'viewer',
    responses: { 200: ok(pageOf(WorkflowSummarySchema)) },
  },
  {
    operationId: 'createWorkflow',
    method: 'post',
    path: `${V1}/workflows`,
    tag: 'workflows',
    summary: 'Create a workflow from a definition (the draft; ?publish=true publishes at once)',
    role: 'designer',
    query: CreateWorkflowQuery,
    body: DefinitionSchema,
    responses: { 201: ok(WorkflowSchema, 'Created', ['Location']) },
    problems: ['conflict'],
  },
  {
    operationId: 'getWorkflow',
    method: 'get',
    path: `${V1}/workflows/{key}`,
    tag: 'workflows',
    summary: 'Get a workflow (?version=N, ?draft=true)',
    role: 'viewer',
    params: keyPath,
    query: z.object({ version: z.coerce.number().int().min(1).optional(), draft: boolString.optional() }),
    responses: { 200: ok(WorkflowSchema) },
  },
  {
    operationId: 'saveDraft',
    method: 'put',
    path: `${V1}/workflows/{key}/draft`,
    tag: 'workflows',
    summary: 'Replace the draft; answers the stored draft and its problems',
    role: 'designer',
    params: keyPath,
    body: DefinitionSchema,
    responses: { 200: ok(WorkflowSchema) },
  },
  {
    operationId: 'validateWorkflow',
    method: 'post',
    path: `${V1}/workflows/{key}/validate`,
    tag: 'workflows',
    summary: 'Validate a definition without storing it (schema problems are reported, not refused)',
    role: 'viewer',
    params: keyPath,
    body: z.unknown().describe('A workflow definition (see Definition); any JSON is reported on, not refused'),
    responses: { 200: ok(ValidationResultSchema) },
  },
  {
    operationId: 'publishWorkflow',
    method: 'post',
    path: `${V1}/workflows/{key}/publish`,
    tag: 'workflows',
    summary: 'Publish the draft as a new immutable version (422 when it has errors)',
    role: 'designer',
    params: keyPath,
    responses: { 200: ok(WorkflowSchema) },
    problems: ['conflict'],
  },
  {
    operationId: 'listWorkflowVersions',
    method: 'get',
    path: `${V1}/workflows/{key}/versions`,
    tag: 'workflows',
    summary: 'List published versions with publisher and time',
    role: 'viewer',
    params: keyPath,
    responses: { 200: ok(pageOf(WorkflowVersionInfoSchema)) },
  },
  {
    operationId: 'discardDraft',
    method: 'delete',
    path: `${V1}/workflows/{key}/draft`,
    tag: 'workflows',
    summary: 'Discard the draft (the published version stays)',
    role: 'designer',
    params: keyPath,
    responses: { 204: noContent },
    problems: ['conflict'],
  },
  {
    operationId: 'workflowImpact',
    method: 'post',
    path: `${V1}/workflows/{key}/impact`,
    tag: 'workflows',
    summary: 'What publishing the draft would change for orders in flight, per pinned version',
    role: 'viewer',
    params: keyPath,
    body: ImpactBody,
    responses: { 200: ok(ImpactSchema) },
    problems: ['conflict'],
  },
  {
    operationId: 'migrateWorkflowOrders',
    method: 'post',
    path: `${V1}/workflows/{key}/migrate`,
    tag: 'workflows',
    summary: 'Migrate orders in bulk to a newer version (dryRun: true stores nothing); an unmapped state refuses them all (422)',
    role: 'operator',
    params: keyPath,
    body: MigrateWorkflowBody,
    responses: { 200: ok(MigrateWorkflowResultSchema) },
  },
  // orders
  {
    operationId: 'createOrder',
    method: 'post',
    path: `${V1}/orders`,
    tag: 'orders',
    summary: 'Create an order (honours Idempotency-Key)',
    role: 'operator',
    body: CreateOrderBody,
    headers: ['Idempotency-Key'],
    responses: {
      201: ok(ChangeSchema, 'Created', ['Location', 'ETag', 'Idempotent-Replayed']),
    },
    problems: ['idempotency_conflict', 'transition_not_allowed', 'conflict', 'not_found'],
  },
  {
    operationId: 'listOrders',
    method: 'get',
    path: `${V1}/orders`,
    tag: 'orders',
    summary: 'List orders, newest first',
    role: 'viewer',
    query: OrderQuery,
    responses: { 200: ok(pageOf(OrderSchema)) },
  },
  {
    operationId: 'getOrder',
    method: 'get',
    path: `${V1}/orders/{id}`,
    tag: 'orders',
    summary: 'Get an order (ETag: "<version>"; If-None-Match answers 304)',
    role: 'viewer',
    params: idPath,
    headers: ['If-None-Match'],
    responses: { 200: ok(OrderSchema, 'OK', ['ETag']), 304: { description: 'Not modified', headers: ['ETag'] } },
  },
  {
    operationId: 'listOrderTransitions',
    method: 'get',
    path: `${V1}/orders/{id}/transitions`,
    tag: 'orders',
    summary: 'Every transition out of the current state, allowed or blocked with reasons',
    role: 'viewer',
    params: idPath,
    responses: { 200: ok(AvailableTransitionsSchema) },
  },
  {
    operationId: 'transitionOrder',
    method: 'post',
    path: `${V1}/orders/{id}/transitions`,
    tag: 'orders',
    summary: 'Move the order (If-Match or expectedVersion; Idempotency-Key)',
    role: 'operator',
    params: idPath,
    body: TransitionBody,
    headers: ['Idempotency-Key', 'If-Match'],
    responses: { 200: ok(ChangeSchema, 'OK', ['ETag', 'Idempotent-Replayed']) },
    problems: ['transition_not_allowed', 'reason_required', 'criteria_unmet', 'version_conflict', 'idempotency_conflict'],
  },
  {
    operationId: 'previewTransition',
    method: 'post',
    path: `${V1}/orders/{id}/transitions/preview`,
    tag: 'orders',
    summary: 'Everything a transition would do, storing nothing (optionally under a draft)',
    role: 'viewer',
    params: idPath,
    body: TransitionPreviewBody,
    responses: { 200: ok(TransitionPreviewSchema) },
    problems: ['transition_not_allowed', 'reason_required', 'criteria_unmet'],
  },
  {
    operationId: 'previewEvent',
    method: 'post',
    path: `${V1}/orders/{id}/events/preview`,
    tag: 'orders',
    summary: 'Everything an external event would do, storing nothing (optionally under a draft)',
    role: 'viewer',
    params: idPath,
    body: EventPreviewBody,
    responses: { 200: ok(TransitionPreviewSchema) },
  },
  {
    operationId: 'previewFact',
    method: 'post',
    path: `${V1}/orders/{id}/facts/preview`,
    tag: 'orders',
    summary: 'Everything recording a fact would do, storing nothing (optionally under a draft)',
    role: 'viewer',
    params: idPath,
    body: FactPreviewBody,
    responses: { 200: ok(TransitionPreviewSchema) },
  },
  {
    operationId: 'patchOrderData',
    method: 'patch',
    path: `${V1}/orders/{id}/data`,
    tag: 'orders',
    summary: 'JSON merge patch of the order data',
    role: 'operator',
    params: idPath,
    body: JsonObject,
    bodyTypes: ['application/merge-patch+json', 'application/json'],
    headers: ['Idempotency-Key', 'If-Match'],
    responses: { 200: ok(ChangeSchema, 'OK', ['ETag', 'Idempotent-Replayed']) },
    problems: ['version_conflict', 'idempotency_conflict', 'transition_not_allowed'],
  },
  {
    operationId: 'recordFact',
    method: 'post',
    path: `${V1}/orders/{id}/facts`,
    tag: 'orders',
    summary: 'Record a completion criterion',
    role: 'operator',
    params: idPath,
    body: FactBody,
    headers: ['Idempotency-Key', 'If-Match'],
    responses: { 200: ok(ChangeSchema, 'OK', ['ETag', 'Idempotent-Replayed']) },
    problems: ['version_conflict', 'idempotency_conflict', 'transition_not_allowed'],
  },
  {
    operationId: 'postEvent',
    method: 'post',
    path: `${V1}/orders/{id}/events`,
    tag: 'orders',
    summary: 'Post an external event; runs event_received rules',
    role: 'operator',
    params: idPath,
    body: EventBody,
    headers: ['Idempotency-Key', 'If-Match'],
    responses: { 200: ok(ChangeSchema, 'OK', ['ETag', 'Idempotent-Replayed']) },
    problems: ['version_conflict', 'idempotency_conflict', 'transition_not_allowed'],
  },
  {
    operationId: 'orderHistory',
    method: 'get',
    path: `${V1}/orders/{id}/history`,
    tag: 'orders',
    summary: 'The order history (append-only)',
    role: 'viewer',
    params: idPath,
    responses: { 200: ok(pageOf(HistoryEntrySchema)) },
  },
  {
    operationId: 'orderDeliveries',
    method: 'get',
    path: `${V1}/orders/{id}/deliveries`,
    tag: 'orders',
    summary: 'Deliveries of the order',
    role: 'viewer',
    params: idPath,
    responses: { 200: ok(pageOf(DeliverySchema)) },
  },
  {
    operationId: 'migrateOrder',
    method: 'post',
    path: `${V1}/orders/{id}/migrate`,
    tag: 'orders',
    summary: 'Move the order to a newer workflow version',
    role: 'operator',
    params: idPath,
    body: MigrateOrderBody,
    headers: ['Idempotency-Key', 'If-Match'],
    responses: { 200: ok(ChangeSchema, 'OK', ['ETag', 'Idempotent-Replayed']) },
    problems: ['version_conflict', 'idempotency_conflict', 'transition_not_allowed', 'conflict'],
  },
  // templates
  {
    operationId: 'listTemplates',
    method: 'get',
    path: `${V1}/templates`,
    tag: 'templates',
    summary: 'List email templates',
    role: 'viewer',
    responses: { 200: ok(pageOf(TemplateSchema)) },
  },
  {
    operationId: 'getTemplate',
    method: 'get',
    path: `${V1}/templates/{key}`,
    tag: 'templates',
    summary: 'Get a template',
    role: 'viewer',
    params: slugPath,
    responses: { 200: ok(TemplateSchema) },
  },
  {
    operationId: 'saveTemplate',
    method: 'put',
    path: `${V1}/templates/{key}`,
    tag: 'templates',
    summary: 'Create or replace a template',
    role: 'designer',
    params: slugPath,
    body: TemplateBody,
    responses: { 200: ok(TemplateSchema, 'Replaced'), 201: ok(TemplateSchema, 'Created', ['Location']) },
  },
  {
    operationId: 'deleteTemplate',
    method: 'delete',
    path: `${V1}/templates/{key}`,
    tag: 'templates',
    summary: 'Delete a template (409 while a workflow uses it)',
    role: 'designer',
    params: slugPath,
    responses: { 204: noContent },
    problems: ['conflict'],
  },
  {
    operationId: 'previewTemplate',
    method: 'post',
    path: `${V1}/templates/{key}/preview`,
    tag: 'templates',
    summary: 'Render a template against an order or sample data',
    role: 'viewer',
    params: slugPath,
    body: TemplatePreviewBody,
    bodyOptional: true,
    responses: { 200: ok(RenderedTemplateSchema) },
  },
  // deliveries
  {
    operationId: 'listDeliveries',
    method: 'get',
    path: `${V1}/deliveries`,
    tag: 'deliveries',
    summary: 'List deliveries, newest first',
    role: 'viewer',
    query: DeliveryQuery,
    responses: { 200: ok(pageOf(DeliverySchema)) },
  },
  {
    operationId: 'getDelivery',
    method: 'get',
    path: `${V1}/deliveries/{id}`,
    tag: 'deliveries',
    summary: 'A delivery with every attempt',
    role: 'viewer',
    params: idPath,
    responses: { 200: ok(DeliveryDetailSchema) },
  },
  {
    operationId: 'retryDelivery',
    method: 'post',
    path: `${V1}/deliveries/{id}/retry`,
    tag: 'deliveries',
    summary: 'Retry one delivery now (a delivered one only with force, admin)',
    role: 'operator',
    params: idPath,
    body: RetryDeliveryBody,
    bodyOptional: true,
    responses: { 200: ok(DeliverySchema) },
    problems: ['conflict'],
  },
  {
    operationId: 'retryDeliveries',
    method: 'post',
    path: `${V1}/deliveries/retry`,
    tag: 'deliveries',
    summary: 'Retry failed or dead deliveries in bulk',
    role: 'operator',
    body: RetryDeliveriesBody,
    responses: { 200: ok(z.looseObject({ retried: z.number().int() })) },
  },
  // endpoints
  {
    operationId: 'listEndpoints',
    method: 'get',
    path: `${V1}/endpoints`,
    tag: 'endpoints',
    summary: 'List webhook endpoints',
    role: 'viewer',
    responses: { 200: ok(pageOf(EndpointSchema)) },
  },
  {
    operationId: 'createEndpoint',
    method: 'post',
    path: `${V1}/endpoints`,
    tag: 'endpoints',
    summary: 'Create a webhook endpoint',
    role: 'designer',
    body: EndpointBody,
    responses: { 201: ok(EndpointSchema, 'Created', ['Location']) },
    problems: ['conflict'],
  },
  {
    operationId: 'getEndpoint',
    method: 'get',
    path: `${V1}/endpoints/{key}`,
    tag: 'endpoints',
    summary: 'Get an endpoint (its secret and credential headers are never returned)',
    role: 'viewer',
    params: slugPath,
    responses: { 200: ok(EndpointSchema) },
  },
  {
    operationId: 'saveEndpoint',
    method: 'put',
    path: `${V1}/endpoints/{key}`,
    tag: 'endpoints',
    summary: 'Create or replace an endpoint',
    role: 'designer',
    params: slugPath,
    body: EndpointBody,
    responses: { 200: ok(EndpointSchema, 'Replaced'), 201: ok(EndpointSchema, 'Created', ['Location']) },
  },
  {
    operationId: 'deleteEndpoint',
    method: 'delete',
    path: `${V1}/endpoints/{key}`,
    tag: 'endpoints',
    summary: 'Delete an endpoint (409 while a workflow uses it)',
    role: 'designer',
    params: slugPath,
    responses: { 204: noContent },
    problems: ['conflict'],
  },
  {
    operationId: 'testEndpoint',
    method: 'post',
    path: `${V1}/endpoints/{key}/test`,
    tag: 'endpoints',
    summary: 'Send a signed sample event',
    role: 'designer',
    params: slugPath,
    responses: { 200: ok(z.looseObject({ ok: z.boolean() })) },
  },
  // timers
  {
    operationId: 'listTimers',
    method: 'get',
    path: `${V1}/timers`,
    tag: 'timers',
    summary: 'Pending timers, soonest first',
    role: 'viewer',
    query: TimerQuery,
    responses: { 200: ok(pageOf(TimerSchema)) },
  },
  {
    operationId: 'rescheduleTimer',
    method: 'patch',
    path: `${V1}/timers/{id}`,
    tag: 'timers',
    summary: 'Reschedule a pending timer',
    role: 'operator',
    params: idPath,
    body: RescheduleTimerBody,
    responses: { 200: ok(TimerSchema) },
    problems: ['conflict'],
  },
  {
    operationId: 'cancelTimer',
    method: 'delete',
    path: `${V1}/timers/{id}`,
    tag: 'timers',
    summary: 'Cancel a pending timer',
    role: 'operator',
    params: idPath,
    responses: { 204: noContent },
    problems: ['conflict'],
  },
  // runs and automation
  {
    operationId: 'listRuns',
    method: 'get',
    path: `${V1}/runs`,
    tag: 'automation',
    summary: 'Rule execution log, newest first',
    role: 'viewer',
    query: RunQuery,
    responses: { 200: ok(pageOf(RuleRunSchema)) },
  },
  {
    operationId: 'getAutomation',
    method: 'get',
    path: `${V1}/automation`,
    tag: 'automation',
    summary: 'The automation kill switch',
    role: 'viewer',
    responses: { 200: ok(AutomationStateSchema) },
  },
  {
    operationId: 'pauseAutomation',
    method: 'post',
    path: `${V1}/automation/pause`,
    tag: 'automation',
    summary: 'Pause automation (global, ?workflow= or ?rule=)',
    role: 'admin',
    query: AutomationQuery,
    responses: { 200: ok(AutomationStateSchema) },
    problems: ['not_found'],
  },
  {
    operationId: 'resumeAutomation',
    method: 'post',
    path: `${V1}/automation/resume`,
    tag: 'automation',
    summary: 'Resume automation (global, ?workflow= or ?rule=)',
    role: 'admin',
    query: AutomationQuery,
    responses: { 200: ok(AutomationStateSchema) },
    problems: ['not_found'],
  },
  // notifications and mailbox
  {
    operationId: 'listNotifications',
    method: 'get',
    path: `${V1}/notifications`,
    tag: 'notifications',
    summary: 'Notifications, unread first',
    role: 'viewer',
    query: NotificationQuery,
    responses: { 200: ok(pageOf(NotificationSchema)) },
  },
  {
    operationId: 'markNotificationRead',
    method: 'post',
    path: `${V1}/notifications/{id}/read`,
    tag: 'notifications',
    summary: 'Mark a notification read (for every user: read state is global)',
    role: ['operator', 'designer'],
    params: idPath,
    responses: { 200: ok(NotificationSchema) },
  },
  {
    operationId: 'notificationStream',
    method: 'get',
    path: `${V1}/notifications/stream`,
    tag: 'notifications',
    summary: 'Live notifications (Server-Sent Events; each `data:` line is a Notification)',
    role: 'viewer',
    headers: ['Last-Event-ID'],
    responses: { 200: { description: 'An event stream', schema: z.string(), contentType: 'text/event-stream' } },
  },
  {
    operationId: 'listMailbox',
    method: 'get',
    path: `${V1}/mailbox`,
    tag: 'mailbox',
    summary: 'The built-in mailbox, newest first',
    role: 'viewer',
    query: MailboxQuery,
    responses: { 200: ok(pageOf(MailboxMessageSchema)) },
  },
  {
    operationId: 'getMail',
    method: 'get',
    path: `${V1}/mailbox/{id}`,
    tag: 'mailbox',
    summary: 'One message of the built-in mailbox',
    role: 'viewer',
    params: idPath,
    responses: { 200: ok(MailboxMessageSchema) },
  },
  {
    operationId: 'stats',
    method: 'get',
    path: `${V1}/stats`,
    tag: 'operations',
    summary: 'Counts per state and group, cancellation reasons, median time in state',
    role: 'viewer',
    query: z.object({ workflow: WorkflowKey.optional() }),
    responses: { 200: ok(StatsSchema) },
    problems: ['not_found'],
  },
];

/**
 * Every status a route can answer: its own, and the problem statuses that
 * follow from what it takes (a body, parameters, a role).
 */
export function routeProblemCodes(route: ApiRoute): ErrorCode[] {
  // Node itself answers these before any route runs: malformed requests, oversized headers, slow clients.
  const codes = new Set<ErrorCode>(['bad_request', 'headers_too_large', 'request_timeout', 'method_not_allowed', 'rate_limited']);
  if (route.role !== 'anonymous') {
    codes.add('unauthorized');
    if (route.role !== 'token' && route.role !== 'viewer') codes.add('forbidden');
  }
  // Cookie-authenticated mutations need the CSRF header.
  if (route.method !== 'get' && route.role !== 'anonymous') codes.add('forbidden');
  if (route.params || route.query || route.body) codes.add('validation_failed');
  if (route.params) codes.add('not_found');
  if (route.body || route.method !== 'get') {
    codes.add('payload_too_large');
    codes.add('unsupported_media_type');
  }
  for (const c of route.problems ?? []) codes.add(c);
  return [...codes];
}

/** The problem statuses of a route, with the codes each can carry. */
export function routeProblemStatuses(route: ApiRoute): Map<number, ErrorCode[]> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of routeProblemCodes(route)) {
    const statuses = code === 'version_conflict' ? [409, 412] : code === 'bad_request' ? [400, 414] : [ERROR_STATUS[code]];
    for (const s of statuses) byStatus.set(s, [...(byStatus.get(s) ?? []), code]);
  }
  return byStatus;
}

// ---------------------------------------------------------------- types

export type ProblemDocument = z.infer<typeof ProblemSchema>;
export type ValidationProblem = z.infer<typeof ValidationProblemSchema>;
export type Change = z.infer<typeof ChangeSchema>;
export type AvailableTransition = z.infer<typeof AvailableTransitionSchema>;
export type AvailableTransitions = z.infer<typeof AvailableTransitionsSchema>;
export type TransitionPreview = z.infer<typeof TransitionPreviewSchema>;
export type RenderedEmail = z.infer<typeof RenderedEmailSchema>;
export type RenderedWebhook = z.infer<typeof RenderedWebhookSchema>;
export type CreateOrderInput = z.input<typeof CreateOrderBody>;
export type TransitionInput = z.input<typeof TransitionBody>;
export type FactInput = z.input<typeof FactBody>;
export type EventInput = z.input<typeof EventBody>;
export type OrderFilter = Partial<z.input<typeof OrderQuery>>;
export type MigrateOrderInput = z.input<typeof MigrateOrderBody>;
export type MigrateWorkflowInput = z.input<typeof MigrateWorkflowBody>;
export type MigrateWorkflowResult = z.infer<typeof MigrateWorkflowResultSchema>;
export type WorkflowSummary = z.infer<typeof WorkflowSummarySchema>;
export type WorkflowView = z.infer<typeof WorkflowSchema>;
export type WorkflowValidation = z.infer<typeof ValidationResultSchema>;
export type WorkflowVersionInfo = z.infer<typeof WorkflowVersionInfoSchema>;
export type Impact = z.infer<typeof ImpactSchema>;
export type ImpactInput = z.input<typeof ImpactBody>;
export type TransitionPreviewInput = z.input<typeof TransitionPreviewBody>;
export type EventPreviewInput = z.input<typeof EventPreviewBody>;
export type FactPreviewInput = z.input<typeof FactPreviewBody>;
export type DefinitionDiff = z.infer<typeof DefinitionDiffSchema>;
export type Delivery = z.infer<typeof DeliverySchema>;
export type DeliveryType = z.infer<typeof DeliveryTypeSchema>;
export type DeliveryStatus = z.infer<typeof DeliveryStatusSchema>;
export type DeliveryAttempt = z.infer<typeof DeliveryAttemptSchema>;
export type DeliveryDetail = z.infer<typeof DeliveryDetailSchema>;
export type DeliveryFilter = Partial<z.input<typeof DeliveryQuery>>;
export type RetryDeliveriesInput = z.input<typeof RetryDeliveriesBody>;
export type TimerInfo = z.infer<typeof TimerSchema>;
export type TimerFilter = Partial<z.input<typeof TimerQuery>>;
export type RuleRunInfo = z.infer<typeof RuleRunSchema>;
export type RunFilter = Partial<z.input<typeof RunQuery>>;
export type AutomationState = z.infer<typeof AutomationStateSchema>;
export type AutomationTarget = z.input<typeof AutomationQuery>;
export type Notification = z.infer<typeof NotificationSchema>;
export type NotificationFilter = Partial<z.input<typeof NotificationQuery>>;
export type MailboxMessage = z.infer<typeof MailboxMessageSchema>;
export type Template = z.infer<typeof TemplateSchema>;
export type TemplateInput = z.input<typeof TemplateBody>;
export type TemplatePreviewInput = z.input<typeof TemplatePreviewBody>;
export type RenderedTemplate = z.infer<typeof RenderedTemplateSchema>;
export type Endpoint = z.infer<typeof EndpointSchema>;
export type EndpointInput = z.input<typeof EndpointBody>;
export type Session = z.infer<typeof SessionSchema>;
export type TokenInfo = z.infer<typeof TokenInfoSchema>;
export type CreatedToken = z.infer<typeof CreatedTokenSchema>;
export type CreateTokenInput = z.input<typeof CreateTokenBody>;
export type Stats = z.infer<typeof StatsSchema>;
/** A page of a list resource. */
export interface ListPage<T> {
  items: T[];
  nextCursor: string | null;
}
