import { CreateTokenBody, Cursor, Limit } from '@orderflow/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { createToken } from '../bootstrap.js';
import { ApiError } from '../errors.js';
import { activeTokenRole, listTokens, revokeToken, validAdminExists } from '../store/tokens.js';
import type { TokenAuth } from './auth.js';
import { requireRole } from './auth.js';
import type { AppDeps } from './deps.js';
import { decodeCursor, pageOf, parse } from './parse.js';

const idParams = z.object({ id: z.string().min(1).max(64) });

/** API tokens: created by an admin (the secret is answered once), listed without secrets, revoked at once. */
export function registerTokenRoutes(api: FastifyInstance, deps: AppDeps, auth: TokenAuth): void {
  const db = deps.store.db;

  api.post('/tokens', async (req, reply) => {
    requireRole(req, 'admin');
    const body = parse(CreateTokenBody, req.body);
    const now = deps.clock.now().toISOString();
    const expiresAt = body.expiresAt ? new Date(body.expiresAt).toISOString() : null;
    if (expiresAt && expiresAt <= now) {
      throw new ApiError('validation_failed', 'expiresAt must be in the future.', {
        errors: [{ path: 'body.expiresAt', message: 'must be in the future' }],
      });
    }
    const t = await createToken(deps.store, deps.newId, body.role, body.name, now, expiresAt);
    reply.code(201).header('location', `/api/v1/tokens/${t.id}`).header('cache-control', 'no-store');
    // The only time the secret leaves the server: it is stored hashed.
    return { id: t.id, name: body.name, role: t.role, token: t.token, createdAt: now, lastUsedAt: null, expiresAt };
  });

  api.get('/tokens', async (req) => {
    requireRole(req, 'admin');
    const q = parse(z.object({ limit: Limit, cursor: Cursor.optional() }), req.query, 'query');
    const after = q.cursor ? decodeCursor(q.cursor, 1)[0] : undefined;
    const rows = await listTokens(db, { limit: q.limit + 1, ...(after ? { after } : {}) });
    return pageOf(rows, q.limit, (last) => [last.id]);
  });

  api.delete('/tokens/:id', async (req, reply) => {
    requireRole(req, 'admin');
    const { id } = parse(idParams, req.params, 'path');
    const now = deps.clock.now().toISOString();
    await deps.store.transaction(async (tx) => {
      const role = await activeTokenRole(tx, id);
      if (role === undefined) throw new ApiError('not_found', `Token ${id} does not exist or is already revoked.`);
      if (role === 'admin') {
        if (!(await validAdminExists(tx, now, id)))
          throw new ApiError('conflict', 'This is the last valid admin token; create another admin token before revoking it.');
      }
      await revokeToken(tx, id, now);
    });
    auth.forget(id);
    return reply.code(204).send();
  });
}
