import { SessionBody } from '@orderflow/core';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';
import type { FailureLimiter, TokenAuth } from './auth.js';
import { requireRole, SESSION_COOKIE } from './auth.js';
import type { AppDeps } from './deps.js';
import { parse } from './parse.js';

/** Sign-in for the web UI: exchanges a token for an HttpOnly, SameSite=Strict session cookie. */
export function registerSessionRoutes(api: FastifyInstance, _deps: AppDeps, auth: { tokens: TokenAuth; failures: FailureLimiter }): void {
  api.post('/session', async (req, reply) => {
    const body = parse(SessionBody, req.body);
    const principal = await auth.tokens.authenticate(body.token, 'cookie');
    if (!principal) {
      auth.failures.fail(req.ip);
      throw new ApiError('unauthorized', 'Unknown, expired or revoked token.');
    }
    reply.setCookie(SESSION_COOKIE, body.token, {
      httpOnly: true,
      sameSite: 'strict',
      path: '/',
      secure: req.protocol === 'https',
      maxAge: 7 * 24 * 3600,
    });
    return { role: principal.role, tokenId: principal.tokenId };
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
