import type { Role } from '@orderflow/core';
import { findTokenByHash, touchToken } from '../store/tokens.js';
import type { AppDeps, Principal } from './app.js';
import { hashToken } from './app.js';

/** How long a looked-up token is trusted without asking the database again (other processes see a revocation within this). */
const CACHE_MS = 5_000;
/** How often `last_used_at` is written for a token in use. */
const LAST_USED_EVERY_MS = 60_000;

/** Token look-up with a short cache; revocations in this process take effect at once. */
export interface TokenAuth {
  authenticate(token: string, via: Principal['via']): Promise<Principal | null>;
  /** Drops a revoked token from the cache. */
  forget(tokenId: string): void;
}

export function createTokenAuth(deps: Pick<AppDeps, 'store' | 'clock'>): TokenAuth {
  const cache = new Map<string, { principal: Omit<Principal, 'via'>; expiresAt: string | null; at: number }>();
  const lastWritten = new Map<string, number>();
  return {
    async authenticate(token, via) {
      const hash = hashToken(token);
      const now = deps.clock.now();
      const hit = cache.get(hash);
      if (hit && Date.now() - hit.at < CACHE_MS) {
        if (hit.expiresAt !== null && hit.expiresAt <= now.toISOString()) return null;
        return { ...hit.principal, via };
      }
      cache.delete(hash);
      const row = await findTokenByHash(deps.store.db, hash);
      if (!row) return null;
      if (row.expires_at !== null && row.expires_at <= now.toISOString()) return null;
      const principal = { tokenId: row.id, role: row.role as Role };
      if (cache.size > 10_000) cache.clear();
      cache.set(hash, { principal, expiresAt: row.expires_at, at: Date.now() });
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
