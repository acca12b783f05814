import type { ServerResponse } from 'node:http';
import { Id, NotificationQuery } from '@orderflow/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../errors.js';
import { getNotification, listNotifications, markNotificationRead, notificationsSince, rowToNotification } from '../store/notifications.js';
import type { Notification } from '../worker/notifications.js';
import { requireRole } from './auth.js';
import type { AppDeps, OpsDeps } from './deps.js';
import { decodeCursor, pageOf, parse } from './parse.js';

const idParams = z.object({ id: Id });

/** Notifications: the inbox, marking read, and the live stream (server-sent events). */
export function registerNotificationRoutes(
  api: FastifyInstance,
  deps: AppDeps,
  ops: Pick<OpsDeps, 'notifications' | 'streamPollMs' | 'heartbeatMs'>,
): void {
  const { store, clock } = deps;
  const db = store.db;
  const nowIso = () => clock.now().toISOString();

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
    // Read state is global (one inbox for everybody): a change, which a viewer (read only) may not make.
    requireRole(req, 'operator', 'designer');
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
}
