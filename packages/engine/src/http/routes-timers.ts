import { Id, RescheduleTimerBody, TimerQuery } from '@orderflow/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { editTimer } from '../runtime/timer-edits.js';
import * as repo from '../store/repo.js';
import { listTimerPage } from '../store/timers.js';
import { callerOf, requireRole } from './auth.js';
import type { AppDeps, OpsDeps } from './deps.js';
import { decodeCursor, instantOf, pageOf, parse } from './parse.js';

const idParams = z.object({ id: Id });

/** Timers: listed, rescheduled or cancelled by hand. */
export function registerTimerRoutes(api: FastifyInstance, deps: AppDeps, ops: Pick<OpsDeps, 'worker'>): void {
  const db = deps.store.db;

  api.get('/timers', async (req) => {
    requireRole(req, 'viewer');
    const parsed = parse(TimerQuery, req.query, 'query');
    const q = { ...parsed, due_before: parsed.due_before === undefined ? undefined : instantOf(parsed.due_before) };
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
    body.dueAt = instantOf(body.dueAt);
    const timer = await timerEdit(req, id, body.dueAt);
    ops.worker?.wake();
    return timer;
  });
}
