import type { ServerResponse } from 'node:http';
import {
  AutomationQuery,
  type Definition,
  DeliveryQuery,
  EndpointBody,
  type EventEnvelope,
  GROUPS,
  type Group,
  Id,
  MailboxQuery,
  NotificationQuery,
  type Order,
  RescheduleTimerBody,
  RetryDeliveriesBody,
  RetryDeliveryBody,
  RunQuery,
  ruleIdOf,
  Slug,
  TemplatePreviewBody,
  TimerQuery,
  WorkflowKey,
} from '@orderflow/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { type RenderedEmail, TemplateError, type TemplateRenderer, templateVars } from '../actions/template.js';
import { decodeWebhookSecret } from '../actions/webhook.js';
import { ApiError } from '../errors.js';
import type { RenderPool } from '../runtime/render-pool.js';
import { editTimer } from '../runtime/timer-edits.js';
import * as deliveriesStore from '../store/deliveries.js';
import { deleteEndpoint, type EndpointRow, getEndpointRow, insertEndpoint, listEndpoints, updateEndpoint } from '../store/endpoints.js';
import { getMail, listMail } from '../store/mailbox.js';
import { getNotification, listNotifications, markNotificationRead, notificationsSince, rowToNotification } from '../store/notifications.js';
import * as repo from '../store/repo.js';
import { cancellations, countOrdersByGroup, stateEntries } from '../store/stats.js';
import { getTemplate } from '../store/templates.js';
import { listTimerPage } from '../store/timers.js';
import type { Metrics } from '../worker/metrics.js';
import type { Notification, NotificationBus } from '../worker/notifications.js';
import { REDACTED } from '../worker/prepare.js';
import { type AutomationTarget, generateWebhookSecret, getAutomation, pauseAutomation, resumeAutomation } from '../worker/settings.js';
import type { Worker, WorkerSenders } from '../worker/worker.js';
import { assertUnused } from '../workflows.js';
import { type AppDeps, requireRole } from './app.js';
import { decodeCursor, pageOf, parse } from './parse.js';
import { callerOf } from './routes-orders.js';

/** What the operations routes need besides the app's own dependencies. */
export interface OpsDeps {
  notifications: NotificationBus;
  renderer: TemplateRenderer;
  /** Render threads for template previews (rendering stays in this thread without them). */
  renderPool?: RenderPool;
  /** Template previews per token (or address) and minute. @default 60 */
  previewsPerMinute?: number;
  /** The webhook sender for `POST /endpoints/:key/test`. */
  senders: () => Pick<WorkerSenders, 'webhook'>;
  /** The in-process worker, woken when work is made due (retry, resume, reschedule). */
  worker?: Worker;
  metrics?: Metrics;
  /** How often the notification stream looks for notifications stored by other processes. @default 1000 */
  streamPollMs?: number;
  /** Heartbeat comment interval of the notification stream. @default 15000 */
  heartbeatMs?: number;
}

// Request schemas are the wire contract's (core api.ts); the server adds what needs its own code.
const idParams = z.object({ id: Id });
const keyParams = z.object({ key: Slug });
const toIso = (s: string): string => new Date(s).toISOString();
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

function mailView(r: {
  id: string;
  delivery_id: string | null;
  to_json: string;
  cc_json: string;
  subject: string;
  html: string;
  text: string | null;
  message_id: string;
  created_at: string;
}) {
  const cc = JSON.parse(r.cc_json) as string[];
  return {
    id: r.id,
    to: (JSON.parse(r.to_json) as string[]).join(', '),
    cc: cc.length > 0 ? cc.join(', ') : null,
    subject: r.subject,
    html: r.html,
    text: r.text ?? '',
    messageId: r.message_id,
    deliveryId: r.delivery_id,
    createdAt: r.created_at,
  };
}

const SAMPLE_DATA = {
  customer: { name: 'Ada Lovelace', email: 'ada@example.com' },
  items: [{ sku: 'SKU-101', name: 'Desk lamp', qty: 1 }],
  total: 49.9,
  currency: 'EUR',
  deliveryEstimate: '2026-01-08',
  feedbackUrl: 'https://shop.example.com/feedback/SAMPLE-1001',
  loyaltyPoints: 50,
};

/** An order for previews: a plausible sample, overlaid with what the caller gave. */
export function sampleOrder(now: string, overlay: Partial<Order> = {}, data?: Record<string, unknown>): Order {
  return {
    id: 'ord_SAMPLE',
    workflow: 'orders',
    workflowVersion: 1,
    kind: 'order',
    externalRef: 'SAMPLE-1001',
    state: 'delayed',
    group: 'processing',
    facts: {},
    cancellation: null,
    links: [],
    version: 1,
    visit: 1,
    createdAt: now,
    updatedAt: now,
    stateEnteredAt: now,
    ...overlay,
    data: { ...SAMPLE_DATA, ...(overlay.data ?? {}), ...(data ?? {}) },
  };
}

/** Checks that a template parses and renders against sample data; throws `validation_failed`. */
export function validateTemplateSource(renderer: TemplateRenderer, t: { subject: string; html: string; text?: string | null }): void {
  const now = new Date().toISOString();
  const vars = templateVars({
    id: 'evt_sample',
    type: 'order.state_changed',
    createdAt: now,
    data: { order: sampleOrder(now), from: 'shipping', to: 'delayed' },
  });
  const errors: { path: string; message: string }[] = [];
  if (/[\r\n\0]/.test(t.subject)) errors.push({ path: 'body.subject', message: 'must be a single line (no CR, LF or NUL)' });
  const parts: [string, string, boolean][] = [
    ['subject', t.subject, false],
    ['html', t.html, true],
  ];
  if (typeof t.text === 'string') parts.push(['text', t.text, false]);
  for (const [path, source, html] of parts) {
    try {
      renderer.render(source, vars, { escape: html });
    } catch (err) {
      errors.push({ path: `body.${path}`, message: err instanceof Error ? err.message : String(err) });
    }
  }
  if (errors.length > 0)
    throw new ApiError('validation_failed', `The template is not valid: ${errors[0]?.path} ${errors[0]?.message}`, { errors });
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : Math.round(((s[mid - 1] as number) + (s[mid] as number)) / 2);
}

/** SPEC §5.3 and §5.5: deliveries, endpoints, timers, runs, automation, notifications, mailbox, template preview, stats. */
/** Adds each delivery's recipient and subject (`summary`) when the app can render them. */
export async function withSummaries<T extends repo.Delivery>(deps: AppDeps, items: T[]): Promise<(T & { summary?: unknown })[]> {
  const summarize = deps.summarizeDelivery;
  if (!summarize) return items;
  return Promise.all(
    items.map(async (d) =>
      d.action && d.envelope ? { ...d, summary: await summarize({ id: d.id, action: d.action, envelope: d.envelope }) } : d,
    ),
  );
}

export function createOpsRoutes(ops: OpsDeps): (api: FastifyInstance, deps: AppDeps) => void {
  return (api, deps) => registerOpsRoutes(api, deps, ops);
}

function registerOpsRoutes(api: FastifyInstance, deps: AppDeps, ops: OpsDeps): void {
  const { store, clock, newId } = deps;
  const db = store.db;
  const nowIso = () => clock.now().toISOString();

  if (ops.metrics) {
    const metrics = ops.metrics;
    api.addHook('onResponse', async (req, reply) => {
      metrics.httpRequest(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    });
  }

  // ---------- deliveries ----------

  api.get('/deliveries', async (req) => {
    requireRole(req, 'viewer');
    const q = parse(DeliveryQuery, req.query, 'query');
    const cursor = q.cursor ? decodeCursor(q.cursor, 1)[0] : undefined;
    const rows = await repo.listDeliveries(db, {
      ...(q.status ? { status: q.status } : {}),
      ...(q.type ? { type: q.type } : {}),
      ...(q.orderId ? { orderId: q.orderId } : {}),
      ...(cursor ? { cursor } : {}),
      limit: q.limit + 1,
    });
    const page = pageOf(rows, q.limit, (last) => [last.id]);
    return { ...page, items: await withSummaries(deps, page.items) };
  });

  api.get('/deliveries/:id', async (req) => {
    requireRole(req, 'viewer');
    const { id } = parse(idParams, req.params, 'path');
    const d = await repo.getDelivery(db, id);
    if (!d) throw new ApiError('not_found', `Delivery ${id} does not exist.`);
    const [withSummary] = await withSummaries(deps, [d]);
    return { ...withSummary, attemptLog: await repo.listDeliveryAttempts(db, id) };
  });

  api.post('/deliveries/:id/retry', async (req) => {
    requireRole(req, 'operator');
    const { id } = parse(idParams, req.params, 'path');
    const { force } = parse(RetryDeliveryBody, req.body ?? {});
    if (force) requireRole(req, 'admin');
    const now = nowIso();
    await store.transaction(async (tx) => {
      const row = await deliveriesStore.getDeliveryLease(tx, id);
      if (!row) throw new ApiError('not_found', `Delivery ${id} does not exist.`);
      if (row.status === 'delivered' && !force) {
        throw new ApiError('conflict', `Delivery ${id} was already delivered; an admin can send it again with { "force": true }.`);
      }
      if (row.status === 'pending' && row.lease_until !== null && row.lease_until > now) {
        throw new ApiError('conflict', `Delivery ${id} is being sent right now; look again in a moment.`);
      }
      await deliveriesStore.requeueDelivery(tx, id, now);
    });
    ops.worker?.wake();
    return repo.getDelivery(db, id);
  });

  api.post('/deliveries/retry', async (req) => {
    requireRole(req, 'operator');
    const body = parse(RetryDeliveriesBody, req.body ?? {});
    if (!body.ids && !body.status) {
      throw new ApiError('validation_failed', 'Give ids, or a status (failed or dead) to retry by filter.', {
        errors: [{ path: 'body', message: 'needs ids or status' }],
      });
    }
    const now = nowIso();
    const retried = await deliveriesStore.requeueDeliveries(
      db,
      {
        statuses: body.status ? [body.status] : ['failed', 'dead'],
        ...(body.ids ? { ids: body.ids } : {}),
        ...(body.type ? { type: body.type } : {}),
      },
      now,
    );
    ops.worker?.wake();
    return { retried };
  });

  // ---------- endpoints ----------

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
      reply.code(201);
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

  // ---------- timers ----------

  api.get('/timers', async (req) => {
    requireRole(req, 'viewer');
    const parsed = parse(TimerQuery, req.query, 'query');
    const q = { ...parsed, due_before: parsed.due_before === undefined ? undefined : toIso(parsed.due_before) };
    const cursor = q.cursor ? (decodeCursor(q.cursor, 2) as [string, string]) : undefined;
    const rows = await listTimerPage(db, {
      status: q.status,
      ...(q.orderId ? { orderId: q.orderId } : {}),
      ...(q.due_before ? { dueBefore: q.due_before } : {}),
      ...(cursor ? { cursor: { dueAt: cursor[0], id: cursor[1] } } : {}),
      limit: q.limit + 1,
    });
    const timers = rows.map((r) => ({ ...repo.rowToTimer(r), createdAt: r.created_at, firedAt: r.fired_at }));
    return pageOf(timers, q.limit, (last) => [last.dueAt, last.id]);
  });

  // Edits by hand write a history entry on the order (actor, old and new due time).
  const timerEdit = (req: FastifyRequest, id: string, dueAt: string | null) =>
    editTimer(deps.store, {
      id,
      dueAt,
      actor: callerOf(requireRole(req, 'operator')).actor,
      now: deps.clock.now().toISOString(),
      newId: deps.newId,
    });

  api.delete('/timers/:id', async (req, reply) => {
    requireRole(req, 'operator');
    const { id } = parse(idParams, req.params, 'path');
    await timerEdit(req, id, null);
    return reply.code(204).send();
  });

  api.patch('/timers/:id', async (req) => {
    requireRole(req, 'operator');
    const { id } = parse(idParams, req.params, 'path');
    const body = parse(RescheduleTimerBody, req.body);
    body.dueAt = toIso(body.dueAt);
    const timer = await timerEdit(req, id, body.dueAt);
    ops.worker?.wake();
    return timer;
  });

  // ---------- rule runs and automation ----------

  api.get('/runs', async (req) => {
    requireRole(req, 'viewer');
    const q = parse(RunQuery, req.query, 'query');
    const cursor = q.cursor ? decodeCursor(q.cursor, 1)[0] : undefined;
    const rows = await repo.listRuleRuns(db, {
      ...(q.orderId ? { orderId: q.orderId } : {}),
      ...(q.rule ? { rule: q.rule } : {}),
      ...(cursor ? { cursor } : {}),
      limit: q.limit + 1,
    });
    return pageOf(rows, q.limit, (last) => [last.id]);
  });

  api.get('/automation', async (req) => {
    requireRole(req, 'viewer');
    return getAutomation(db);
  });
  /** The workflow or rule a pause names; unknown ones are 404. */
  async function automationTarget(query: unknown): Promise<AutomationTarget> {
    const q = parse(AutomationQuery, query, 'query');
    if (q.workflow !== undefined && q.rule !== undefined) {
      throw new ApiError('validation_failed', 'Give workflow or rule, not both.', {
        errors: [{ path: 'query', message: 'workflow and rule exclude each other' }],
      });
    }
    const workflow = q.workflow ?? q.rule?.split(':')[0];
    if (workflow === undefined) return undefined;
    const wf = await repo.getWorkflow(db, workflow);
    if (!wf) throw new ApiError('not_found', `Workflow "${workflow}" does not exist.`);
    if (q.rule === undefined) return { workflow };
    const rule = q.rule.slice(workflow.length + 1);
    const known = [wf.definition, wf.draft].some((d) => (d?.rules ?? []).some((r, i) => ruleIdOf(r, i) === rule));
    if (!known) throw new ApiError('not_found', `Workflow "${workflow}" has no rule "${rule}" (published or draft).`);
    return { workflow, rule };
  }

  api.post('/automation/pause', async (req) => {
    requireRole(req, 'admin');
    const target = await automationTarget(req.query);
    const state = await pauseAutomation(db, target);
    req.log.warn({ target: target ?? 'all' }, 'automation paused');
    return state;
  });
  api.post('/automation/resume', async (req) => {
    requireRole(req, 'admin');
    const target = await automationTarget(req.query);
    const state = await resumeAutomation(db, target);
    req.log.info({ target: target ?? 'all' }, 'automation resumed');
    ops.worker?.wake();
    return state;
  });

  // ---------- notifications ----------

  api.get('/notifications', async (req) => {
    requireRole(req, 'viewer');
    const q = parse(NotificationQuery, req.query, 'query');
    const cursor = q.cursor ? (decodeCursor(q.cursor, 2) as [string, string]) : undefined;
    const rows = await listNotifications(db, {
      ...(q.unread === 'true' ? { unread: true } : q.unread === 'false' ? { unread: false } : {}),
      ...(q.channel ? { channel: q.channel } : {}),
      ...(cursor ? { cursor: { unread: cursor[0] === '1', id: cursor[1] } } : {}),
      limit: q.limit + 1,
    });
    return pageOf(rows.map(rowToNotification), q.limit, (last) => [last.readAt === null ? '1' : '0', last.id]);
  });

  api.post('/notifications/:id/read', async (req) => {
    // Marking read changes nothing but the inbox; every signed-in role may (as documented).
    requireRole(req, 'viewer');
    const { id } = parse(idParams, req.params, 'path');
    await markNotificationRead(db, id, nowIso());
    const row = await getNotification(db, id);
    if (!row) throw new ApiError('not_found', `Notification ${id} does not exist.`);
    return rowToNotification(row);
  });

  const streams = new Set<ServerResponse>();
  api.addHook('preClose', async () => {
    for (const s of streams) s.end();
    streams.clear();
  });

  api.get('/notifications/stream', async (req, reply) => {
    requireRole(req, 'viewer');
    const lastEventId = typeof req.headers['last-event-id'] === 'string' ? req.headers['last-event-id'].slice(0, 64) : undefined;
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-content-type-options': 'nosniff',
    });
    raw.write('retry: 3000\n: connected\n\n');
    streams.add(raw);
    const sent: string[] = [];
    const seen = new Set<string>();
    const send = (n: Notification) => {
      if (seen.has(n.id) || raw.writableEnded) return;
      seen.add(n.id);
      sent.push(n.id);
      if (sent.length > 2000) seen.delete(sent.shift() as string);
      raw.write(`id: ${n.id}\nevent: notification\ndata: ${JSON.stringify(n)}\n\n`);
    };
    const off = ops.notifications.subscribe(send);
    // Other processes (a separate worker) store notifications too: look at the table as well.
    let since = new Date(clock.now().getTime() - 5000).toISOString();
    let afterId = lastEventId;
    let polling = false;
    const poll = async () => {
      if (polling || raw.writableEnded) return;
      polling = true;
      try {
        const rows = await notificationsSince(db, { ...(afterId ? { afterId } : {}), since, limit: 100 });
        afterId = undefined;
        for (const r of rows) {
          send(rowToNotification(r));
          if (r.created_at > since) since = r.created_at;
        }
      } catch {
        // The database is busy or closing; the next poll tries again.
      } finally {
        polling = false;
      }
    };
    void poll();
    const pollTimer = setInterval(() => void poll(), ops.streamPollMs ?? 1000);
    const heartbeat = setInterval(() => {
      if (!raw.writableEnded) raw.write(': ping\n\n');
    }, ops.heartbeatMs ?? 15_000);
    const cleanup = () => {
      clearInterval(pollTimer);
      clearInterval(heartbeat);
      off();
      streams.delete(raw);
    };
    req.raw.on('close', cleanup);
    raw.on('close', cleanup);
  });

  // ---------- mailbox ----------

  api.get('/mailbox', async (req) => {
    requireRole(req, 'viewer');
    const q = parse(MailboxQuery, req.query, 'query');
    const before = q.cursor ? (decodeCursor(q.cursor, 1)[0] as string) : undefined;
    const rows = await listMail(db, {
      ...(q.deliveryId ? { deliveryId: q.deliveryId } : {}),
      ...(before ? { before } : {}),
      limit: q.limit + 1,
    });
    return pageOf(rows.map(mailView), q.limit, (last) => [last.id]);
  });

  api.get('/mailbox/:id', async (req) => {
    requireRole(req, 'viewer');
    const { id } = parse(idParams, req.params, 'path');
    const row = await getMail(db, id);
    if (!row) throw new ApiError('not_found', `Message ${id} does not exist.`);
    return mailView(row);
  });

  // ---------- template preview ----------

  async function definitionOf(order: Order): Promise<Definition | undefined> {
    try {
      return await deps.runtime.loadVersion(order.workflow, order.workflowVersion);
    } catch {
      return undefined;
    }
  }

  // Previews render arbitrary Liquid on demand: each caller gets a bounded share.
  const previewWindow = new Map<string, { count: number; resetAt: number }>();
  const previewsPerMinute = ops.previewsPerMinute ?? 60;
  function countPreview(key: string, reply: FastifyReply): void {
    const now = Date.now();
    if (previewWindow.size > 10_000) for (const [k, w] of previewWindow) if (w.resetAt <= now) previewWindow.delete(k);
    let w = previewWindow.get(key);
    if (!w || w.resetAt <= now) {
      w = { count: 0, resetAt: now + 60_000 };
      previewWindow.set(key, w);
    }
    if (++w.count > previewsPerMinute) {
      const retry = Math.max(1, Math.ceil((w.resetAt - now) / 1000));
      reply.header('retry-after', String(retry));
      throw new ApiError('rate_limited', `More than ${previewsPerMinute} template previews per minute; retry in ${retry} s.`);
    }
  }

  api.post('/templates/:key/preview', async (req, reply) => {
    const principal = requireRole(req, 'viewer');
    countPreview(principal.tokenId, reply);
    const { key } = parse(keyParams, req.params, 'path');
    const body = parse(TemplatePreviewBody, req.body ?? {});
    const source = body.template ?? (await getTemplate(db, key));
    if (!source) throw new ApiError('not_found', `Template "${key}" does not exist.`);
    const now = nowIso();
    let envelope: EventEnvelope;
    if (body.orderId) {
      const order = await repo.getOrder(db, body.orderId);
      if (!order) throw new ApiError('not_found', `Order ${body.orderId} does not exist.`);
      const history = await repo.listHistory(db, order.id);
      const last = [...history].reverse().find((h) => h.type === 'transition' && h.to === order.state);
      envelope = {
        id: 'evt_preview',
        type: 'order.state_changed',
        createdAt: now,
        data: { order, ...(last?.from ? { from: last.from } : {}), to: order.state },
      };
    } else {
      const sample = body.sample ?? {};
      const overlay = sample.order !== null && typeof sample.order === 'object' ? (sample.order as Partial<Order>) : undefined;
      const order = sampleOrder(now, overlay ?? {}, overlay ? undefined : (sample as Record<string, unknown>));
      envelope = {
        id: 'evt_preview',
        type: 'order.state_changed',
        createdAt: now,
        data: {
          order,
          ...(typeof sample.from === 'string' ? { from: sample.from } : { from: 'shipping' }),
          to: typeof sample.to === 'string' ? sample.to : order.state,
          ...(sample.event !== null && typeof sample.event === 'object' ? { event: sample.event as { type: string; data?: unknown } } : {}),
        },
      };
    }
    const definition = await definitionOf(envelope.data.order);
    const vars = templateVars(envelope, definition, { now });
    const template = { subject: source.subject, html: source.html, ...(source.text ? { text: source.text } : {}) };
    try {
      if (ops.renderPool) return await ops.renderPool.run<RenderedEmail>({ kind: 'email', template, vars });
      return ops.renderer.renderEmail(template, vars);
    } catch (err) {
      if (err instanceof TemplateError) {
        throw new ApiError('validation_failed', `The template cannot be rendered: ${err.message}`, {
          errors: [{ path: 'template', message: err.message }],
        });
      }
      throw err;
    }
  });

  // ---------- stats ----------

  api.get('/stats', async (req) => {
    requireRole(req, 'viewer');
    const q = parse(z.object({ workflow: WorkflowKey.optional() }), req.query, 'query');
    const counts = await countOrdersByGroup(db, q.workflow);
    const groups = Object.fromEntries(GROUPS.map((g) => [g, 0])) as Record<Group, number>;
    const states = new Map<string, { state: string; group: Group; count: number; workflow?: string }>();
    for (const c of counts) {
      groups[c.grp as Group] = (groups[c.grp as Group] ?? 0) + c.n;
      const k = q.workflow ? c.state : `${c.workflow}:${c.state}`;
      const s = states.get(k) ?? { state: c.state, group: c.grp as Group, count: 0, ...(q.workflow ? {} : { workflow: c.workflow }) };
      s.count += c.n;
      states.set(k, s);
    }

    const reasons = new Map<string, { initiator: string; code: string; count: number }>();
    for (const json of await cancellations(db, q.workflow)) {
      const c = JSON.parse(json) as { initiator?: string; code?: string } | null;
      if (!c?.initiator || !c.code) continue;
      const k = `${c.initiator}:${c.code}`;
      const e = reasons.get(k) ?? { initiator: c.initiator, code: c.code, count: 0 };
      e.count++;
      reasons.set(k, e);
    }

    // Time in state: from each state entry to the next one, over completed visits.
    const entries = await stateEntries(db, { ...(q.workflow ? { workflow: q.workflow } : {}), limit: 200_000 });
    const durations = new Map<string, number[]>();
    for (let i = 1; i < entries.length; i++) {
      const prev = entries[i - 1];
      const cur = entries[i];
      if (!prev || !cur || prev.orderId !== cur.orderId || !prev.to) continue;
      const ms = Date.parse(cur.at) - Date.parse(prev.at);
      if (!Number.isFinite(ms) || ms < 0) continue;
      const list = durations.get(prev.to) ?? [];
      list.push(ms);
      durations.set(prev.to, list);
    }

    // A delivery still pending after failed attempts is failing too, not fine.
    const failures = await deliveriesStore.recentFailures(db, { ...(q.workflow ? { workflow: q.workflow } : {}), limit: 10 });

    return {
      groups,
      states: [...states.values()],
      cancellations: [...reasons.values()].sort((a, b) => b.count - a.count),
      medianTimeInState: [...durations.entries()].map(([state, list]) => ({ state, ms: median(list), samples: list.length })),
      recentFailures: failures.map(repo.rowToDelivery),
    };
  });
}
