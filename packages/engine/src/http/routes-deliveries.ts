import { DeliveryQuery, Id, RetryDeliveriesBody, RetryDeliveryBody } from '@orderflow/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../errors.js';
import { getDeliveryLease, requeueDeliveries, requeueDelivery } from '../store/deliveries.js';
import * as repo from '../store/repo.js';
import { requireRole } from './auth.js';
import type { AppDeps, OpsDeps } from './deps.js';
import { decodeCursor, pageOf, parse } from './parse.js';

const idParams = z.object({ id: Id });

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

/** Deliveries: the outbox as the API shows it, and sending again by hand. */
export function registerDeliveryRoutes(api: FastifyInstance, deps: AppDeps, ops: Pick<OpsDeps, 'worker'>): void {
  const { store, clock } = deps;
  const db = store.db;
  const nowIso = () => clock.now().toISOString();

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
      const row = await getDeliveryLease(tx, id);
      if (!row) throw new ApiError('not_found', `Delivery ${id} does not exist.`);
      if (row.status === 'delivered' && !force) {
        throw new ApiError('conflict', `Delivery ${id} was already delivered; an admin can send it again with { "force": true }.`);
      }
      if (row.status === 'pending' && row.lease_until !== null && row.lease_until > now) {
        throw new ApiError('conflict', `Delivery ${id} is being sent right now; look again in a moment.`);
      }
      await requeueDelivery(tx, id, now);
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
    const retried = await requeueDeliveries(
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
}
