import { Id, MailboxQuery } from '@orderflow/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../errors.js';
import { getMail, listMail, type MailRow } from '../store/mailbox.js';
import { requireRole } from './auth.js';
import type { AppDeps } from './deps.js';
import { decodeCursor, pageOf, parse } from './parse.js';

const idParams = z.object({ id: Id });

function mailView(r: MailRow) {
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

/** The local mailbox: emails caught instead of sent, newest first. */
export function registerMailboxRoutes(api: FastifyInstance, deps: AppDeps): void {
  const db = deps.store.db;

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
}
