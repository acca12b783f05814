import type { Role } from '@orderflow/core';
import { API_ROUTES } from '@orderflow/core';
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { hashToken } from '../../src/http/app.js';
import { DIALECTS } from '../dialects.js';
import {
  ADMIN_TOKEN,
  createTestOrderflow,
  demoOrder,
  expectProblem,
  json,
  minimalDefinition,
  ROLES,
  type TestOrderflow,
} from '../helpers/orderflow.js';

let t: TestOrderflow;
afterEach(async () => {
  await t?.close();
});

/** Every documented API operation: method, path, the role it needs and its body schema's name. */
const OPERATIONS = API_ROUTES.filter((r) => r.path.startsWith('/api/v1/')).map((r) => ({
  method: r.method.toUpperCase() as 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  path: r.path,
  role: (r.role === 'token' ? 'viewer' : r.role) as Role | readonly Role[] | 'anonymous',
  body: r.body ? (z.globalRegistry.get(r.body)?.id ?? 'Object') : undefined,
}));

/** SPEC §5: admin everything, designer workflows/templates, operator orders, viewer read only; every role may read. */
const allowed = (caller: Role, needed: Role | readonly Role[] | 'anonymous') =>
  needed === 'anonymous' ||
  needed === 'viewer' ||
  caller === 'admin' ||
  (typeof needed === 'string' ? caller === needed : needed.includes(caller));

function sampleBody(schema: string | undefined, key: string): unknown {
  switch (schema) {
    case 'Definition':
      return minimalDefinition(key);
    case 'CreateOrderBody':
      return { workflow: 'orders', data: { customer: { email: 'ada@example.com' } } };
    case 'TransitionBody':
      return { to: 'awaiting_payment' };
    case 'FactBody':
      return { fact: 'delivered' };
    case 'EventBody':
      return { type: 'payment.received' };
    case 'TemplateBody':
      return { subject: 'Hello', html: '<p>Hello</p>' };
    case 'SessionBody':
      return { token: ADMIN_TOKEN };
    case 'CreateTokenBody':
      return { name: 'matrix', role: 'viewer' };
    case undefined:
      return undefined;
    default:
      return {};
  }
}

function expectNoSecrets(res: LightMyRequestResponse, secrets: string[]) {
  for (const secret of secrets) expect(res.body.includes(secret), `a secret appears in ${res.body.slice(0, 200)}`).toBe(false);
}

for (const dialect of DIALECTS) {
  describe(`auth (${dialect})`, () => {
    describe('authentication', () => {
      it('answers 401 unauthorized without a token, with an unknown token and with a malformed header', async () => {
        t = await createTestOrderflow({ dialect });
        expectProblem(await t.request('anonymous', { method: 'GET', url: '/api/v1/orders' }), 401, 'unauthorized');
        expectProblem(
          await t.request('anonymous', { method: 'GET', url: '/api/v1/orders', headers: { authorization: 'Bearer of_not-a-real-token' } }),
          401,
          'unauthorized',
        );
        expectProblem(
          await t.request('anonymous', {
            method: 'GET',
            url: '/api/v1/orders',
            headers: { authorization: `Basic ${btoa(`admin:${ADMIN_TOKEN}`)}` },
          }),
          401,
          'unauthorized',
        );
        expectProblem(
          await t.request('anonymous', { method: 'GET', url: '/api/v1/orders', headers: { authorization: 'Bearer' } }),
          401,
          'unauthorized',
        );
        expectProblem(
          await t.request('anonymous', { method: 'POST', url: '/api/v1/orders', body: { workflow: 'orders' } }),
          401,
          'unauthorized',
        );
        // A token's hash is not a token.
        expectProblem(
          await t.request('anonymous', {
            method: 'GET',
            url: '/api/v1/orders',
            headers: { authorization: `Bearer ${hashToken(ADMIN_TOKEN)}` },
          }),
          401,
          'unauthorized',
        );
      });

      it('answers 403 forbidden for a role that may not do it', async () => {
        t = await createTestOrderflow({ dialect });
        const order = await demoOrder(t);
        expectProblem(
          await t.request('viewer', { method: 'POST', url: '/api/v1/orders', body: { workflow: 'orders', data: {} } }),
          403,
          'forbidden',
        );
        expectProblem(
          await t.request('designer', { method: 'POST', url: `/api/v1/orders/${order.id}/transitions`, body: { to: 'awaiting_payment' } }),
          403,
          'forbidden',
        );
        expectProblem(
          await t.request('operator', { method: 'POST', url: '/api/v1/workflows', body: minimalDefinition('x') }),
          403,
          'forbidden',
        );
        expectProblem(
          await t.request('viewer', { method: 'PUT', url: '/api/v1/templates/x', body: { subject: 's', html: 'h' } }),
          403,
          'forbidden',
        );
        expect(json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}` })).version).toBe(1);
      });

      it('accepts the session cookie for reads, and for writes only with the CSRF header', async () => {
        t = await createTestOrderflow({ dialect });
        const signIn = await t.request('anonymous', { method: 'POST', url: '/api/v1/session', body: { token: t.tokens.operator } });
        expect(signIn.statusCode, signIn.body).toBe(200);
        expectNoSecrets(signIn, t.secrets);
        const cookie = String(signIn.headers['set-cookie']).split(';')[0] as string;
        expect(String(signIn.headers['set-cookie'])).toMatch(/HttpOnly/i);

        const me = await t.request('anonymous', { method: 'GET', url: '/api/v1/session', headers: { cookie } });
        expect(json(me)).toMatchObject({ role: 'operator', via: 'cookie' });
        const body = { workflow: 'orders', data: {} };
        expectProblem(await t.request('anonymous', { method: 'POST', url: '/api/v1/orders', body, headers: { cookie } }), 403, 'forbidden');
        const ok = await t.request('anonymous', {
          method: 'POST',
          url: '/api/v1/orders',
          body,
          headers: { cookie, 'x-orderflow-csrf': '1' },
        });
        expect(ok.statusCode, ok.body).toBe(201);
        expect(json(ok).order.id).toMatch(/^ord_/);
        expectProblem(
          await t.request('anonymous', { method: 'POST', url: '/api/v1/session', body: { token: 'of_wrong' } }),
          401,
          'unauthorized',
        );
      });

      it('stores tokens hashed, never in the clear', async () => {
        t = await createTestOrderflow({ dialect });
        const rows = await t.of.store.db.selectFrom('tokens').selectAll().execute();
        const dump = JSON.stringify(rows);
        for (const token of Object.values(t.tokens)) {
          expect(dump.includes(token)).toBe(false);
          expect(rows.map((r) => r.hash)).toContain(hashToken(token));
        }
      });
    });

    describe('secrets', () => {
      it('never answers the signing secret of a webhook endpoint', async (ctx) => {
        t = await createTestOrderflow({ dialect });
        if (!t.of.app.hasRoute({ method: 'POST', url: '/api/v1/endpoints' })) {
          ctx.skip('POST /endpoints is not implemented yet');
          return;
        }
        const secret = `whsec_${Buffer.from('endpoint-secret-0123456789abcdef').toString('base64')}`;
        const bodies: string[] = [];
        const created = await t.request('designer', {
          method: 'POST',
          url: '/api/v1/endpoints',
          body: { key: 'erp', url: 'https://erp.example.com/hooks', secret },
        });
        expect(created.statusCode, created.body).toBe(201);
        bodies.push(created.body);
        const rotated = `whsec_${Buffer.from('endpoint-secret-rotated-0123456').toString('base64')}`;
        const put = await t.request('admin', {
          method: 'PUT',
          url: '/api/v1/endpoints/erp',
          body: { url: 'https://erp.example.com/hooks2', secret: rotated },
        });
        expect(put.statusCode, put.body).toBeLessThan(300);
        bodies.push(put.body);
        for (const role of ROLES) {
          for (const url of ['/api/v1/endpoints', '/api/v1/endpoints/erp']) {
            const res = await t.request(role, { method: 'GET', url });
            expect(res.statusCode).toBe(200);
            bodies.push(res.body);
          }
        }
        for (const body of bodies) {
          for (const s of [secret, rotated, secret.slice(6), rotated.slice(6), ...t.secrets])
            expect(body.includes(s), body.slice(0, 300)).toBe(false);
        }
      });
    });
  });
}

// SQLite only: role checks are HTTP-layer and dialect-independent, and one instance per route doubled
// this file's time on PostgreSQL (~55 instances with the demo seed, about +10 s). The other tests above run on both.
describe('role matrix: every documented route × every role (G8)', () => {
  it('documents routes', () => {
    expect(OPERATIONS.length).toBeGreaterThan(20);
    for (const op of OPERATIONS) for (const role of [op.role].flat()) expect(['anonymous', ...ROLES]).toContain(role);
  });

  for (const op of OPERATIONS) {
    it(`${op.method} ${op.path} (needs ${op.role})`, async (ctx) => {
      t = await createTestOrderflow();
      const route = op.path.replace(/\{(\w+)\}/g, ':$1');
      if (!t.of.app.hasRoute({ method: op.method, url: route })) {
        // Documented but not registered yet (its issue is still open): nothing to check.
        ctx.skip(`${op.method} ${op.path} is not implemented yet`);
        return;
      }
      const order = await demoOrder(t);
      const key = op.path.startsWith('/api/v1/templates')
        ? 'order_confirmation'
        : op.path.startsWith('/api/v1/workflows')
          ? 'orders'
          : 'sample';
      const url = op.path.replace('{id}', op.path.startsWith('/api/v1/orders') ? order.id : 'missing_0').replace('{key}', key);
      const body = sampleBody(op.body, key);
      const isStream = op.path.endsWith('/stream');

      for (const caller of ['anonymous', ...ROLES] as const) {
        // Refusals end; an accepted event stream never does, so only that one is read as a stream.
        const expectStream = isStream && caller !== 'anonymous' && allowed(caller, op.role);
        const res = await t.request(caller, {
          method: op.method,
          url,
          ...(body === undefined ? {} : { body }),
          ...(expectStream ? { payloadAsStream: true } : {}),
        });
        const label = `${caller} → ${op.method} ${url}: ${res.statusCode}`;
        if (expectStream) {
          // Server-Sent Events never end; the status line is all that matters here.
          (res.stream() as { destroy(): void }).destroy();
        } else {
          expectNoSecrets(res, t.secrets);
        }
        expect(res.statusCode, label).toBeLessThan(500);
        if (caller === 'anonymous') {
          if (op.role === 'anonymous') expect([401, 403], label).not.toContain(res.statusCode);
          else expectProblem(res, 401, 'unauthorized');
        } else if (allowed(caller, op.role)) {
          expect([401, 403], `${label} ${isStream ? '' : res.body.slice(0, 200)}`).not.toContain(res.statusCode);
        } else {
          expectProblem(res, 403, 'forbidden');
        }
      }
    });
  }
});
