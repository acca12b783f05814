import { createHash } from 'node:crypto';
import {
  availableTransitions,
  type Command,
  CreateOrderBody,
  Cursor,
  canonicalJson,
  type Definition,
  EventBody,
  EventPreviewBody,
  FactBody,
  FactPreviewBody,
  type HistoryEntry,
  Id,
  JsonObject,
  Limit,
  MigrateOrderBody,
  OrderQuery,
  type OutboxEntry,
  TransitionBody,
  TransitionPreviewBody,
  validateDefinition,
} from '@orderflow/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../errors.js';
import type { ApplyInput, ApplyResult } from '../runtime/runtime.js';
import { getOrder } from '../store/changes.js';
import * as repo from '../store/repo.js';
import type { Store } from '../store/store.js';
import { tokenNames } from '../store/tokens.js';
import { callerOf, type Principal, requireRole } from './auth.js';
import type { AppDeps } from './deps.js';
import { ifMatchVersions, noneMatchHolds, versionTag } from './etag.js';
import { decodeCursor, instantOf, pageOf, parse } from './parse.js';
import { withSummaries } from './routes-deliveries.js';

// Request schemas are the wire contract's (core api.ts), so the document and the server agree.
const idParams = z.object({ id: Id });
const jsonObject = JsonObject;

function idempotencyOf(req: FastifyRequest, p: Principal, route: string, status = 200): ApplyInput['idempotency'] {
  const key = req.headers['idempotency-key'];
  if (key === undefined) return undefined;
  if (typeof key !== 'string' || key.length === 0 || key.length > 200) {
    throw new ApiError('bad_request', 'Idempotency-Key must be 1 to 200 characters.');
  }
  // Over canonical JSON: the same request with its keys in another order is the same request.
  const hash = createHash('sha256')
    .update(`${req.method} ${req.url}\n${canonicalJson(req.body ?? null)}`)
    .digest('hex');
  return { scope: `${p.tokenId}:${route}`, key, hash, status };
}

/**
 * The version `If-Match` demands, under strong comparison (a weak tag never matches): undefined
 * without the header or with `*`. A list is matched against the current version, read here;
 * a header no version can match is a failed precondition at once.
 */
async function ifMatchOf(req: FastifyRequest, currentVersion: () => Promise<number>): Promise<number | undefined> {
  const accepted = ifMatchVersions(req.headers['if-match']);
  // `*`: any current order; one that does not exist answers 404 from the change itself.
  if (accepted === undefined || accepted === '*') return undefined;
  if (accepted.length === 1) return accepted[0];
  const current = await currentVersion();
  if (accepted.includes(current)) return current;
  throw new ApiError(
    'version_conflict',
    accepted.length === 0
      ? `If-Match holds no strong ETag of the order (it is at ${versionTag(current)}); a weak tag (W/"…") never matches.`
      : `The order is at version ${current}, which If-Match does not list.`,
    { currentVersion: current },
    412,
  );
}

function answer(reply: FastifyReply, status: 200 | 201, r: ApplyResult) {
  if (r.replayed) reply.header('idempotent-replayed', 'true');
  return reply.code(status).send(r.body);
}

/**
 * Runs a change for a request that may carry If-Match: a stale version is then a failed
 * precondition (412), otherwise a conflict (409), as HTTP has it.
 */
async function underIfMatch(ifMatch: number | undefined, run: () => Promise<ApplyResult>): Promise<ApplyResult> {
  try {
    return await run();
  } catch (e) {
    if (ifMatch !== undefined && e instanceof ApiError && e.code === 'version_conflict') {
      throw new ApiError(e.code, e.message, e.extra, 412);
    }
    throw e;
  }
}

/** Orders: created, read, moved by commands (with previews), migrated one by one, with their history and deliveries. */
export function registerOrderRoutes(api: FastifyInstance, deps: AppDeps): void {
  const { runtime } = deps;

  api.addContentTypeParser('application/merge-patch+json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(new ApiError('bad_request', 'The body is not valid JSON.'), undefined);
    }
  });

  api.post('/orders', async (req, reply) => {
    const p = requireRole(req, 'operator');
    const body = parse(CreateOrderBody, req.body);
    const command: Command = {
      type: 'create',
      workflow: body.workflow,
      workflowVersion: 0,
      data: body.data ?? {},
      externalRef: body.externalRef ?? null,
      caller: callerOf(p),
      ...(body.kind ? { kind: body.kind } : {}),
      ...(body.state ? { state: body.state } : {}),
    };
    const r = await runtime.applyCommand({ command, idempotency: idempotencyOf(req, p, 'POST /orders', 201) });
    reply.header('location', `/api/v1/orders/${r.body.order.id}`).header('etag', versionTag(r.body.order.version));
    return answer(reply, 201, r);
  });

  api.get('/orders', async (req) => {
    requireRole(req, 'viewer');
    const q = parse(OrderQuery, req.query, 'query');
    const cursor = q.cursor ? decodeCursor(q.cursor, 2) : undefined;
    const items = await repo.listOrders(deps.store.db, deps.store.capabilities, {
      ...q,
      createdAfter: q.createdAfter ? instantOf(q.createdAfter) : undefined,
      createdBefore: q.createdBefore ? instantOf(q.createdBefore) : undefined,
      limit: q.limit + 1,
      cursor: cursor ? { createdAt: cursor[0] as string, id: cursor[1] as string } : undefined,
    });
    return pageOf(items, q.limit, (last) => [last.createdAt, last.id]);
  });

  async function loadOrder(id: string) {
    const order = await getOrder(deps.store.db, id);
    if (!order) throw new ApiError('not_found', `Order ${id} does not exist.`);
    return order;
  }

  api.get('/orders/:id', async (req, reply) => {
    requireRole(req, 'viewer');
    const { id } = parse(idParams, req.params, 'path');
    const order = await loadOrder(id);
    reply.header('etag', versionTag(order.version));
    if (noneMatchHolds(req.headers['if-none-match'], order.version)) return reply.code(304).send();
    return order;
  });

  api.get('/orders/:id/transitions', async (req) => {
    const p = requireRole(req, 'viewer');
    const { id } = parse(idParams, req.params, 'path');
    const order = await loadOrder(id);
    const def = await runtime.loadVersion(order.workflow, order.workflowVersion);
    return { items: availableTransitions(def, order, callerOf(p)), state: order.state, group: order.group };
  });

  function transitionCommand(body: z.infer<typeof TransitionBody>, p: Principal): Command {
    return {
      type: 'transition',
      to: body.to,
      caller: callerOf(p),
      ...(body.reason ? { reason: body.reason } : {}),
      ...(body.note !== undefined ? { note: body.note } : {}),
      ...(body.facts ? { facts: body.facts as Extract<Command, { type: 'transition' }>['facts'] } : {}),
      ...(body.force ? { force: true } : {}),
    };
  }

  api.post('/orders/:id/transitions', async (req, reply) => {
    const p = requireRole(req, 'operator');
    const { id } = parse(idParams, req.params, 'path');
    const body = parse(TransitionBody, req.body);
    const ifMatch = await ifMatchOf(req, async () => (await loadOrder(id)).version);
    const expectedVersion = ifMatch ?? body.expectedVersion;
    const r = await underIfMatch(ifMatch, () =>
      runtime.applyCommand({
        orderId: id,
        command: transitionCommand(body, p),
        ...(expectedVersion !== undefined ? { expectedVersion } : {}),
        idempotency: idempotencyOf(req, p, `POST /orders/${id}/transitions`),
      }),
    );
    reply.header('etag', versionTag(r.body.order.version));
    return answer(reply, 200, r);
  });

  async function previewDefinition(orderId: string, b: { definition?: unknown; draft?: boolean }): Promise<Definition | undefined> {
    if (b.definition !== undefined) {
      const checked = validateDefinition(b.definition);
      if (!checked.definition) {
        throw new ApiError('validation_failed', 'The definition does not match the schema.', {
          errors: checked.problems.filter((x) => x.severity === 'error').map((x) => ({ path: `definition.${x.path}`, message: x.message })),
        });
      }
      return checked.definition;
    }
    if (!b.draft) return undefined;
    const order = await loadOrder(orderId);
    const wf = await repo.getWorkflow(deps.store.db, order.workflow);
    if (!wf?.draft) throw new ApiError('not_found', `Workflow "${order.workflow}" has no draft.`);
    return wf.draft;
  }

  /** Everything a command would cause, storing nothing: the same answer for transitions, events and facts. */
  async function previewAnswer(id: string, command: Command, definition: Definition | undefined) {
    const d = await runtime.preview({ orderId: id, command, ...(definition ? { definition } : {}) });
    const deliveries: (OutboxEntry & { rendered?: unknown; renderError?: string })[] = [];
    for (const e of d.effects) {
      if (e.type !== 'outbox.enqueue') continue;
      const entry: OutboxEntry & { rendered?: unknown; renderError?: string } = { ...e.delivery };
      if (deps.renderDelivery) {
        try {
          entry.rendered = await deps.renderDelivery(e.delivery);
        } catch (err) {
          entry.renderError = (err as Error).message;
        }
      }
      deliveries.push(entry);
    }
    return {
      order: d.order,
      applied: d.applied,
      deliveries,
      timers: d.effects.flatMap((e) => (e.type === 'timer.schedule' ? [e.timer] : [])),
      cancelledTimers: d.effects.flatMap((e) => (e.type === 'timer.cancel' ? [{ orderId: e.orderId, visit: e.visit }] : [])),
      history: d.effects.flatMap((e) => (e.type === 'history.append' ? [{ orderId: e.orderId, ...e.entry }] : [])),
      ruleRuns: d.effects.flatMap((e) => (e.type === 'rule.run' ? [e.run] : [])),
      createdOrders: d.orders.filter((o) => o.previousVersion === 0).map((o) => o.order),
      ...(definition ? { definition: { key: definition.key, draft: true } } : {}),
      stored: false,
    };
  }

  api.post('/orders/:id/transitions/preview', async (req) => {
    const p = requireRole(req, 'viewer');
    const { id } = parse(idParams, req.params, 'path');
    const { definition, draft, ...body } = parse(TransitionPreviewBody, req.body);
    return previewAnswer(id, transitionCommand(body, p), await previewDefinition(id, { definition, draft }));
  });

  api.post('/orders/:id/events/preview', async (req) => {
    const p = requireRole(req, 'viewer');
    const { id } = parse(idParams, req.params, 'path');
    const b = parse(EventPreviewBody, req.body);
    const command: Command = {
      type: 'event',
      event: b.data === undefined ? { type: b.type } : { type: b.type, data: b.data },
      caller: callerOf(p),
    };
    return previewAnswer(id, command, await previewDefinition(id, b));
  });

  api.post('/orders/:id/facts/preview', async (req) => {
    const p = requireRole(req, 'viewer');
    const { id } = parse(idParams, req.params, 'path');
    const b = parse(FactPreviewBody, req.body);
    const command: Command = {
      type: 'fact',
      fact: b.fact,
      caller: callerOf(p),
      ...(b.evidence !== undefined ? { evidence: b.evidence } : {}),
    };
    return previewAnswer(id, command, await previewDefinition(id, b));
  });

  async function simple(req: FastifyRequest, reply: FastifyReply, route: string, build: (p: Principal) => Command) {
    const p = requireRole(req, 'operator');
    const { id } = parse(idParams, req.params, 'path');
    const ifMatch = await ifMatchOf(req, async () => (await loadOrder(id)).version);
    const command = build(p);
    const r = await underIfMatch(ifMatch, () =>
      runtime.applyCommand({
        orderId: id,
        command,
        ...(ifMatch !== undefined ? { expectedVersion: ifMatch } : {}),
        idempotency: idempotencyOf(req, p, `${route} ${id}`),
      }),
    );
    reply.header('etag', versionTag(r.body.order.version));
    return answer(reply, 200, r);
  }

  api.patch('/orders/:id/data', async (req, reply) =>
    simple(req, reply, 'PATCH data', (p) => ({ type: 'data', patch: parse(jsonObject, req.body), caller: callerOf(p) })),
  );
  api.post('/orders/:id/facts', async (req, reply) =>
    simple(req, reply, 'POST facts', (p) => {
      const b = parse(FactBody, req.body);
      return { type: 'fact', fact: b.fact, caller: callerOf(p), ...(b.evidence !== undefined ? { evidence: b.evidence } : {}) };
    }),
  );
  api.post('/orders/:id/events', async (req, reply) =>
    simple(req, reply, 'POST events', (p) => {
      const b = parse(EventBody, req.body);
      return { type: 'event', event: b.data === undefined ? { type: b.type } : { type: b.type, data: b.data }, caller: callerOf(p) };
    }),
  );

  api.post('/orders/:id/migrate', async (req, reply) => {
    const p = requireRole(req, 'operator');
    const { id } = parse(idParams, req.params, 'path');
    const body = parse(MigrateOrderBody, req.body);
    const order = await loadOrder(id);
    const ifMatch = await ifMatchOf(req, async () => order.version);
    const toDefinition = await runtime.loadVersion(order.workflow, body.toVersion);
    const r = await underIfMatch(ifMatch, () =>
      runtime.applyCommand({
        orderId: id,
        ...(ifMatch !== undefined ? { expectedVersion: ifMatch } : {}),
        command: {
          type: 'migrate',
          toVersion: body.toVersion,
          toDefinition,
          caller: callerOf(p),
          ...(body.stateMap ? { stateMap: body.stateMap } : {}),
          ...(body.timers ? { timers: body.timers } : {}),
        },
        idempotency: idempotencyOf(req, p, `POST migrate ${id}`),
      }),
    );
    reply.header('etag', versionTag(r.body.order.version));
    return answer(reply, 200, r);
  });

  const pageQuery = z.object({ limit: Limit, cursor: Cursor.optional() });

  api.get('/orders/:id/history', async (req) => {
    requireRole(req, 'viewer');
    const { id } = parse(idParams, req.params, 'path');
    const q = parse(pageQuery, req.query, 'query');
    let afterSeq: number | undefined;
    if (q.cursor) {
      afterSeq = Number(decodeCursor(q.cursor, 1)[0]);
      if (!Number.isSafeInteger(afterSeq))
        throw new ApiError('bad_request', 'The cursor is not valid; use nextCursor from a previous page.');
    }
    await loadOrder(id);
    const rows = await repo.listHistoryPage(deps.store.db, id, { ...(afterSeq !== undefined ? { afterSeq } : {}), limit: q.limit + 1 });
    const page = pageOf(rows, q.limit, (last) => [String(last.seq)]);
    return { ...page, items: await withActorNames(deps.store, page.items) };
  });

  api.get('/orders/:id/deliveries', async (req) => {
    requireRole(req, 'viewer');
    const { id } = parse(idParams, req.params, 'path');
    const q = parse(pageQuery, req.query, 'query');
    const cursor = q.cursor ? decodeCursor(q.cursor, 1)[0] : undefined;
    await loadOrder(id);
    const rows = await repo.listDeliveries(deps.store.db, { orderId: id, limit: q.limit + 1, ...(cursor ? { cursor } : {}) });
    const page = pageOf(rows, q.limit, (last) => [last.id]);
    return { ...page, items: await withSummaries(deps, page.items) };
  });
}

/**
 * People read "by Ops desk (operator)", not a token id: entries made with a
 * token get its name (or its role when it has none) as `actorName`. The id stays for copying.
 */
async function withActorNames(store: Store, entries: HistoryEntry[]): Promise<(HistoryEntry & { actorName?: string })[]> {
  const ids = [...new Set(entries.flatMap((e) => (e.actor && (e.actor.type === 'user' || e.actor.type === 'api') ? [e.actor.id] : [])))];
  if (ids.length === 0) return entries;
  const rows = await tokenNames(store.db, ids);
  const names = new Map(rows.map((r) => [r.id, r.name ? `${r.name} (${r.role})` : `${r.role} token`]));
  return entries.map((e) => {
    const name = e.actor ? names.get(e.actor.id) : undefined;
    return name ? { ...e, actorName: name } : e;
  });
}
