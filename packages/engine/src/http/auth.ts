import { createHash } from 'node:crypto';
import { type Caller, ROLE_HIERARCHY, type Role, roleSatisfies } from '@orderflow/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.js';
import { findTokenByHash, touchToken } from '../store/tokens.js';
import type { AppDeps } from './deps.js';

/** Who is calling. */
export interface Principal {
  tokenId: string;
  role: Role;
  via: 'bearer' | 'cookie';
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** The SESSION cookie's name. */
export const SESSION_COOKIE = 'orderflow_session';
/** Header a cookie-authenticated mutation must carry (a cross-site form cannot set it). */
export const CSRF_HEADER = 'x-orderflow-csrf';

/** SHA-256 of a token, as stored. */
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

/** Throws unless the caller holds one of `roles` (admin holds every role). */
export function requireRole(req: FastifyRequest, ...roles: Role[]): Principal {
  const p = req.principal;
  if (!p) throw new ApiError('unauthorized', 'Send Authorization: Bearer <token> (see `orderflow token create`).');
  if (!roleSatisfies(p.role, ...roles)) {
    throw new ApiError('forbidden', `This needs the ${roles.join(' or ')} role; your token has ${p.role}.`);
  }
  return p;
}

/** The roles a principal effectively has (admin implies all). */
export const rolesOf = (p: Principal): Role[] => [...ROLE_HIERARCHY[p.role]];

/** The actor and roles of a principal. */
export function callerOf(p: Principal): Caller {
  return { actor: { type: p.via === 'cookie' ? 'user' : 'api', id: p.tokenId }, roles: rolesOf(p) };
}

/**
 * Sets `req.principal` for API and metrics requests from a bearer token or the session cookie.
 * A bad bearer token is refused at once; a bad cookie leaves the request anonymous. Mutations
 * authenticated by the cookie must carry the CSRF header.
 */
export function authenticateRequests(app: FastifyInstance, tokens: TokenAuth, failures: FailureLimiter): void {
  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/api/') && req.url !== '/metrics' && !req.url.startsWith('/metrics?')) return;
    const auth = req.headers.authorization;
    const cookie = auth === undefined ? req.cookies[SESSION_COOKIE] : undefined;
    const signIn = req.method === 'POST' && req.url.split('?')[0] === '/api/v1/session';
    if (auth !== undefined || cookie || signIn) {
      // Once an address has failed too often, no credential from it is even looked at.
      const wait = failures.blockedFor(req.ip);
      if (wait > 0) {
        reply.header('retry-after', String(wait));
        throw new ApiError('rate_limited', `Too many failed sign-ins from this address; retry in ${wait} s.`);
      }
    }
    if (auth !== undefined) {
      const m = /^Bearer\s+(\S{1,512})$/i.exec(auth);
      const p = m ? await tokens.authenticate(m[1] as string, 'bearer') : null;
      if (!p) {
        failures.fail(req.ip);
        // RFC 6750 §3: a bearer token that was given but is not valid, or a bearer header without one.
        // Another scheme (Basic...) is a request without a bearer token: the plain challenge.
        if (m) reply.header('www-authenticate', 'Bearer error="invalid_token"');
        else if (/^Bearer\b/i.test(auth)) reply.header('www-authenticate', 'Bearer error="invalid_request"');
        throw new ApiError('unauthorized', m ? 'Unknown, expired or revoked token.' : 'Authorization must be "Bearer <token>".');
      }
      req.principal = p;
      return;
    }
    if (cookie) {
      const p = await tokens.authenticate(cookie, 'cookie');
      if (!p) {
        failures.fail(req.ip);
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD' && req.headers[CSRF_HEADER] !== '1') {
        throw new ApiError('forbidden', `Requests authenticated by the session cookie must send the header ${CSRF_HEADER}: 1.`);
      }
      req.principal = p;
    }
  });
}

/**
 * Longest a looked-up token is trusted without asking the database again. Within it, an entry is
 * dropped as soon as the store's config version moves: another process committed (SQLite's
 * `data_version`) or sent a change notification (PostgreSQL: the `tokens` trigger), so a
 * revocation elsewhere takes effect here within {@link RECHECK_MS}.
 */
const CACHE_MS = 5_000;
/**
 * How long an entry is used without looking at the config version. On SQLite that look takes the
 * WAL read locks (several µs, more under load); once per token per 50 ms is nothing, once per
 * request would be a measurable part of a change.
 */
const RECHECK_MS = 50;
/** How often `last_used_at` is written for a token in use. */
const LAST_USED_EVERY_MS = 60_000;

/** Token look-up with a short cache; revocations take effect at once here and within 50 ms in other processes. */
export interface TokenAuth {
  authenticate(token: string, via: Principal['via']): Promise<Principal | null>;
  /** Drops a revoked token from the cache. */
  forget(tokenId: string): void;
}

interface CachedToken {
  principal: Omit<Principal, 'via'>;
  expiresAt: string | null;
  /** When it was read from the database. */
  at: number;
  /** The config version it was read or last confirmed at, and when. */
  version: number;
  checkedAt: number;
}

export function createTokenAuth(deps: Pick<AppDeps, 'store' | 'clock'>): TokenAuth {
  const cache = new Map<string, CachedToken>();
  const lastWritten = new Map<string, number>();
  /** Reads of a token's row in progress, by hash. */
  const loading = new Map<string, Promise<{ version: number; row: Awaited<ReturnType<typeof findTokenByHash>> }>>();
  /** Moved by `forget`: a read that began before it does not fill the cache. */
  let forgets = 0;
  async function readToken(hash: string) {
    // Read before the row: a revocation committed after this read moves the version again.
    const version = await deps.store.configVersion();
    const row = await findTokenByHash(deps.store.db, hash);
    return { version, row };
  }
  /** The cached entry, while it may still be trusted. */
  async function cached(hash: string): Promise<CachedToken | undefined> {
    const hit = cache.get(hash);
    if (!hit) return undefined;
    const now = Date.now();
    if (now - hit.at >= CACHE_MS) return undefined;
    if (now - hit.checkedAt < RECHECK_MS) return hit;
    if ((await deps.store.configVersion()) !== hit.version) return undefined;
    hit.checkedAt = now;
    return hit;
  }
  return {
    async authenticate(token, via) {
      const hash = hashToken(token);
      const now = deps.clock.now();
      const hit = await cached(hash);
      if (hit) {
        if (hit.expiresAt !== null && hit.expiresAt <= now.toISOString()) return null;
        return { ...hit.principal, via };
      }
      cache.delete(hash);
      // One read per token at a time: requests that miss together (when an entry expires under
      // load) wait for the same read instead of each reading the row.
      const generation = forgets;
      let load = loading.get(hash);
      if (load === undefined) {
        load = readToken(hash).finally(() => {
          if (loading.get(hash) === load) loading.delete(hash);
        });
        loading.set(hash, load);
      }
      const { version, row } = await load;
      if (!row) return null;
      if (row.expires_at !== null && row.expires_at <= now.toISOString()) return null;
      const principal = { tokenId: row.id, role: row.role as Role };
      if (cache.size > 10_000) cache.clear();
      if (generation === forgets) cache.set(hash, { principal, expiresAt: row.expires_at, at: Date.now(), version, checkedAt: Date.now() });
      const written = lastWritten.get(row.id) ?? 0;
      if (Date.now() - written > LAST_USED_EVERY_MS) {
        lastWritten.set(row.id, Date.now());
        if (lastWritten.size > 10_000) lastWritten.clear();
        // Best effort: a busy database must not fail the request that used the token.
        await touchToken(deps.store.db, row.id, now.toISOString()).catch(() => undefined);
      }
      return { ...principal, via };
    },
    forget(tokenId) {
      for (const [hash, entry] of cache) if (entry.principal.tokenId === tokenId) cache.delete(hash);
      // A read that began before the revocation may hold the row as it was: later requests read again.
      loading.clear();
      forgets++;
    },
  };
}

/** Counts failed authentications per client address in fixed one-minute windows. */
export interface FailureLimiter {
  /** Seconds until `address` may try again; 0 when it may now. */
  blockedFor(address: string): number;
  fail(address: string): void;
}

export function createFailureLimiter(limit: number, windowMs = 60_000): FailureLimiter {
  const windows = new Map<string, { start: number; count: number }>();
  const current = (address: string) => {
    const w = windows.get(address);
    if (!w || Date.now() - w.start >= windowMs) return undefined;
    return w;
  };
  return {
    blockedFor(address) {
      if (limit <= 0) return 0;
      const w = current(address);
      if (!w || w.count < limit) return 0;
      return Math.max(1, Math.ceil((w.start + windowMs - Date.now()) / 1000));
    },
    fail(address) {
      if (limit <= 0) return;
      const w = current(address);
      if (w) {
        w.count++;
        return;
      }
      if (windows.size > 10_000) {
        for (const [k, v] of windows) if (Date.now() - v.start >= windowMs) windows.delete(k);
      }
      windows.set(address, { start: Date.now(), count: 1 });
    },
  };
}
