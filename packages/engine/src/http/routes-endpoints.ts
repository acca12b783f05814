import { EndpointBody, type EventEnvelope, Slug } from '@orderflow/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { decodeWebhookSecret } from '../actions/webhook.js';
import { ApiError } from '../errors.js';
import { deleteEndpoint, type EndpointRow, getEndpointRow, insertEndpoint, listEndpoints, updateEndpoint } from '../store/endpoints.js';
import { REDACTED } from '../worker/prepare.js';
import { generateWebhookSecret } from '../worker/settings.js';
import { assertUnused } from '../workflows.js';
import { requireRole } from './auth.js';
import type { AppDeps, OpsDeps } from './deps.js';
import { parse } from './parse.js';
import { sampleOrder } from './sample-order.js';

const keyParams = z.object({ key: Slug });
/** The contract's endpoint body, and a secret that really decodes to at least 16 bytes. */
const EndpointInput = EndpointBody.refine(
  (b) => {
    if (b.secret === undefined) return true;
    try {
      decodeWebhookSecret(b.secret);
      return true;
    } catch {
      return false;
    }
  },
  { path: ['secret'], message: 'must be whsec_ followed by base64 of at least 16 bytes' },
);

/** An endpoint as the API shows it: the secret never leaves the server. */
function endpointView(r: EndpointRow) {
  return {
    key: r.key,
    url: r.url,
    // A named endpoint's headers are stored but never returned: only their names show.
    headers: Object.fromEntries(Object.keys(JSON.parse(r.headers_json) as Record<string, string>).map((k) => [k, REDACTED])),
    enabled: Number(r.enabled) === 1,
    secretSet: true,
    consecutiveFailures: Number(r.consecutive_failures),
    disabledReason: r.disabled_reason,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Webhook endpoints: named destinations whose secret and header values never leave the server. */
export function registerEndpointRoutes(api: FastifyInstance, deps: AppDeps, ops: Pick<OpsDeps, 'senders'>): void {
  const { store, clock, newId } = deps;
  const db = store.db;
  const nowIso = () => clock.now().toISOString();

  async function loadEndpoint(key: string): Promise<EndpointRow> {
    const r = await getEndpointRow(db, key);
    if (!r) throw new ApiError('not_found', `Endpoint "${key}" does not exist.`);
    return r;
  }

  api.get('/endpoints', async (req) => {
    requireRole(req, 'viewer');
    const rows = await listEndpoints(db);
    return { items: rows.map(endpointView), nextCursor: null };
  });

  api.post('/endpoints', async (req, reply) => {
    requireRole(req, 'designer');
    const body = parse(EndpointInput, req.body);
    if (!body.key)
      throw new ApiError('validation_failed', 'The endpoint needs a key.', { errors: [{ path: 'body.key', message: 'is required' }] });
    const now = nowIso();
    if (await getEndpointRow(db, body.key)) {
      throw new ApiError('conflict', `Endpoint "${body.key}" already exists; use PUT /endpoints/${body.key} to change it.`);
    }
    await insertEndpoint(db, {
      key: body.key,
      url: body.url,
      secret: body.secret ?? generateWebhookSecret(),
      headers: body.headers ?? {},
      enabled: body.enabled !== false,
      now,
    });
    reply.code(201).header('location', `/api/v1/endpoints/${body.key}`);
    return endpointView(await loadEndpoint(body.key));
  });

  api.get('/endpoints/:key', async (req) => {
    requireRole(req, 'viewer');
    const { key } = parse(keyParams, req.params, 'path');
    return endpointView(await loadEndpoint(key));
  });

  api.put('/endpoints/:key', async (req, reply) => {
    requireRole(req, 'designer');
    const { key } = parse(keyParams, req.params, 'path');
    const body = parse(EndpointInput, req.body);
    if (body.key !== undefined && body.key !== key) {
      throw new ApiError('validation_failed', 'The body key does not match the URL.', {
        errors: [{ path: 'body.key', message: `must be "${key}"` }],
      });
    }
    const now = nowIso();
    const existing = await getEndpointRow(db, key);
    if (!existing) {
      await insertEndpoint(db, {
        key,
        url: body.url,
        secret: body.secret ?? generateWebhookSecret(),
        headers: body.headers ?? {},
        enabled: body.enabled !== false,
        now,
      });
      reply.code(201).header('location', `/api/v1/endpoints/${key}`);
      return endpointView(await loadEndpoint(key));
    }
    // A redacted value sent back unchanged (an edit form) keeps the stored one.
    const stored = JSON.parse(existing.headers_json) as Record<string, string>;
    const headers = Object.fromEntries(
      Object.entries(body.headers ?? {}).map(([k, v]) => [k, v === REDACTED && stored[k] !== undefined ? stored[k] : v]),
    );
    const enabled = body.enabled ?? Number(existing.enabled) === 1;
    const reEnabled = enabled && Number(existing.enabled) !== 1;
    await updateEndpoint(db, key, {
      url: body.url,
      headers_json: JSON.stringify(headers),
      enabled: enabled ? 1 : 0,
      updated_at: now,
      ...(body.secret ? { secret: body.secret } : {}),
      ...(reEnabled ? { consecutive_failures: 0, disabled_reason: null } : {}),
      ...(!enabled && Number(existing.enabled) === 1 ? { disabled_reason: 'disabled by hand' } : {}),
    });
    return endpointView(await loadEndpoint(key));
  });

  api.delete('/endpoints/:key', async (req, reply) => {
    requireRole(req, 'designer');
    const { key } = parse(keyParams, req.params, 'path');
    await store.transaction(async (tx) => {
      await assertUnused(tx, 'endpoint', key);
      if (!(await deleteEndpoint(tx, key))) throw new ApiError('not_found', `Endpoint "${key}" does not exist.`);
    });
    return reply.code(204).send();
  });

  api.post('/endpoints/:key/test', async (req) => {
    requireRole(req, 'designer');
    const { key } = parse(keyParams, req.params, 'path');
    const ep = await loadEndpoint(key);
    const now = clock.now();
    const envelope: EventEnvelope = {
      id: newId('evt'),
      type: 'endpoint.test',
      createdAt: now.toISOString(),
      data: { order: sampleOrder(now.toISOString()), from: 'shipping', to: 'delayed' },
    };
    const deliveryId = newId('dlv');
    const outcome = await ops.senders().webhook.send({
      deliveryId,
      url: ep.url,
      method: 'POST',
      headers: JSON.parse(ep.headers_json) as Record<string, string>,
      body: JSON.stringify(envelope),
      secret: ep.secret,
      timestamp: Math.floor(now.getTime() / 1000),
    });
    return {
      ok: outcome.ok,
      deliveryId,
      status: outcome.status ?? null,
      durationMs: outcome.durationMs,
      responseBody: outcome.responseBody ?? null,
      error: outcome.ok ? null : outcome.error,
    };
  });
}
