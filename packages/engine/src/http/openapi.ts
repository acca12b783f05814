import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { definitionJsonSchema } from '@orderflow/core';
import type { FastifyInstance } from 'fastify';

type Op = [method: string, path: string, summary: string, role: string, body?: string];

/** Every public route, documented once. */
const OPERATIONS: Op[] = [
  ['post', '/session', 'Sign in with a token (sets an HttpOnly session cookie for the web UI)', 'anonymous', 'Session'],
  ['get', '/session', 'Who am I', 'viewer'],
  ['delete', '/session', 'Sign out', 'anonymous'],
  ['get', '/workflows', 'List workflows with order counts per group', 'viewer'],
  ['post', '/workflows', 'Create a workflow from a definition (the draft; ?publish=true publishes at once)', 'designer', 'Definition'],
  ['get', '/workflows/{key}', 'Get a workflow (?version=N, ?draft=true)', 'viewer'],
  ['put', '/workflows/{key}/draft', 'Replace the draft; answers the stored draft and its problems', 'designer', 'Definition'],
  ['post', '/workflows/{key}/validate', 'Validate a definition without storing it', 'viewer', 'Definition'],
  ['post', '/workflows/{key}/publish', 'Publish the draft as a new immutable version (422 when it has errors)', 'designer'],
  ['get', '/workflows/{key}/versions', 'List published versions', 'viewer'],
  ['post', '/workflows/{key}/impact', 'What publishing the draft would change for orders in flight', 'viewer'],
  ['post', '/orders', 'Create an order (honours Idempotency-Key)', 'operator', 'CreateOrder'],
  [
    'get',
    '/orders',
    'List orders (workflow, state, group, kind, externalRef, q, createdAfter, createdBefore, limit ≤ 500, cursor)',
    'viewer',
  ],
  ['get', '/orders/{id}', 'Get an order (ETag: "<version>")', 'viewer'],
  ['get', '/orders/{id}/transitions', 'Every transition out of the current state, allowed or blocked with reasons', 'viewer'],
  ['post', '/orders/{id}/transitions', 'Move the order (If-Match or expectedVersion; Idempotency-Key)', 'operator', 'Transition'],
  ['post', '/orders/{id}/transitions/preview', 'Everything a transition would do, storing nothing', 'viewer', 'Transition'],
  ['patch', '/orders/{id}/data', 'JSON merge patch of the order data', 'operator', 'Object'],
  ['post', '/orders/{id}/facts', 'Record a criterion', 'operator', 'Fact'],
  ['post', '/orders/{id}/events', 'Post an external event; runs event_received rules', 'operator', 'Event'],
  ['get', '/orders/{id}/history', 'The order history (append-only)', 'viewer'],
  ['get', '/orders/{id}/deliveries', 'Deliveries of the order', 'viewer'],
  [
    'post',
    '/orders/{id}/migrate',
    'Move the order to a newer workflow version ({ toVersion, stateMap?, timers?: keep|recompute|cancel })',
    'operator',
  ],
  ['post', '/workflows/{key}/migrate', 'Migrate orders in bulk ({ toVersion, stateMap?, timers?, filter? })', 'operator'],
  ['get', '/templates', 'List email templates', 'viewer'],
  ['get', '/templates/{key}', 'Get a template', 'viewer'],
  ['put', '/templates/{key}', 'Create or replace a template', 'designer', 'Template'],
  ['delete', '/templates/{key}', 'Delete a template', 'designer'],
  ['post', '/templates/{key}/preview', 'Render a template against an order or sample data', 'viewer'],
  ['get', '/deliveries', 'List deliveries (status, type, orderId)', 'viewer'],
  ['get', '/deliveries/{id}', 'A delivery with every attempt', 'viewer'],
  ['post', '/deliveries/{id}/retry', 'Retry one delivery now', 'operator'],
  ['post', '/deliveries/retry', 'Retry deliveries in bulk by filter', 'operator'],
  ['get', '/endpoints', 'List webhook endpoints', 'viewer'],
  ['post', '/endpoints', 'Create a webhook endpoint', 'designer'],
  ['get', '/endpoints/{key}', 'Get an endpoint', 'viewer'],
  ['put', '/endpoints/{key}', 'Replace an endpoint', 'designer'],
  ['delete', '/endpoints/{key}', 'Delete an endpoint', 'designer'],
  ['post', '/endpoints/{key}/test', 'Send a signed sample event', 'designer'],
  ['get', '/timers', 'Pending timers (orderId, due_before)', 'viewer'],
  ['patch', '/timers/{id}', 'Reschedule a timer ({ dueAt })', 'operator'],
  ['delete', '/timers/{id}', 'Cancel a timer', 'operator'],
  ['get', '/runs', 'Rule execution log (orderId, rule)', 'viewer'],
  ['post', '/automation/pause', 'Pause automation (global, or ?rule=)', 'admin'],
  ['post', '/automation/resume', 'Resume automation (global, or ?rule=)', 'admin'],
  ['get', '/notifications', 'Notifications, unread first', 'viewer'],
  ['post', '/notifications/{id}/read', 'Mark a notification read', 'viewer'],
  ['get', '/notifications/stream', 'Live notifications (Server-Sent Events)', 'viewer'],
  ['get', '/mailbox', 'The built-in mailbox', 'viewer'],
  ['get', '/mailbox/{id}', 'One message of the built-in mailbox', 'viewer'],
  ['get', '/stats', 'Counts per state and group, cancellation reasons, median time in state', 'viewer'],
];

const problem = { $ref: '#/components/schemas/Problem' };

/** The OpenAPI 3.1 document. */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [method, path, summary, role, body] of OPERATIONS) {
    const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const op: Record<string, unknown> = {
      summary,
      description: `Role: ${role}.`,
      tags: [path.split('/')[1]],
      parameters: params,
      responses: {
        '200': { description: 'OK', content: { 'application/json': { schema: { type: 'object' } } } },
        '4XX': {
          description: 'A problem document (RFC 9457) with a stable `code`',
          content: { 'application/problem+json': { schema: problem } },
        },
      },
    };
    if (role !== 'anonymous') op.security = [{ bearer: [] }];
    if (body) op.requestBody = { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${body}` } } } };
    paths[`/api/v1${path}`] = { ...(paths[`/api/v1${path}`] ?? {}), [method]: op };
  }
  const definition = definitionJsonSchema();
  delete definition.$schema;
  return {
    openapi: '3.1.0',
    info: {
      title: 'Orderflow API',
      version: '1',
      description:
        'Workflow engine for orders, subscriptions, reservations and service requests. Authenticate with `Authorization: Bearer <token>`. Roles: admin (everything), designer (workflows, rules, templates), operator (orders), viewer (read only). Errors are `application/problem+json` with a stable `code`.',
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Problem: {
          type: 'object',
          required: ['type', 'title', 'status', 'code'],
          properties: {
            type: { type: 'string' },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string' },
            code: { type: 'string' },
            errors: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
            missing: { type: 'array', items: { type: 'string' } },
          },
        },
        Definition: definition,
        Session: { type: 'object', required: ['token'], properties: { token: { type: 'string' } } },
        CreateOrder: {
          type: 'object',
          required: ['workflow'],
          properties: {
            workflow: { type: 'string' },
            kind: { type: 'string' },
            externalRef: { type: 'string' },
            data: { type: 'object' },
            state: { type: 'string' },
          },
        },
        Transition: {
          type: 'object',
          required: ['to'],
          properties: {
            to: { type: 'string' },
            reason: { type: 'object', properties: { initiator: { enum: ['customer', 'provider'] }, code: { type: 'string' } } },
            note: { type: 'string' },
            facts: { type: 'array', items: { type: 'string' } },
            force: { type: 'boolean' },
            expectedVersion: { type: 'integer' },
          },
        },
        Fact: { type: 'object', required: ['fact'], properties: { fact: { type: 'string' }, evidence: {} } },
        Event: { type: 'object', required: ['type'], properties: { type: { type: 'string' }, data: {} } },
        Template: {
          type: 'object',
          required: ['subject', 'html'],
          properties: { subject: { type: 'string' }, html: { type: 'string' }, text: { type: 'string' }, description: { type: 'string' } },
        },
        Object: { type: 'object' },
      },
    },
  };
}

/** Serves the OpenAPI document at `/docs/json` and `/docs/openapi.json`, and a browsable page at `/docs`. */
export async function registerDocs(app: FastifyInstance): Promise<void> {
  const document = openApiDocument();
  await app.register(fastifySwagger, { mode: 'static', specification: { document: document as never } });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  app.get('/docs/openapi.json', async () => document);
}
