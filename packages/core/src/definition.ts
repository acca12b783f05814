import { z } from 'zod';
import { isDuration } from './duration.js';

/** The four fixed stage groups, in order (SPEC §1.1). */
export const GROUPS = ['new', 'processing', 'cancelled', 'completed'] as const;
/** A stage group key. */
export type Group = (typeof GROUPS)[number];
/** Groups an order never leaves. */
export const TERMINAL_GROUPS: readonly Group[] = ['cancelled', 'completed'];
/** True for `cancelled` and `completed`. */
export const isTerminalGroup = (g: string): boolean => g === 'cancelled' || g === 'completed';
/** Human labels of the groups. */
export const GROUP_LABELS: Record<Group, string> = {
  new: 'New',
  processing: 'Processing',
  cancelled: 'Cancelled',
  completed: 'Completed',
};

/** The built-in order kinds. */
export const BUILTIN_KINDS = ['order', 'subscription', 'reservation', 'service_request'] as const;
/** Built-in cancellation reasons by initiator (SPEC §1.6). */
export const BUILTIN_REASONS = {
  customer: ['payment_timeout', 'customer_request', 'refund_partial', 'refund_full'],
  provider: ['out_of_stock', 'delivery_failed', 'operational_issue'],
} as const;
/** Built-in completion criteria (SPEC §1.7). */
export const BUILTIN_CRITERIA = ['delivered', 'service_provided', 'customer_confirmed'] as const;
/** The four API roles (SPEC §5). */
export const ROLES = ['admin', 'designer', 'operator', 'viewer'] as const;
/** An API role. */
export type Role = (typeof ROLES)[number];

const slug = z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'must be a slug: lowercase letter, then lowercase letters, digits or _ (max 64)');
const ruleId = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be a slug of lowercase letters, digits, _ or - (max 64)');
const duration = z
  .string()
  .max(64)
  .refine(isDuration, 'must be a duration such as 30s, 15m, 2h, 1d, 1w or PT2H, of at most 100 years (5214w)');
const shortText = z.string().max(200);
const longText = z.string().max(5000);

/** A cancellation reason: who initiated it and a code. */
export const ReasonSchema = z
  .object({
    initiator: z.enum(['customer', 'provider']),
    code: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'must be a slug'),
    note: z.string().max(2000).optional(),
    refund: z
      .object({
        amount: z.number().finite().nonnegative(),
        currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as EUR'),
      })
      .strict()
      .optional(),
  })
  .strict();
/** A cancellation reason. */
export type Reason = z.infer<typeof ReasonSchema>;

const SHORTHAND_KEYS = ['new_state', 'old_state', 'new_group', 'old_group', 'kind', 'event', 'actor_type'] as const;
/** Keys allowed in the shorthand condition form. */
export type ShorthandKey = (typeof SHORTHAND_KEYS)[number];
/** Comparison operators of the full condition form. */
export const CONDITION_OPS = ['eq', 'neq', 'in', 'nin', 'gt', 'gte', 'lt', 'lte', 'contains', 'startsWith', 'exists'] as const;
/** A comparison operator. */
export type ConditionOp = (typeof CONDITION_OPS)[number];

/** A condition (SPEC §2.2): shorthand equalities or the nested full form. */
export type Condition =
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition }
  | { path: string; op: ConditionOp; value?: unknown }
  | Partial<Record<ShorthandKey, string | string[]>>;

const shorthandValue = z.union([z.string().max(200), z.array(z.string().max(200)).max(100)]);
const ShorthandSchema = z.strictObject(
  Object.fromEntries(SHORTHAND_KEYS.map((k) => [k, shorthandValue.optional()])) as Record<
    ShorthandKey,
    z.ZodOptional<typeof shorthandValue>
  >,
);

/** Schema of a condition, recursive. */
export const ConditionSchema: z.ZodType<Condition> = z.lazy(() =>
  z.union([
    z.strictObject({ all: z.array(ConditionSchema).max(100) }),
    z.strictObject({ any: z.array(ConditionSchema).max(100) }),
    z.strictObject({ not: ConditionSchema }),
    z.strictObject({
      path: z.string().min(1).max(200),
      op: z.enum(CONDITION_OPS),
      value: z.unknown().optional(),
    }),
    ShorthandSchema,
  ]),
) as z.ZodType<Condition>;

const actionBase = {
  delay: duration.optional(),
  onlyIfStillIn: z.boolean().optional(),
};
/** Length of a value as JSON text; Infinity when it is not plain JSON. */
function jsonSize(v: unknown): number {
  try {
    return JSON.stringify(v)?.length ?? Number.POSITIVE_INFINITY;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}
const stringMap = z.record(z.string().max(200), z.string().max(2000));

/** `send_email` action. */
export const SendEmailActionSchema = z.strictObject({
  type: z.literal('send_email'),
  template: slug,
  to: z.string().min(1).max(500),
  cc: z.string().max(500).optional(),
  ...actionBase,
});
/** `webhook` action. */
export const WebhookActionSchema = z.strictObject({
  type: z.literal('webhook'),
  url: z.string().url().max(2000).optional(),
  endpoint: slug.optional(),
  method: z.enum(['POST', 'PUT', 'PATCH']).optional(),
  /** Header values are Liquid templates. */
  headers: stringMap.optional(),
  /**
   * A JSON value whose string leaves are Liquid templates; a leaf that is exactly `{{ expr }}`
   * keeps the type of the value. A string that holds a JSON object or array is read as that value.
   */
  body: z
    .unknown()
    .refine((v) => v !== undefined && jsonSize(v) <= 20000, 'must be a JSON value of at most 20000 characters')
    .optional(),
  ...actionBase,
});
/** `notify` action. */
export const NotifyActionSchema = z.strictObject({
  type: z.literal('notify'),
  channel: z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/, 'must be a slug'),
  message: z.string().min(1).max(2000),
  severity: z.enum(['info', 'warning', 'critical']).optional(),
  ...actionBase,
});
/** `transition` action (an automated transition). */
export const TransitionActionSchema = z.strictObject({
  type: z.literal('transition'),
  to: slug,
  reason: ReasonSchema.optional(),
  note: z.string().max(2000).optional(),
  ...actionBase,
});
/** `set_data` action. */
export const SetDataActionSchema = z.strictObject({
  type: z.literal('set_data'),
  set: z.record(z.string().max(200), z.unknown()),
  ...actionBase,
});
/** `record_fact` action. */
export const RecordFactActionSchema = z.strictObject({
  type: z.literal('record_fact'),
  fact: slug,
  evidence: z.unknown().optional(),
  ...actionBase,
});
/** `create_order` action. */
export const CreateOrderActionSchema = z.strictObject({
  type: z.literal('create_order'),
  workflow: z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/, 'must be a workflow key'),
  kind: slug.optional(),
  data: z.union([z.string().max(20000), z.record(z.string(), z.unknown())]).optional(),
  link: slug.optional(),
  ...actionBase,
});

/** Any rule action (SPEC §2.3). */
export const ActionSchema = z.discriminatedUnion('type', [
  SendEmailActionSchema,
  WebhookActionSchema,
  NotifyActionSchema,
  TransitionActionSchema,
  SetDataActionSchema,
  RecordFactActionSchema,
  CreateOrderActionSchema,
]);
/** A rule action. */
export type Action = z.infer<typeof ActionSchema>;
/** Action types delivered through the outbox. */
export const EXTERNAL_ACTIONS = ['send_email', 'webhook', 'notify'] as const;
/** True for actions that leave through the outbox. */
export const isExternalAction = (a: Action): a is Extract<Action, { type: 'send_email' | 'webhook' | 'notify' }> =>
  a.type === 'send_email' || a.type === 'webhook' || a.type === 'notify';

/** Rule triggers (SPEC §2.1). */
export const TRIGGERS = ['state_changed', 'order_created', 'event_received', 'time_in_state', 'fact_recorded'] as const;
/** A rule trigger. */
export type Trigger = (typeof TRIGGERS)[number];

/** An automation rule (SPEC §2). */
export const RuleSchema = z.strictObject({
  id: ruleId.optional(),
  name: shortText.optional(),
  description: longText.optional(),
  enabled: z.boolean().optional(),
  trigger: z.enum(TRIGGERS),
  event: z.string().min(1).max(200).optional(),
  state: slug.optional(),
  after: duration.optional(),
  fact: slug.optional(),
  conditions: ConditionSchema.optional(),
  actions: z.array(ActionSchema).max(50),
});
/** A rule as written. */
export type Rule = z.infer<typeof RuleSchema>;

/** A state (SPEC §1.3). */
export const StateSchema = z.strictObject({
  key: slug,
  name: z.string().min(1).max(200),
  publicName: shortText.optional(),
  group: z.enum(GROUPS),
  color: z
    .string()
    .regex(/^#[0-9a-fA-F]{6}$/, 'must be a colour #rrggbb')
    .optional(),
  description: longText.optional(),
  initial: z.boolean().optional(),
  timeout: z.strictObject({ after: duration, to: slug, reason: ReasonSchema.optional() }).optional(),
  cancellation: ReasonSchema.optional(),
  requires: z.array(slug).max(50).optional(),
});
/** A state. */
export type State = z.infer<typeof StateSchema>;

/** A transition edge (SPEC §1.4). */
export const TransitionSchema = z.strictObject({
  from: z
    .string()
    .regex(/^(\*|group:(new|processing|cancelled|completed)|[a-z][a-z0-9_]{0,63})$/, 'must be a state key, group:<group> or *'),
  to: slug,
  name: shortText.optional(),
  guard: ConditionSchema.optional(),
  roles: z.array(z.enum(ROLES)).max(4).optional(),
});
/** A transition edge. */
export type Transition = z.infer<typeof TransitionSchema>;

/** A workflow definition document (SPEC §1.2a). */
export const DefinitionSchema = z.strictObject({
  key: z
    .string()
    .regex(/^[a-z][a-z0-9_-]{0,63}$/, 'must be a workflow key: lowercase letter, then lowercase letters, digits, _ or - (max 64)'),
  name: z.string().min(1).max(200),
  description: longText.optional(),
  kinds: z.array(slug).min(1).max(50).optional(),
  states: z.array(StateSchema).max(500),
  transitions: z.array(TransitionSchema).max(5000),
  rules: z.array(RuleSchema).max(500).optional(),
  reasons: z.strictObject({ customer: z.array(slug).max(200).optional(), provider: z.array(slug).max(200).optional() }).optional(),
  criteria: z.array(slug).max(200).optional(),
  layout: z.record(z.string().max(64), z.strictObject({ x: z.number().finite(), y: z.number().finite() })).optional(),
});
/** A workflow definition. */
export type Definition = z.infer<typeof DefinitionSchema>;

/** JSON Schema (draft 2020-12) of the workflow definition document. */
export function definitionJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(DefinitionSchema, { unrepresentable: 'any' }) as Record<string, unknown>;
}

/** Kinds a workflow accepts (its `kinds`, else the four built-in). */
export const workflowKinds = (d: Definition): string[] => d.kinds ?? [...BUILTIN_KINDS];
/** Criteria a workflow knows (built-in plus declared). */
export const workflowCriteria = (d: Definition): string[] => [...BUILTIN_CRITERIA, ...(d.criteria ?? [])];
/** Reason codes a workflow knows for an initiator. */
export const workflowReasons = (d: Definition, initiator: 'customer' | 'provider'): string[] => [
  ...BUILTIN_REASONS[initiator],
  ...(d.reasons?.[initiator] ?? []),
];

/** Stable id of the rule at `index` (its `id`, else `rule-<index+1>`). */
export const ruleIdOf = (rule: Rule, index: number): string => rule.id ?? `rule-${index + 1}`;

/** Finds a state by key. */
export const findState = (d: Definition, key: string): State | undefined => d.states.find((s) => s.key === key);

/** True when the transition's `from` matches a state. */
export function fromMatches(from: string, state: State): boolean {
  if (from === '*') return !isTerminalGroup(state.group);
  if (from.startsWith('group:')) return from.slice(6) === state.group;
  return from === state.key;
}
