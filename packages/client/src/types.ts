import type { BlockedReason, Definition, Group, HistoryEntry, MigrationResult, Order, Reason, Role } from '@orderflow/core';

/** A validation problem (SPEC §5.1). */
export interface Problem {
  severity: 'error' | 'warning';
  code: string;
  path: string;
  message: string;
}

/** An RFC 9457 problem document as the API answers it. */
export interface ProblemDocument {
  type?: string;
  title: string;
  status: number;
  detail?: string;
  code: string;
  errors?: { path: string; message: string }[];
  missing?: string[];
  reasons?: BlockedReason[];
  problems?: Problem[];
  [key: string]: unknown;
}

/** A page of a list resource. */
export interface ListPage<T> {
  items: T[];
  nextCursor?: string | null;
}

/** The signed-in caller. */
export interface Session {
  role: Role;
  tokenId?: string;
}

/** Orders per stage group. */
export type GroupCounts = Record<Group, number>;

/** One line of `GET /workflows`. */
export interface WorkflowSummary {
  key: string;
  name: string;
  publishedVersion: number | null;
  hasDraft: boolean;
  counts: GroupCounts;
}

/** A workflow with its published definition and draft (SPEC §5.0). */
export interface Workflow {
  key: string;
  name: string;
  publishedVersion: number | null;
  definition: Definition | null;
  draft: Definition | null;
  problems: Problem[];
}

/** Outcome of `POST /workflows/:key/validate`. */
export interface ValidationResult {
  ok: boolean;
  problems: Problem[];
}

export type {
  EventPreviewInput,
  FactPreviewInput,
  Impact,
  ImpactInput,
  MigrateOrderInput,
  MigrateWorkflowInput,
  MigrateWorkflowResult,
  MigrationResult,
  TimerFate,
  TimerPolicy,
  VersionImpact,
  WorkflowVersionInfo,
} from '@orderflow/core';

/** Body of `POST /orders`. */
export interface CreateOrderInput {
  workflow: string;
  kind?: string;
  externalRef?: string;
  data: Record<string, unknown>;
  state?: string;
}

/** Filters of `GET /orders`. */
export interface OrderQuery {
  workflow?: string;
  state?: string;
  group?: Group;
  kind?: string;
  externalRef?: string;
  q?: string;
  createdAfter?: string;
  createdBefore?: string;
  limit?: number;
  cursor?: string;
}

/** A transition out of the order's current state, allowed or blocked. */
export interface AvailableTransition {
  to: string;
  name?: string;
  group: Group;
  allowed: boolean;
  blocked: BlockedReason[];
}

/** Body of `POST /orders/:id/transitions` (and its preview). */
export interface TransitionInput {
  to: string;
  reason?: Reason;
  note?: string;
  facts?: string[];
  force?: boolean;
  expectedVersion?: number;
}

/** One transition applied by a change. */
export interface AppliedTransition {
  from: string | null;
  to: string;
  actor: { type: string; id: string };
  ruleId?: string;
}

/** The answer to every command on an order (SPEC §5.0). */
export interface Change {
  order: Order;
  applied: AppliedTransition[];
  deliveries: { id: string; type: DeliveryType; status: DeliveryStatus }[];
  /** Migrations only: the target state and every pending timer's fate. */
  migration?: MigrationResult;
}

/** A rendered email of a preview. */
export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
  to: string;
}

/** A rendered webhook of a preview. */
export interface RenderedWebhook {
  url: string;
  body: string;
}

/** Everything a transition would cause, without storing anything. */
export interface TransitionPreview {
  order: Order;
  applied: AppliedTransition[];
  deliveries: { id: string; type: DeliveryType; action: unknown; rendered?: RenderedEmail | RenderedWebhook }[];
  timers: unknown[];
  history: HistoryEntry[];
  ruleRuns?: {
    ruleId: string;
    trigger: string;
    matched: boolean;
    actions: { index: number; type: string; outcome: string; detail?: string }[];
  }[];
  stored?: false;
}

/** Delivery kinds. */
export type DeliveryType = 'email' | 'webhook' | 'notify';
/** Delivery states. */
export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'dead';

/** An outbox delivery. */
export interface Delivery {
  id: string;
  orderId: string;
  type: DeliveryType;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: string | null;
  lastError: string | null;
  ruleId: string | null;
  createdAt: string;
  deliveredAt: string | null;
  /** Who it goes to and what it is about (`to`, `subject`), as they render now. */
  summary?: { to?: string; subject?: string; error?: string };
}

/** A history entry with the name of the token that made it (`actorName`), when there is one. */
export type NamedHistoryEntry = HistoryEntry & { actorName?: string };

/** One delivery attempt. */
export interface DeliveryAttempt {
  at: string;
  durationMs: number;
  outcome: string;
  status: number | null;
  responseBody: string | null;
  error: string | null;
}

/** A delivery with every attempt. */
export interface DeliveryDetail extends Delivery {
  attemptLog: DeliveryAttempt[];
}

/** Filters of `GET /deliveries`. */
export interface DeliveryQuery {
  status?: DeliveryStatus;
  type?: DeliveryType;
  orderId?: string;
}

/** A pending timer. */
export interface TimerInfo {
  id: string;
  orderId: string;
  kind: string;
  dueAt: string;
  state: string;
  ruleId?: string | null;
}

/** An in-app notification. */
export interface Notification {
  id: string;
  channel: string;
  severity: 'info' | 'warning' | 'critical';
  message: string;
  orderId: string | null;
  createdAt: string;
  readAt: string | null;
}

/** An email caught by the built-in mailbox. */
export interface MailboxMessage {
  id: string;
  to: string;
  cc?: string | null;
  subject: string;
  html: string;
  text: string;
  deliveryId: string | null;
  createdAt: string;
}

/** An email template (SPEC §3). */
export interface Template {
  key: string;
  subject: string;
  html: string;
  text?: string | null;
  description?: string | null;
}

/** A rendered template. */
export interface RenderedTemplate {
  subject: string;
  html: string;
  text: string;
}

/** A named webhook endpoint. */
export interface Endpoint {
  key: string;
  url: string;
  headers?: Record<string, string>;
  enabled: boolean;
  secretSet?: boolean;
  consecutiveFailures?: number;
  disabledReason?: string | null;
}

/** Body of `POST /endpoints` and `PUT /endpoints/:key`. */
export interface EndpointInput {
  key?: string;
  url: string;
  secret?: string;
  headers?: Record<string, string>;
  enabled?: boolean;
}

/** Dashboard figures (`GET /stats`). */
export interface Stats {
  groups: GroupCounts;
  states: { state: string; group: Group; count: number }[];
  cancellations: { initiator: string; code: string; count: number }[];
  medianTimeInState: { state: string; ms: number }[];
  recentFailures: Delivery[];
}

/** The automation kill switch (`GET /automation`). */
export interface AutomationState {
  /** True while all automation is paused. */
  paused: boolean;
  /** Rules paused one by one. */
  rules: string[];
}

/** A rule execution log entry (`GET /runs`). */
export interface RuleRunInfo {
  id: string;
  orderId: string;
  ruleId: string;
  trigger: string;
  at: string;
  matched: boolean;
  conditions?: unknown;
  actions?: unknown[];
}
