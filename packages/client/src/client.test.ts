import { API_ROUTES, type Definition } from '@orderflow/core';
import { describe, expect, it } from 'vitest';
import { ApiError, buildQuery, createClient } from './client.js';

interface Call {
  url: string;
  init: RequestInit;
}

function fakeFetch(status: number, body: unknown, calls: Call[]): typeof fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    calls.push({ url: String(input), init: init ?? {} });
    const text = body === undefined ? '' : JSON.stringify(body);
    return new Response(status === 204 ? null : text, { status, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
}

const headersOf = (c: Call | undefined) => (c?.init.headers ?? {}) as Record<string, string>;

describe('createClient', () => {
  it('builds URLs under /api/v1 with encoded path segments and defined query values only', async () => {
    const calls: Call[] = [];
    const client = createClient({ baseUrl: 'http://127.0.0.1:3000/', token: 't', fetch: fakeFetch(200, { items: [] }, calls) });
    await client.listOrders({ workflow: 'orders', state: undefined, q: 'a b', limit: 50 });
    await client.getWorkflow('my flow', { draft: true });
    expect(calls[0]?.url).toBe('http://127.0.0.1:3000/api/v1/orders?workflow=orders&q=a+b&limit=50');
    expect(calls[1]?.url).toBe('http://127.0.0.1:3000/api/v1/workflows/my%20flow?draft=true');
  });

  it('calls the version and migration routes with their bodies', async () => {
    const calls: Call[] = [];
    const client = createClient({ baseUrl: '', token: 't', fetch: fakeFetch(200, {}, calls) });
    await client.migrateOrders('orders', { toVersion: 2, stateMap: { packing: 'shipping' }, timers: 'keep', dryRun: true });
    await client.migrateOrder('ord_1', { toVersion: 2 });
    await client.impact('orders', { stateMap: { packing: 'shipping' } });
    await client.previewEvent('ord_1', { type: 'scan', draft: true });
    await client.previewFact('ord_1', { fact: 'delivered' });
    await client.listVersions('orders');
    const discard = createClient({ baseUrl: '', token: 't', fetch: fakeFetch(204, undefined, calls) });
    await discard.discardDraft('orders');
    expect(calls.map((c) => `${c.init.method} ${c.url} ${c.init.body ?? ''}`.trim())).toEqual([
      'POST /api/v1/workflows/orders/migrate {"toVersion":2,"stateMap":{"packing":"shipping"},"timers":"keep","dryRun":true}',
      'POST /api/v1/orders/ord_1/migrate {"toVersion":2}',
      'POST /api/v1/workflows/orders/impact {"stateMap":{"packing":"shipping"}}',
      'POST /api/v1/orders/ord_1/events/preview {"type":"scan","draft":true}',
      'POST /api/v1/orders/ord_1/facts/preview {"fact":"delivered"}',
      'GET /api/v1/workflows/orders/versions',
      'DELETE /api/v1/workflows/orders/draft',
    ]);
  });

  it('accepts a base URL that already ends in /api/v1', () => {
    const client = createClient({ baseUrl: 'http://x/api/v1', fetch: fakeFetch(200, {}, []) });
    expect(client.apiRoot).toBe('http://x/api/v1');
  });

  it('sends the bearer token and no CSRF header in token mode', async () => {
    const calls: Call[] = [];
    const client = createClient({ baseUrl: '', token: 'secret', fetch: fakeFetch(200, { order: {} }, calls) });
    await client.transition('ord_1', { to: 'packing' });
    const h = headersOf(calls[0]);
    expect(h.authorization).toBe('Bearer secret');
    expect(h['x-orderflow-csrf']).toBeUndefined();
    expect(h['content-type']).toBe('application/json');
    expect(calls[0]?.init.method).toBe('POST');
    expect(calls[0]?.init.body).toBe('{"to":"packing"}');
    expect(calls[0]?.url).toBe('/api/v1/orders/ord_1/transitions');
  });

  it('uses same-origin credentials and the CSRF header on non-GET requests in cookie mode', async () => {
    const calls: Call[] = [];
    const client = createClient({ baseUrl: '', fetch: fakeFetch(200, { role: 'admin' }, calls) });
    await client.session();
    await client.signIn('tok');
    await client.signOut();
    expect(calls.map((c) => c.init.credentials)).toEqual(['same-origin', 'same-origin', 'same-origin']);
    expect(headersOf(calls[0])['x-orderflow-csrf']).toBeUndefined();
    expect(headersOf(calls[0]).authorization).toBeUndefined();
    expect(headersOf(calls[1])['x-orderflow-csrf']).toBe('1');
    expect(headersOf(calls[2])['x-orderflow-csrf']).toBe('1');
    expect(calls[2]?.init.method).toBe('DELETE');
  });

  it('names the paused rule in the query', async () => {
    const calls: Call[] = [];
    const client = createClient({ baseUrl: '', token: 't', fetch: fakeFetch(200, { paused: false, rules: ['x'] }, calls) });
    await client.pauseAutomation('delay-apology');
    await client.resumeAutomation();
    expect(calls.map((c) => `${c.init.method} ${c.url}`)).toEqual([
      'POST /api/v1/automation/pause?rule=delay-apology',
      'POST /api/v1/automation/resume',
    ]);
  });

  it('sends merge patches with their media type', async () => {
    const calls: Call[] = [];
    const client = createClient({ baseUrl: '', fetch: fakeFetch(200, {}, calls) });
    await client.patchOrderData('ord_1', { total: 3 });
    expect(calls[0]?.init.method).toBe('PATCH');
    expect(headersOf(calls[0])['content-type']).toBe('application/merge-patch+json');
  });

  it('throws an ApiError carrying the problem document and its extra fields', async () => {
    const problem = {
      type: 'about:blank',
      title: 'Completion criteria not met',
      status: 422,
      detail: 'missing: delivered',
      code: 'criteria_unmet',
      missing: ['delivered'],
    };
    const client = createClient({ baseUrl: '', fetch: fakeFetch(422, problem, []) });
    const err = await client.transition('ord_1', { to: 'delivered' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const api = err as ApiError;
    expect(api.status).toBe(422);
    expect(api.code).toBe('criteria_unmet');
    expect(api.detail).toBe('missing: delivered');
    expect(api.missing).toEqual(['delivered']);
    expect(api.message).toBe('missing: delivered');
  });

  it('makes a problem from a bare status when the body is not JSON', async () => {
    const client = createClient({
      baseUrl: '',
      fetch: (async () => new Response('<html>oops</html>', { status: 502 })) as typeof fetch,
    });
    const err = (await client.stats().catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(502);
    expect(err.code).toBe('internal_error');
  });

  it('reports an unreachable server as status 0', async () => {
    const client = createClient({
      baseUrl: '',
      fetch: (async () => {
        throw new TypeError('fetch failed');
      }) as typeof fetch,
    });
    const err = (await client.listWorkflows().catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(0);
    expect(err.code).toBe('network_error');
  });

  it('answers undefined for an empty 204 body', async () => {
    const client = createClient({ baseUrl: '', fetch: fakeFetch(204, undefined, []) });
    await expect(client.deleteTemplate('x')).resolves.toBeUndefined();
  });
});

describe('buildQuery', () => {
  it('omits undefined, null and empty values', () => {
    expect(buildQuery({ a: 1, b: undefined, c: null, d: '', e: true })).toBe('?a=1&e=true');
    expect(buildQuery({})).toBe('');
  });
});

/** Client method of each operation whose method name differs from its operationId. */
const METHOD_OF: Record<string, string> = {
  healthz: 'health',
  readyz: 'ready',
  getOpenApi: 'openApi',
  getSession: 'session',
  listWorkflowVersions: 'listVersions',
  workflowImpact: 'impact',
  migrateWorkflowOrders: 'migrateOrders',
  listOrderTransitions: 'listTransitions',
  transitionOrder: 'transition',
  getAutomation: 'automation',
  notificationStream: 'notificationStreamUrl',
};

type AnyClient = Record<string, (...args: unknown[]) => Promise<unknown>>;
const OPTS = { idempotencyKey: 'key-1', ifMatch: 3 };
const def = { key: 'orders', name: 'Orders', states: [], transitions: [] } as Definition;

/** One call of every changing operation, each given the change options. */
const CHANGES: Record<string, (c: AnyClient) => Promise<unknown>> = {
  createWorkflow: (c) => c.createWorkflow?.(def, OPTS) as Promise<unknown>,
  saveDraft: (c) => c.saveDraft?.('orders', def, OPTS) as Promise<unknown>,
  publishWorkflow: (c) => c.publishWorkflow?.('orders', OPTS) as Promise<unknown>,
  discardDraft: (c) => c.discardDraft?.('orders', OPTS) as Promise<unknown>,
  migrateWorkflowOrders: (c) => c.migrateOrders?.('orders', { toVersion: 2 }, OPTS) as Promise<unknown>,
  createOrder: (c) => c.createOrder?.({ workflow: 'orders' }, OPTS) as Promise<unknown>,
  transitionOrder: (c) => c.transition?.('o', { to: 'x' }, OPTS) as Promise<unknown>,
  patchOrderData: (c) => c.patchOrderData?.('o', { a: 1 }, OPTS) as Promise<unknown>,
  recordFact: (c) => c.recordFact?.('o', 'delivered', undefined, OPTS) as Promise<unknown>,
  postEvent: (c) => c.postEvent?.('o', 'scan', undefined, OPTS) as Promise<unknown>,
  migrateOrder: (c) => c.migrateOrder?.('o', { toVersion: 2 }, OPTS) as Promise<unknown>,
  saveTemplate: (c) => c.saveTemplate?.('t', { subject: 's', html: 'h' }, OPTS) as Promise<unknown>,
  deleteTemplate: (c) => c.deleteTemplate?.('t', OPTS) as Promise<unknown>,
  retryDelivery: (c) => c.retryDelivery?.('d', {}, OPTS) as Promise<unknown>,
  retryDeliveries: (c) => c.retryDeliveries?.({ status: 'dead' }, OPTS) as Promise<unknown>,
  createEndpoint: (c) => c.createEndpoint?.({ key: 'e', url: 'http://x' }, OPTS) as Promise<unknown>,
  saveEndpoint: (c) => c.saveEndpoint?.('e', { url: 'http://x' }, OPTS) as Promise<unknown>,
  deleteEndpoint: (c) => c.deleteEndpoint?.('e', OPTS) as Promise<unknown>,
  testEndpoint: (c) => c.testEndpoint?.('e', OPTS) as Promise<unknown>,
  rescheduleTimer: (c) => c.rescheduleTimer?.('t', '2030-01-01T00:00:00Z', OPTS) as Promise<unknown>,
  cancelTimer: (c) => c.cancelTimer?.('t', OPTS) as Promise<unknown>,
  pauseAutomation: (c) => c.pauseAutomation?.(undefined, OPTS) as Promise<unknown>,
  resumeAutomation: (c) => c.resumeAutomation?.(undefined, OPTS) as Promise<unknown>,
  markNotificationRead: (c) => c.markNotificationRead?.('n', OPTS) as Promise<unknown>,
  createToken: (c) => c.createToken?.({ name: 'ci', role: 'viewer' }, OPTS) as Promise<unknown>,
  revokeToken: (c) => c.revokeToken?.('tok', OPTS) as Promise<unknown>,
};
/** Operations that change nothing stored although they are not GETs: validation, previews, impact, sign-in. */
const NOT_CHANGES = new Set([
  'signIn',
  'signOut',
  'validateWorkflow',
  'workflowImpact',
  'previewTransition',
  'previewEvent',
  'previewFact',
  'previewTemplate',
]);

describe('client parity with the API', () => {
  it('has a method for every route of the contract', () => {
    const client = createClient({ baseUrl: '', token: 't', fetch: fakeFetch(200, {}, []) }) as unknown as AnyClient;
    const missing = API_ROUTES.map((r) => METHOD_OF[r.operationId] ?? r.operationId).filter((m) => typeof client[m] !== 'function');
    expect(missing).toEqual([]);
  });

  it('sends Idempotency-Key and If-Match on every change', async () => {
    const changes = API_ROUTES.filter((r) => r.method !== 'get' && !NOT_CHANGES.has(r.operationId)).map((r) => r.operationId);
    expect(changes.filter((id) => !CHANGES[id])).toEqual([]);
    for (const [id, call] of Object.entries(CHANGES)) {
      const calls: Call[] = [];
      await call(createClient({ baseUrl: '', token: 't', fetch: fakeFetch(200, {}, calls) }) as unknown as AnyClient);
      expect(headersOf(calls[0])['idempotency-key'], id).toBe('key-1');
      expect(headersOf(calls[0])['if-match'], id).toBe('"3"');
    }
  });
});
