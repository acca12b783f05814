import { SessionBody } from '@orderflow/core';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';
import * as repo from '../store/repo.js';
import { type AppDeps, hashToken, requireRole, SESSION_COOKIE } from './app.js';
import { parse } from './parse.js';

/** Sign-in for the web UI: exchanges a token for an HttpOnly, SameSite=Strict session cookie. */
export function registerSessionRoutes(api: FastifyInstance, deps: AppDeps): void {
  api.post('/session', async (req, reply) => {
    const body = parse(SessionBody, req.body);
    const row = await repo.findTokenByHash(deps.store.db, hashToken(body.token));
    if (!row) throw new ApiError('unauthorized', 'Unknown or revoked token.');
    reply.setCookie(SESSION_COOKIE, body.token, {
      httpOnly: true,
      sameSite: 'strict',
      path: '/',
      secure: req.protocol === 'https',
      maxAge: 7 * 24 * 3600,
    });
    return { role: row.role, tokenId: row.id };
  });
  api.get('/session', async (req) => {
    const p = requireRole(req, 'viewer');
    return { role: p.role, tokenId: p.tokenId, via: p.via };
  });
  api.delete('/session', async (_req, reply) => {
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.code(204).send();
  });
}
