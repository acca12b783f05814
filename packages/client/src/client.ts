import type { Definition, Order } from '@orderflow/core';
import type {
  AutomationState,
  AutomationTarget,
  AvailableTransitions,
  Change,
  CreatedToken,
  CreateOrderInput,
  CreateTokenInput,
  Delivery,
  DeliveryDetail,
  DeliveryQuery,
  Endpoint,
  EndpointInput,
  EventPreviewInput,
  FactPreviewInput,
  Impact,
  ImpactInput,
  ListPage,
  MailboxMessage,
  MigrateOrderInput,
  MigrateWorkflowInput,
  MigrateWorkflowResult,
  NamedHistoryEntry,
  Notification,
  NotificationFilter,
  OrderQuery,
  ProblemDocument,
  RenderedTemplate,
  RetryDeliveriesInput,
  RuleRunInfo,
  RunFilter,
  Session,
  Stats,
  Template,
  TemplateInput,
  TemplatePreviewInput,
  TimerFilter,
  TimerInfo,
  TokenInfo,
  TransitionInput,
  TransitionPreview,
  ValidationResult,
  Workflow,
  WorkflowSummary,
  WorkflowVersionInfo,
} from './types.js';

/** Options of every change: replay protection and optimistic concurrency. */
export interface ChangeOptions {
  /** Sent as `Idempotency-Key`: a retry with the same key answers the first result instead of applying it again. */
  idempotencyKey?: string;
  /** Sent as `If-Match`: the version (or ETag) the caller last saw; another current version answers 412. */
  ifMatch?: number | string;
}

/** What a preview may decide under instead of the order's version: a definition, or the stored draft. */
export interface PreviewUnder {
  definition?: Definition;
  draft?: boolean;
}

/** The header that marks a cookie-authenticated mutation as coming from the UI, not a cross-site form. */
export const CSRF_HEADER = 'x-orderflow-csrf';

/** Options of {@link createClient}. */
export interface ClientOptions {
  /** Server origin, with or without `/api/v1`, e.g. `http://127.0.0.1:3000`; `''` means same origin. */
  baseUrl: string;
  /** API token. Without it the client relies on the session cookie (`POST /session`). */
  token?: string;
  /** The fetch implementation. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Credentials mode of every request. @default 'same-origin' without a token, 'omit' with one */
  credentials?: RequestCredentials;
}

/** A refused or failed request, carrying the API's problem document. */
export class ApiError extends Error {
  /** HTTP status; 0 when the server could not be reached. */
  readonly status: number;
  /** Stable problem code (SPEC §5), e.g. `transition_not_allowed`. */
  readonly code: string;
  readonly title: string;
  readonly detail: string | undefined;
  /** The whole problem document, including extra fields (`errors`, `missing`, `reasons`, `problems`). */
  readonly problem: ProblemDocument;

  constructor(problem: ProblemDocument) {
    super(problem.detail ?? problem.title);
    this.name = 'ApiError';
    this.status = problem.status;
    this.code = problem.code;
    this.title = problem.title;
    this.detail = problem.detail;
    this.problem = problem;
  }

  get errors(): ProblemDocument['errors'] {
    return this.problem.errors;
  }
  get missing(): ProblemDocument['missing'] {
    return this.problem.missing;
  }
  get reasons(): ProblemDocument['reasons'] {
    return this.problem.reasons;
  }
  get problems(): ProblemDocument['problems'] {
    return this.problem.problems;
  }
}

type Query = Record<string, string | number | boolean | undefined | null>;

interface RequestOptions {
  query?: Query | undefined;
  body?: unknown;
  headers?: Record<string, string> | undefined;
  contentType?: string;
  /** The path is from the server origin (operations routes), not from `/api/v1`. */
  absolute?: boolean;
  /** The answer is text, not JSON. */
  text?: boolean;
}

/** Builds a query string from defined values only. */
export function buildQuery(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    params.set(k, String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

const enc = encodeURIComponent;

function statusTitle(status: number): { code: string; title: string } {
  if (status === 401) return { code: 'unauthorized', title: 'Unauthorized' };
  if (status === 403) return { code: 'forbidden', title: 'Forbidden' };
  if (status === 404) return { code: 'not_found', title: 'Not found' };
  if (status === 413) return { code: 'payload_too_large', title: 'Payload too large' };
  if (status === 429) return { code: 'rate_limited', title: 'Too many requests' };
  if (status >= 500) return { code: 'internal_error', title: 'Server error' };
  return { code: 'bad_request', title: `Request failed (${status})` };
}

/** Creates a typed client of the Orderflow HTTP API (SPEC §5). */
export function createClient(options: ClientOptions) {
  const origin = options.baseUrl.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
  const root = `${origin}/api/v1`;
  const doFetch: typeof fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const cookieMode = !options.token;
  const credentials: RequestCredentials = options.credentials ?? (cookieMode ? 'same-origin' : 'omit');

  async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json', ...opts.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    else if (method !== 'GET' && method !== 'HEAD') headers[CSRF_HEADER] = '1';
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers['content-type'] = opts.contentType ?? 'application/json';
      body = JSON.stringify(opts.body);
    }
    let res: Response;
    try {
      res = await doFetch(`${opts.absolute ? origin : root}${path}${buildQuery(opts.query)}`, { method, headers, body, credentials });
    } catch (err) {
      throw new ApiError({
        type: 'urn:orderflow:problem:network_error',
        status: 0,
        code: 'network_error',
        title: 'The server could not be reached',
        detail: err instanceof Error ? err.message : String(err),
      });
    }
    const text = await res.text();
    let parsed: unknown;
    if (opts.text && res.ok) return text as T;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    if (!res.ok) {
      const fallback = statusTitle(res.status);
      const doc = (parsed && typeof parsed === 'object' ? parsed : {}) as Partial<ProblemDocument>;
      throw new ApiError({
        ...doc,
        status: typeof doc.status === 'number' ? doc.status : res.status,
        code: typeof doc.code === 'string' ? doc.code : fallback.code,
        title: typeof doc.title === 'string' ? doc.title : fallback.title,
      } as ProblemDocument);
    }
    return parsed as T;
  }

  const get = <T>(path: string, query?: Query) => request<T>('GET', path, { query });
  /** Sends a change with its Idempotency-Key and If-Match, when given. */
  const change = <T>(
    method: string,
    path: string,
    body: unknown,
    opts: ChangeOptions = {},
    extra: Omit<RequestOptions, 'body' | 'headers'> = {},
  ) => {
    const headers: Record<string, string> = {};
    if (opts.idempotencyKey) headers['idempotency-key'] = opts.idempotencyKey;
    if (opts.ifMatch !== undefined) headers['if-match'] = typeof opts.ifMatch === 'number' ? `"${opts.ifMatch}"` : opts.ifMatch;
    return request<T>(method, path, { ...extra, ...(body === undefined ? {} : { body }), headers });
  };
  const post = <T>(path: string, body: unknown = {}, opts?: ChangeOptions, query?: Query) => change<T>('POST', path, body, opts, { query });
  const put = <T>(path: string, body: unknown, opts?: ChangeOptions) => change<T>('PUT', path, body, opts);
  const del = <T = void>(path: string, opts?: ChangeOptions) => change<T>('DELETE', path, undefined, opts);
  const target = (t: string | AutomationTarget | undefined): Query => (typeof t === 'string' ? { rule: t } : { ...(t ?? {}) });

  return {
    /** The API root this client talks to, e.g. `http://host/api/v1`. */
    apiRoot: root,
    /** Low-level request for endpoints without a method here. */
    request,

    // Operations outside /api/v1
    /** `GET /healthz`: the process is up. */
    health: () => request<{ status: string }>('GET', '/healthz', { absolute: true }),
    /** `GET /readyz`: the database is reachable and migrated. */
    ready: () => request<{ status: string }>('GET', '/readyz', { absolute: true }),
    /** `GET /metrics`: the Prometheus text. */
    metrics: () => request<string>('GET', '/metrics', { absolute: true, text: true }),
    /** `GET /docs/openapi.json`: the OpenAPI 3.1 document. */
    openApi: () => request<Record<string, unknown>>('GET', '/docs/openapi.json', { absolute: true }),

    // Session
    signIn: (token: string) => post<Session>('/session', { token }),
    session: () => get<Session>('/session'),
    signOut: () => del('/session'),

    // Tokens
    /** Creates a token; its secret is in the answer once. */
    createToken: (input: CreateTokenInput, opts?: ChangeOptions) => post<CreatedToken>('/tokens', input, opts),
    listTokens: (page: { limit?: number; cursor?: string } = {}) => get<ListPage<TokenInfo>>('/tokens', { ...page }),
    /** Revokes a token at once. */
    revokeToken: (id: string, opts?: ChangeOptions) => del(`/tokens/${enc(id)}`, opts),

    // Workflows
    listWorkflows: () => get<ListPage<WorkflowSummary>>('/workflows'),
    createWorkflow: (definition: Definition, opts: ChangeOptions & { publish?: boolean } = {}) =>
      post<Workflow>('/workflows', definition, opts, { publish: opts.publish ? 'true' : undefined }),
    getWorkflow: (key: string, opts: { version?: number; draft?: boolean } = {}) =>
      get<Workflow>(`/workflows/${enc(key)}`, { version: opts.version, draft: opts.draft ? 'true' : undefined }),
    saveDraft: (key: string, definition: Definition, opts?: ChangeOptions) =>
      put<Workflow>(`/workflows/${enc(key)}/draft`, definition, opts),
    validateWorkflow: (key: string, definition: unknown) => post<ValidationResult>(`/workflows/${enc(key)}/validate`, definition),
    publishWorkflow: (key: string, opts?: ChangeOptions) => post<Workflow>(`/workflows/${enc(key)}/publish`, {}, opts),
    listVersions: (key: string) => get<ListPage<WorkflowVersionInfo>>(`/workflows/${enc(key)}/versions`),
    /** What the draft (stored, or `definition`) would change for in-flight orders, per pinned version. */
    impact: (key: string, definition?: Definition | ImpactInput) => post<Impact>(`/workflows/${enc(key)}/impact`, definition),
    /** Throws the draft away; the published version stays. */
    discardDraft: (key: string, opts?: ChangeOptions) => del(`/workflows/${enc(key)}/draft`, opts),
    /** Migrates orders in bulk; `dryRun: true` stores nothing and answers each order's target state and timer fates. */
    migrateOrders: (key: string, input: MigrateWorkflowInput, opts?: ChangeOptions) =>
      post<MigrateWorkflowResult>(`/workflows/${enc(key)}/migrate`, input, opts),

    // Orders
    createOrder: (input: CreateOrderInput, opts?: ChangeOptions) => post<Change>('/orders', input, opts),
    listOrders: (query: OrderQuery = {}) => get<ListPage<Order>>('/orders', { ...query }),
    getOrder: (id: string) => get<Order>(`/orders/${enc(id)}`),
    listTransitions: (id: string) => get<AvailableTransitions>(`/orders/${enc(id)}/transitions`),
    transition: (id: string, input: TransitionInput, opts?: ChangeOptions) => post<Change>(`/orders/${enc(id)}/transitions`, input, opts),
    /** Everything a transition would do, storing nothing; `definition` or `draft: true` decide under a draft. */
    previewTransition: (id: string, input: TransitionInput & PreviewUnder) =>
      post<TransitionPreview>(`/orders/${enc(id)}/transitions/preview`, input),
    /** Everything an external event would do, storing nothing. */
    previewEvent: (id: string, input: EventPreviewInput) => post<TransitionPreview>(`/orders/${enc(id)}/events/preview`, input),
    /** Everything recording a fact would do, storing nothing. */
    previewFact: (id: string, input: FactPreviewInput) => post<TransitionPreview>(`/orders/${enc(id)}/facts/preview`, input),
    /** Moves one order to a newer version; the answer lists every pending timer's fate. */
    migrateOrder: (id: string, input: MigrateOrderInput, opts?: ChangeOptions) => post<Change>(`/orders/${enc(id)}/migrate`, input, opts),
    patchOrderData: (id: string, patch: Record<string, unknown>, opts?: ChangeOptions) =>
      change<Change>('PATCH', `/orders/${enc(id)}/data`, patch, opts, { contentType: 'application/merge-patch+json' }),
    recordFact: (id: string, fact: string, evidence?: unknown, opts?: ChangeOptions) =>
      post<Change>(`/orders/${enc(id)}/facts`, evidence === undefined ? { fact } : { fact, evidence }, opts),
    postEvent: (id: string, type: string, data?: unknown, opts?: ChangeOptions) =>
      post<Change>(`/orders/${enc(id)}/events`, data === undefined ? { type } : { type, data }, opts),
    orderHistory: (id: string, page: { limit?: number; cursor?: string } = {}) =>
      get<ListPage<NamedHistoryEntry>>(`/orders/${enc(id)}/history`, { ...page }),
    orderDeliveries: (id: string, page: { limit?: number; cursor?: string } = {}) =>
      get<ListPage<Delivery>>(`/orders/${enc(id)}/deliveries`, { ...page }),

    // Deliveries
    listDeliveries: (query: DeliveryQuery = {}) => get<ListPage<Delivery>>('/deliveries', { ...query }),
    getDelivery: (id: string) => get<DeliveryDetail>(`/deliveries/${enc(id)}`),
    /** Retries one delivery now; a delivered one only with `force: true` (admin). */
    retryDelivery: (id: string, input: { force?: boolean } = {}, opts?: ChangeOptions) =>
      post<Delivery>(`/deliveries/${enc(id)}/retry`, input, opts),
    retryDeliveries: (filter: RetryDeliveriesInput, opts?: ChangeOptions) => post<{ retried: number }>('/deliveries/retry', filter, opts),

    // Timers
    listTimers: (query: TimerFilter = {}) => get<ListPage<TimerInfo>>('/timers', { ...query }),
    cancelTimer: (id: string, opts?: ChangeOptions) => del(`/timers/${enc(id)}`, opts),
    rescheduleTimer: (id: string, dueAt: string, opts?: ChangeOptions) => change<TimerInfo>('PATCH', `/timers/${enc(id)}`, { dueAt }, opts),

    // Notifications
    listNotifications: (query: NotificationFilter = {}) => get<ListPage<Notification>>('/notifications', { ...query }),
    markNotificationRead: (id: string, opts?: ChangeOptions) => post<Notification>(`/notifications/${enc(id)}/read`, {}, opts),
    /** URL of the Server-Sent Events stream of new notifications. */
    notificationStreamUrl: () => `${root}/notifications/stream`,

    // Mailbox
    listMailbox: (query: { limit?: number; cursor?: string; deliveryId?: string } = {}) => get<ListPage<MailboxMessage>>('/mailbox', query),
    getMail: (id: string) => get<MailboxMessage>(`/mailbox/${enc(id)}`),

    // Templates
    listTemplates: () => get<ListPage<Template>>('/templates'),
    getTemplate: (key: string) => get<Template>(`/templates/${enc(key)}`),
    saveTemplate: (key: string, template: TemplateInput, opts?: ChangeOptions) => put<Template>(`/templates/${enc(key)}`, template, opts),
    deleteTemplate: (key: string, opts?: ChangeOptions) => del(`/templates/${enc(key)}`, opts),
    previewTemplate: (key: string, input: TemplatePreviewInput) => post<RenderedTemplate>(`/templates/${enc(key)}/preview`, input),

    // Endpoints
    listEndpoints: () => get<ListPage<Endpoint>>('/endpoints'),
    getEndpoint: (key: string) => get<Endpoint>(`/endpoints/${enc(key)}`),
    createEndpoint: (input: EndpointInput & { key: string }, opts?: ChangeOptions) => post<Endpoint>('/endpoints', input, opts),
    saveEndpoint: (key: string, input: EndpointInput, opts?: ChangeOptions) => put<Endpoint>(`/endpoints/${enc(key)}`, input, opts),
    deleteEndpoint: (key: string, opts?: ChangeOptions) => del(`/endpoints/${enc(key)}`, opts),
    testEndpoint: (key: string, opts?: ChangeOptions) => post<Record<string, unknown>>(`/endpoints/${enc(key)}/test`, {}, opts),

    // Operations
    stats: (query: { workflow?: string } = {}) => get<Stats>('/stats', query),
    listRuns: (query: RunFilter = {}) => get<ListPage<RuleRunInfo>>('/runs', { ...query }),
    automation: () => get<AutomationState>('/automation'),
    /** Pauses automation: everything, a workflow (`{ workflow }`) or one rule (`'rule'` or `{ rule: 'workflow:rule' }`). */
    pauseAutomation: (on?: string | AutomationTarget, opts?: ChangeOptions) =>
      post<AutomationState>('/automation/pause', {}, opts, target(on)),
    resumeAutomation: (on?: string | AutomationTarget, opts?: ChangeOptions) =>
      post<AutomationState>('/automation/resume', {}, opts, target(on)),
  };
}

/** A client created by {@link createClient}. */
export type Client = ReturnType<typeof createClient>;
