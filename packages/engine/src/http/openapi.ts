import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { API_ROUTES, type ApiRoute, ERROR_TITLE, type RequestHeader, routeProblemStatuses } from '@orderflow/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';

type Json = Record<string, unknown>;

const REF_PREFIX = '#/components/schemas/';

const REQUEST_HEADERS: Record<RequestHeader, Json> = {
  'Idempotency-Key': {
    name: 'Idempotency-Key',
    in: 'header',
    required: false,
    description: 'Repeating a request with the same key (within 24 h) answers the first result instead of applying it again.',
    schema: { type: 'string', minLength: 1, maxLength: 200 },
  },
  'If-Match': {
    name: 'If-Match',
    in: 'header',
    required: false,
    description:
      'The ETag of the order (e.g. `"3"`), a list of them, or `*`; compared strongly, so a weak tag (`W/"3"`) never matches. Another current version answers 412 `version_conflict`.',
    schema: { type: 'string', maxLength: 40 },
  },
  'If-None-Match': {
    name: 'If-None-Match',
    in: 'header',
    required: false,
    description:
      'The ETag the caller holds (or a list, or `*`); compared weakly, so `W/"3"` matches `"3"`. An unchanged order answers 304.',
    schema: { type: 'string', maxLength: 40 },
  },
  'Last-Event-ID': {
    name: 'Last-Event-ID',
    in: 'header',
    required: false,
    description: 'Resume the stream after this notification id.',
    schema: { type: 'string', maxLength: 64 },
  },
};

const RESPONSE_HEADERS: Record<string, Json> = {
  ETag: { description: 'The order version as a strong ETag, e.g. `"3"`', schema: { type: 'string' } },
  Location: { description: 'URL of the created resource', schema: { type: 'string' } },
  'Idempotent-Replayed': {
    description: '`true` when the answer is a replay of an earlier request with this Idempotency-Key',
    schema: { type: 'string' },
  },
  Allow: { description: 'The methods the path supports', schema: { type: 'string' } },
  'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer' } },
  'WWW-Authenticate': {
    description: '`Bearer`, with `error="invalid_token"` when the token given is unknown, expired or revoked (RFC 6750)',
    schema: { type: 'string' },
  },
};

const convertOptions = { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' } as const;

/** Rewrites `#/$defs/X` references to components, recursively. */
function rewriteRefs(value: unknown, rename: (name: string) => string): unknown {
  if (Array.isArray(value)) return value.map((v) => rewriteRefs(v, rename));
  if (value === null || typeof value !== 'object') return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/$defs/')) out[k] = REF_PREFIX + rename(v.slice('#/$defs/'.length));
    else out[k] = rewriteRefs(v, rename);
  }
  return out;
}

/** Builds the OpenAPI 3.1 document from the route table of `@orderflow/core`. */
export function openApiDocument(routes: readonly ApiRoute[] = API_ROUTES): Json {
  const registry = z.toJSONSchema(z.globalRegistry, { ...convertOptions, uri: (id) => REF_PREFIX + id }) as {
    schemas: Record<string, Json>;
  };
  const schemas: Record<string, Json> = {};
  for (const [id, s] of Object.entries(registry.schemas)) {
    const { $schema: _s, $id: _i, ...rest } = s;
    schemas[id] = rest;
  }

  /** JSON Schema of a zod schema, with named parts as component references. */
  const convert = (schema: z.ZodType, owner: string): Json => {
    const js = z.toJSONSchema(schema, { ...convertOptions, metadata: z.globalRegistry }) as Json;
    const { $schema: _s, $defs, ...rest } = js as Json & { $defs?: Record<string, Json> };
    const renamed = new Map<string, string>();
    const rename = (name: string) => renamed.get(name) ?? name;
    for (const name of Object.keys($defs ?? {})) {
      if (!(name in schemas)) renamed.set(name, `${owner}_${name.replace(/^_+/, '')}`);
    }
    for (const [name, def] of Object.entries($defs ?? {})) {
      if (renamed.has(name)) schemas[rename(name)] = rewriteRefs(def, rename) as Json;
    }
    return rewriteRefs(rest, rename) as Json;
  };

  const parametersOf = (route: ApiRoute): Json[] => {
    const params: Json[] = [];
    for (const [where, schema] of [
      ['path', route.params],
      ['query', route.query],
    ] as const) {
      if (!schema) continue;
      const js = convert(schema, route.operationId) as { properties?: Record<string, Json>; required?: string[] };
      for (const [name, prop] of Object.entries(js.properties ?? {})) {
        const { description, ...propSchema } = prop as Json & { description?: string };
        params.push({
          name,
          in: where,
          required: where === 'path' || (js.required ?? []).includes(name),
          ...(description ? { description } : {}),
          schema: propSchema,
        });
      }
    }
    for (const h of route.headers ?? []) params.push(REQUEST_HEADERS[h]);
    return params;
  };

  const paths: Record<string, Record<string, Json>> = {};
  for (const route of routes) {
    const responses: Record<string, Json> = {};
    for (const [status, r] of Object.entries(route.responses)) {
      const entry: Json = { description: r.description };
      if (r.schema)
        entry.content = { [r.contentType ?? 'application/json']: { schema: convert(r.schema, `${route.operationId}${status}`) } };
      if (r.headers?.length) entry.headers = Object.fromEntries(r.headers.map((h) => [h, { $ref: `#/components/headers/${h}` }]));
      responses[status] = entry;
    }
    for (const [status, codes] of routeProblemStatuses(route)) {
      if (responses[status]) continue;
      const entry: Json = {
        description: codes.map((c) => `\`${c}\` (${ERROR_TITLE[c]})`).join(', '),
        content: { 'application/problem+json': { schema: { $ref: `${REF_PREFIX}Problem` } } },
      };
      if (status === 405) entry.headers = { Allow: { $ref: '#/components/headers/Allow' } };
      if (status === 429) entry.headers = { 'Retry-After': { $ref: '#/components/headers/Retry-After' } };
      if (status === 401) entry.headers = { 'WWW-Authenticate': { $ref: '#/components/headers/WWW-Authenticate' } };
      responses[String(status)] = entry;
    }
    const sortedResponses = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)));
    const op: Json = {
      operationId: route.operationId,
      summary: route.summary,
      description:
        route.role === 'anonymous'
          ? 'No token needed.'
          : route.role === 'token'
            ? 'Any token.'
            : typeof route.role === 'string'
              ? `Role: ${route.role}${route.role === 'admin' ? '' : ' (admin holds every role)'}.`
              : `Roles: ${route.role.join(' or ')} (admin holds every role).`,
      tags: [route.tag],
      security: route.role === 'anonymous' ? [] : [{ bearer: [] }, { session: [] }],
      responses: sortedResponses,
    };
    const parameters = parametersOf(route);
    if (parameters.length > 0) op.parameters = parameters;
    if (route.body) {
      const schema = convert(route.body, `${route.operationId}Body`);
      op.requestBody = {
        required: !route.bodyOptional,
        content: Object.fromEntries((route.bodyTypes ?? ['application/json']).map((t) => [t, { schema }])),
      };
    }
    paths[route.path] = { ...(paths[route.path] ?? {}), [route.method]: op };
  }

  const tags = [...new Set(routes.map((r) => r.tag))].map((name) => ({ name, description: TAG_DESCRIPTIONS[name] ?? name }));
  return {
    openapi: '3.1.0',
    info: {
      title: 'Orderflow API',
      version: '1',
      description:
        'Workflow engine for orders, subscriptions, reservations and service requests. Authenticate with `Authorization: Bearer <token>`. Roles: admin (everything), designer (workflows, rules, templates), operator (orders), viewer (read only). Every 4xx is an `application/problem+json` document with a stable `code`.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: 'http://127.0.0.1:3000', description: 'A local server (`npm start`)' }],
    tags,
    paths,
    webhooks: WEBHOOKS,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API token (`orderflow token create`)' },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: 'orderflow_session',
          description: 'The web UI session from `POST /api/v1/session`; changes also need the header `x-orderflow-csrf: 1`.',
        },
      },
      headers: RESPONSE_HEADERS,
      schemas: Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b))),
    },
  };
}

/** What Orderflow sends to a webhook URL or endpoint (Standard Webhooks), for receivers to build against. */
const WEBHOOKS: Json = {
  orderEvent: {
    post: {
      operationId: 'receiveOrderEvent',
      summary: "An order event, sent by a rule's webhook action",
      description:
        "Sent for `order.created`, `order.state_changed`, `order.event_received`, `order.fact_recorded`, `order.time_in_state` and `order.rule_failed`, unless the action gives a body template. Verify the signature with any Standard Webhooks library and the endpoint's `whsec_…` secret; deduplicate by `webhook-id` (delivery is at least once). Answer 2xx within the timeout; 410 disables a named endpoint; other answers are retried with backoff, honouring `Retry-After`.",
      tags: ['deliveries'],
      // Authenticated by its signature headers, not by a token of this API.
      security: [],
      parameters: [
        {
          name: 'webhook-id',
          in: 'header',
          required: true,
          description: 'The delivery id: the same on every retry',
          schema: { type: 'string' },
        },
        {
          name: 'webhook-timestamp',
          in: 'header',
          required: true,
          description: 'Unix seconds of this attempt',
          schema: { type: 'string' },
        },
        {
          name: 'webhook-signature',
          in: 'header',
          required: true,
          description: '`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`',
          schema: { type: 'string' },
        },
      ],
      requestBody: { required: true, content: { 'application/json': { schema: { $ref: `${REF_PREFIX}EventEnvelope` } } } },
      responses: { '200': { description: 'Received (any 2xx)' }, '410': { description: 'Gone: the endpoint is disabled' } },
    },
  },
};

const TAG_DESCRIPTIONS: Record<string, string> = {
  operations: 'Health, readiness, metrics, this document and dashboard figures',
  session: 'Sign-in of the web UI',
  workflows: 'Workflow definitions, drafts, validation, publishing, versions and migration',
  orders: 'Orders, their transitions, data, facts, events and history',
  templates: 'Email templates',
  deliveries: 'Emails, webhooks and notifications leaving through the outbox',
  endpoints: 'Named webhook endpoints',
  timers: 'Pending timers',
  automation: 'Rule runs and the automation kill switch',
  notifications: 'In-app notifications',
  mailbox: 'The built-in mailbox',
  tokens: 'API tokens',
};

/** Serves the OpenAPI document at `/docs/json` and `/docs/openapi.json`, and a browsable page at `/docs`. */
export async function registerDocs(app: FastifyInstance): Promise<void> {
  const document = openApiDocument();
  await app.register(fastifySwagger, { mode: 'static', specification: { document: document as never } });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  app.get('/docs/openapi.json', async () => document);
}
