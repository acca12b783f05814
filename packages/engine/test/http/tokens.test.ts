import { afterEach, describe, expect, it } from 'vitest';
import { createSimulatedClock } from '../../src/runtime/clock.js';
import { DIALECTS } from '../dialects.js';
import { ADMIN_TOKEN, createTestOrderflow, expectProblem, json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow;
afterEach(async () => {
  await t?.close();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

for (const dialect of DIALECTS) {
  describe(`token API (${dialect})`, () => {
    it('creates a token whose secret is answered once, lists it without secrets, and revokes it at once', async () => {
      const clock = createSimulatedClock(new Date('2026-12-01T10:00:00Z'));
      t = await createTestOrderflow({ dialect, demo: false, clock });
      const created = await t.request('admin', { method: 'POST', url: '/api/v1/tokens', body: { name: 'ci deploy', role: 'operator' } });
      expect(created.statusCode, created.body).toBe(201);
      const tok = json(created);
      expect(tok).toMatchObject({
        id: expect.stringMatching(/^tok_/),
        name: 'ci deploy',
        role: 'operator',
        expiresAt: null,
        lastUsedAt: null,
      });
      expect(tok.token).toMatch(/^of_/);
      expect(created.headers['cache-control']).toBe('no-store');

      const me = await t.of.app.inject({ method: 'GET', url: '/api/v1/session', headers: bearer(tok.token) });
      expect(json(me)).toMatchObject({ role: 'operator', tokenId: tok.id });

      const list = await t.request('admin', { method: 'GET', url: '/api/v1/tokens' });
      expect(list.statusCode).toBe(200);
      expect(list.body.includes(tok.token)).toBe(false);
      for (const secret of t.secrets) expect(list.body.includes(secret)).toBe(false);
      const listed = json(list).items.find((i: { id: string }) => i.id === tok.id);
      expect(listed).toEqual({
        id: tok.id,
        name: 'ci deploy',
        role: 'operator',
        createdAt: '2026-12-01T10:00:00.000Z',
        lastUsedAt: '2026-12-01T10:00:00.000Z',
        expiresAt: null,
      });
      expect(
        json(list)
          .items.map((i: { role: string }) => i.role)
          .sort(),
      ).toEqual(['admin', 'designer', 'operator', 'operator', 'viewer']);
      const paged = json(await t.request('admin', { method: 'GET', url: '/api/v1/tokens?limit=2' }));
      expect(paged.items).toHaveLength(2);
      expect(paged.nextCursor).toEqual(expect.any(String));

      for (const role of ['viewer', 'operator', 'designer'] as const) {
        expectProblem(await t.request(role, { method: 'GET', url: '/api/v1/tokens' }), 403, 'forbidden');
        expectProblem(
          await t.request(role, { method: 'POST', url: '/api/v1/tokens', body: { name: 'x', role: 'admin' } }),
          403,
          'forbidden',
        );
        expectProblem(await t.request(role, { method: 'DELETE', url: `/api/v1/tokens/${tok.id}` }), 403, 'forbidden');
      }

      const revoked = await t.request('admin', { method: 'DELETE', url: `/api/v1/tokens/${tok.id}` });
      expect(revoked.statusCode).toBe(204);
      // At once: the token was used (and cached) a moment ago.
      expectProblem(await t.of.app.inject({ method: 'GET', url: '/api/v1/session', headers: bearer(tok.token) }), 401, 'unauthorized');
      expectProblem(await t.request('admin', { method: 'DELETE', url: `/api/v1/tokens/${tok.id}` }), 404, 'not_found');
      expect(json(await t.request('admin', { method: 'GET', url: '/api/v1/tokens' })).items.map((i: { id: string }) => i.id)).not.toContain(
        tok.id,
      );
    });

    it('revokes at once in another process on the same database', async () => {
      // Two instances on one database: each has its own connection and its own token cache.
      const a = await createTestOrderflow({ dialect, demo: false, keepDir: true });
      const b = await createTestOrderflow({ dialect, demo: false, dir: a.dir, url: a.url, keepDir: true });
      try {
        const tok = json(
          await a.request('admin', { method: 'POST', url: '/api/v1/tokens', body: { name: 'elsewhere', role: 'operator' } }),
        );
        const session = () => b.of.app.inject({ method: 'GET', url: '/api/v1/session', headers: bearer(tok.token) });
        // Used twice in b: looked up, then answered from b's cache.
        expect((await session()).statusCode).toBe(200);
        expect((await session()).statusCode).toBe(200);
        expect((await a.request('admin', { method: 'DELETE', url: `/api/v1/tokens/${tok.id}` })).statusCode).toBe(204);
        if (dialect === 'sqlite') {
          // a's commit moved the data version b looks at (at most every 50 ms per token): b's next
          // request after that looks the token up again.
          await new Promise((resolve) => setTimeout(resolve, 60));
          expectProblem(await session(), 401, 'unauthorized');
        } else {
          // PostgreSQL tells b through a notification: as soon as it arrives (well within the old 5 s cache).
          await expect.poll(async () => (await session()).statusCode, { timeout: 2_000, interval: 20 }).toBe(401);
        }
        // The cache still answers for tokens nobody touched.
        expect((await b.request('operator', { method: 'GET', url: '/api/v1/session' })).statusCode).toBe(200);
      } finally {
        await b.close();
        await a.close();
        await a.remove();
      }
    });

    it('refuses expired tokens, and validates the request', async () => {
      const clock = createSimulatedClock(new Date('2026-12-01T10:00:00Z'));
      t = await createTestOrderflow({ dialect, demo: false, clock });
      const res = await t.request('admin', {
        method: 'POST',
        url: '/api/v1/tokens',
        body: { name: 'short', role: 'viewer', expiresAt: '2026-12-01T11:00:00+00:00' },
      });
      expect(res.statusCode, res.body).toBe(201);
      const tok = json(res);
      expect(tok.expiresAt).toBe('2026-12-01T11:00:00.000Z');
      expect((await t.of.app.inject({ method: 'GET', url: '/api/v1/orders', headers: bearer(tok.token) })).statusCode).toBe(200);
      clock.advance(3600_000);
      expectProblem(await t.of.app.inject({ method: 'GET', url: '/api/v1/orders', headers: bearer(tok.token) }), 401, 'unauthorized');
      expectProblem(
        await t.request('anonymous', { method: 'POST', url: '/api/v1/session', body: { token: tok.token } }),
        401,
        'unauthorized',
      );

      const post = (body: unknown) => t.request('admin', { method: 'POST', url: '/api/v1/tokens', body });
      expectProblem(await post({ name: 'past', role: 'viewer', expiresAt: '2026-01-01T00:00:00Z' }), 422, 'validation_failed');
      expectProblem(await post({ name: 'x', role: 'root' }), 422, 'validation_failed');
      expectProblem(await post({ role: 'viewer' }), 422, 'validation_failed');
      expectProblem(await post({ name: 'x', role: 'viewer', token: 'mine' }), 422, 'validation_failed');
      expectProblem(await post({ name: 'x', role: 'viewer', expiresAt: 'tomorrow' }), 422, 'validation_failed');
    });

    it('keeps the last admin token: revoking it is a conflict', async () => {
      t = await createTestOrderflow({ dialect, demo: false });
      const list = json(await t.request('admin', { method: 'GET', url: '/api/v1/tokens' }));
      const admin = list.items.find((i: { role: string }) => i.role === 'admin');
      expectProblem(await t.request('admin', { method: 'DELETE', url: `/api/v1/tokens/${admin.id}` }), 409, 'conflict');
      const second = json(await t.request('admin', { method: 'POST', url: '/api/v1/tokens', body: { name: 'second', role: 'admin' } }));
      expect((await t.request('admin', { method: 'DELETE', url: `/api/v1/tokens/${admin.id}` })).statusCode).toBe(204);
      expectProblem(await t.request('admin', { method: 'GET', url: '/api/v1/tokens' }), 401, 'unauthorized');
      expect((await t.of.app.inject({ method: 'GET', url: '/api/v1/tokens', headers: bearer(second.token) })).statusCode).toBe(200);
    });

    it('rate limits failed authentication per address (429 with Retry-After), whatever the token', async () => {
      t = await createTestOrderflow({ dialect, demo: false, env: { ORDERFLOW_AUTH_FAILURE_LIMIT: '5' } });
      const from = (ip: string, token: string) =>
        t.of.app.inject({ method: 'GET', url: '/api/v1/orders', headers: bearer(token), remoteAddress: ip });
      for (let i = 0; i < 5; i++) expectProblem(await from('10.0.0.1', `of_guess_${i}`), 401, 'unauthorized');
      const limited = expectProblem(await from('10.0.0.1', 'of_guess_x'), 429, 'rate_limited');
      expect(limited.detail).toMatch(/failed/);
      const again = await from('10.0.0.1', 'of_guess_y');
      expect(Number(again.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(again.headers['retry-after'])).toBeLessThanOrEqual(60);
      // Even the right token is not looked at from that address: a limited guesser learns nothing.
      expectProblem(await from('10.0.0.1', ADMIN_TOKEN), 429, 'rate_limited');
      expectProblem(
        await t.of.app.inject({
          method: 'POST',
          url: '/api/v1/session',
          payload: { token: ADMIN_TOKEN },
          remoteAddress: '10.0.0.1',
        }),
        429,
        'rate_limited',
      );
      // Other addresses are not affected.
      expect((await from('10.0.0.2', ADMIN_TOKEN)).statusCode).toBe(200);
      // Wrong sign-ins count too.
      for (let i = 0; i < 5; i++) {
        expectProblem(
          await t.of.app.inject({ method: 'POST', url: '/api/v1/session', payload: { token: `of_x${i}` }, remoteAddress: '10.0.0.3' }),
          401,
          'unauthorized',
        );
      }
      expectProblem(await from('10.0.0.3', ADMIN_TOKEN), 429, 'rate_limited');
    });
  });
}
