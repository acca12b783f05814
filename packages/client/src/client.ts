import type { Definition, Order } from '@orderflow/core';
import type {
  AutomationState,
  AvailableTransition,
  Change,
  CreateOrderInput,
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
  OrderQuery,
  ProblemDocument,
  RenderedTemplate,
  RuleRunInfo,
  Session,
  Stats,
  Template,
  TimerInfo,
  TransitionInput,
  TransitionPreview,
  ValidationResult,
  Workflow,
  WorkflowSummary,
  WorkflowVersionInfo,
} from './types.js';

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
  const root = `${options.baseUrl.replace(/\/+$/, '').replace(/\/api\/v1$/, '')}/api/v1`;
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
      res = await doFetch(`${root}${path}${buildQuery(opts.query)}`, { method, headers, body, credentials });
    } catch (err) {
      throw new ApiError({
        status: 0,
        code: 'network_error',
        title: 'The server could not be reached',
        detail: err instanceof Error ? err.message : String(err),
      });
    }
    const text = await res.text();
    let parsed: unknown;
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
  const post = <T>(path: string, body?: unknown, query?: Query) => request<T>('POST', path, { body: body ?? {}, query });
  const put = <T>(path: string, body: unknown) => request<T>('PUT', path, { body });
  const del = <T = void>(path: string) => request<T>('DELETE', path);

  return {
    /** The API root this client talks to, e.g. `http://host/api/v1`. */
    apiRoot: root,
    /** Low-level request for endpoints without a method here. */
    request,

    // Session
    signIn: (token: string) => post<Session>('/session', { token }),
    session: () => get<Session>('/session'),
    signOut: () => del('/session'),

    // Workflows
    listWorkflows: () => get<ListPage<WorkflowSummary>>('/workflows'),
    createWorkflow: (definition: Definition, opts: { publish?: boolean } = {}) =>
      post<Workflow>('/workflows', definition, { publish: opts.publish ? 'true' : undefined }),
    getWorkflow: (key: string, opts: { version?: number; draft?: boolean } = {}) =>
      get<Workflow>(`/workflows/${enc(key)}`, { version: opts.version, draft: opts.draft ? 'true' : undefined }),
    saveDraft: (key: string, definition: Definition) => put<Workflow>(`/workflows/${enc(key)}/draft`, definition),
    validateWorkflow: (key: string, definition: unknown) => post<ValidationResult>(`/workflows/${enc(key)}/validate`, definition),
    publishWorkflow: (key: string) => post<Workflow>(`/workflows/${enc(key)}/publish`),
    listVersions: (key: string) => get<ListPage<WorkflowVersionInfo>>(`/workflows/${enc(key)}/versions`),
    /** What the draft (stored, or `definition`) would change for in-flight orders, per pinned version. */
    impact: (key: string, definition?: Definition | ImpactInput) => post<Impact>(`/workflows/${enc(key)}/impact`, definition),
    /** Throws the draft away; the published version stays. */
    discardDraft: (key: string) => del(`/workflows/${enc(key)}/draft`),
    /** Migrates orders in bulk; `dryRun: true` stores nothing and answers each order's target state and timer fates. */
    migrateOrders: (key: string, input: MigrateWorkflowInput) => post<MigrateWorkflowResult>(`/workflows/${enc(key)}/migrate`, input),

    // Orders
    createOrder: (input: CreateOrderInput, opts: { idempotencyKey?: string } = {}) =>
      request<Change>('POST', '/orders', {
        body: input,
        headers: opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : undefined,
      }),
    listOrders: (query: OrderQuery = {}) => get<ListPage<Order>>('/orders', { ...query }),
    getOrder: (id: string) => get<Order>(`/orders/${enc(id)}`),
    listTransitions: (id: string) => get<ListPage<AvailableTransition>>(`/orders/${enc(id)}/transitions`),
    transition: (id: string, input: TransitionInput) => post<Change>(`/orders/${enc(id)}/transitions`, input),
    /** Everything a transition would do, storing nothing; `definition` or `draft: true` decide under a draft. */
    previewTransition: (id: string, input: TransitionInput & PreviewUnder) =>
      post<TransitionPreview>(`/orders/${enc(id)}/transitions/preview`, input),
    /** Everything an external event would do, storing nothing. */
    previewEvent: (id: string, input: EventPreviewInput) => post<TransitionPreview>(`/orders/${enc(id)}/events/preview`, input),
    /** Everything recording a fact would do, storing nothing. */
    previewFact: (id: string, input: FactPreviewInput) => post<TransitionPreview>(`/orders/${enc(id)}/facts/preview`, input),
    /** Moves one order to a newer version; the answer lists every pending timer's fate. */
    migrateOrder: (id: string, input: MigrateOrderInput) => post<Change>(`/orders/${enc(id)}/migrate`, input),
    patchOrderData: (id: string, patch: Record<string, unknown>) =>
      request<Change>('PATCH', `/orders/${enc(id)}/data`, { body: patch, contentType: 'application/merge-patch+json' }),
    recordFact: (id: string, fact: string, evidence?: unknown) => post<Change>(`/orders/${enc(id)}/facts`, { fact, evidence }),
    postEvent: (id: string, type: string, data?: unknown) => post<Change>(`/orders/${enc(id)}/events`, { type, data }),
    orderHistory: (id: string) => get<ListPage<NamedHistoryEntry>>(`/orders/${enc(id)}/history`),
    orderDeliveries: (id: string) => get<ListPage<Delivery>>(`/orders/${enc(id)}/deliveries`),

    // Deliveries
    listDeliveries: (query: DeliveryQuery = {}) => get<ListPage<Delivery>>('/deliveries', { ...query }),
    getDelivery: (id: string) => get<DeliveryDetail>(`/deliveries/${enc(id)}`),
    retryDelivery: (id: string) => post<Delivery>(`/deliveries/${enc(id)}/retry`),
    retryDeliveries: (filter: { ids?: string[]; status?: string; type?: string }) => post<unknown>('/deliveries/retry', filter),

    // Timers
    listTimers: (query: { orderId?: string } = {}) => get<ListPage<TimerInfo>>('/timers', query),
    cancelTimer: (id: string) => del(`/timers/${enc(id)}`),
    rescheduleTimer: (id: string, dueAt: string) => request<TimerInfo>('PATCH', `/timers/${enc(id)}`, { body: { dueAt } }),

    // Notifications
    listNotifications: () => get<ListPage<Notification>>('/notifications'),
    markNotificationRead: (id: string) => post<Notification>(`/notifications/${enc(id)}/read`),
    /** URL of the Server-Sent Events stream of new notifications. */
    notificationStreamUrl: () => `${root}/notifications/stream`,

    // Mailbox
    listMailbox: () => get<ListPage<MailboxMessage>>('/mailbox'),
    getMail: (id: string) => get<MailboxMessage>(`/mailbox/${enc(id)}`),

    // Templates
    listTemplates: () => get<ListPage<Template>>('/templates'),
    getTemplate: (key: string) => get<Template>(`/templates/${enc(key)}`),
    saveTemplate: (key: string, template: Omit<Template, 'key'> & { key?: string }) => put<Template>(`/templates/${enc(key)}`, template),
    deleteTemplate: (key: string) => del(`/templates/${enc(key)}`),
    previewTemplate: (key: string, input: { orderId?: string; sample?: unknown; template?: Omit<Template, 'key'> }) =>
      post<RenderedTemplate>(`/templates/${enc(key)}/preview`, input),

    // Endpoints
    listEndpoints: () => get<ListPage<Endpoint>>('/endpoints'),
    getEndpoint: (key: string) => get<Endpoint>(`/endpoints/${enc(key)}`),
    createEndpoint: (input: EndpointInput & { key: string }) => post<Endpoint>('/endpoints', input),
    saveEndpoint: (key: string, input: EndpointInput) => put<Endpoint>(`/endpoints/${enc(key)}`, input),
    deleteEndpoint: (key: string) => del(`/endpoints/${enc(key)}`),
    testEndpoint: (key: string) => post<unknown>(`/endpoints/${enc(key)}/test`),

    // Operations
    stats: (query: { workflow?: string } = {}) => get<Stats>('/stats', query),
    listRuns: (query: { orderId?: string; rule?: string } = {}) => get<ListPage<RuleRunInfo>>('/runs', query),
    automation: () => get<AutomationState>('/automation'),
    pauseAutomation: (rule?: string) => post<AutomationState>('/automation/pause', {}, { rule }),
    resumeAutomation: (rule?: string) => post<AutomationState>('/automation/resume', {}, { rule }),
  };
}

/** A client created by {@link createClient}. */
export type Client = ReturnType<typeof createClient>;
