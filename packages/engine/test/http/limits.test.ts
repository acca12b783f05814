import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../dialects.js';
import { createTestOrderflow, demoOrder, expectProblem, json, minimalDefinition, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow;
afterEach(async () => {
  await t.close();
});

/** An object nested `depth` levels deep (`{}` is depth 1). */
function nested(depth: number): Record<string, unknown> {
  let v: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) v = { a: v };
  return v;
}

const raw = (url: string, payload: string | Buffer, contentType = 'application/json', method: 'POST' | 'PUT' | 'PATCH' = 'POST') =>
  t.request('admin', { method, url, payload, headers: { 'content-type': contentType } });

for (const dialect of DIALECTS) {
  describe(`request limits (${dialect})`, () => {
    describe('body size', () => {
      it('answers 413 payload_too_large above the default limit of 1 MiB', async () => {
        t = await createTestOrderflow({ dialect });
        const big = JSON.stringify({ workflow: 'orders', data: { blob: 'x'.repeat(1_100_000) } });
        expectProblem(await raw('/api/v1/orders', big), 413, 'payload_too_large');
        expectProblem(await raw('/api/v1/workflows/orders/draft', big, 'application/json', 'PUT'), 413, 'payload_too_large');
        // Just under the limit is parsed normally.
        const fits = await raw('/api/v1/orders', JSON.stringify({ workflow: 'orders', data: { blob: 'x'.repeat(1_000_000) } }));
        expect(fits.statusCode, fits.body.slice(0, 300)).toBe(201);
      });

      it('honours ORDERFLOW_BODY_LIMIT', async () => {
        t = await createTestOrderflow({ dialect, env: { ORDERFLOW_BODY_LIMIT: '2048' } });
        const order = await demoOrder(t);
        expectProblem(
          await raw(`/api/v1/orders/${order.id}/events`, JSON.stringify({ type: 'x', data: 'y'.repeat(3000) })),
          413,
          'payload_too_large',
        );
        expectProblem(
          await raw(`/api/v1/orders/${order.id}/data`, JSON.stringify({ note: 'y'.repeat(3000) }), 'application/merge-patch+json', 'PATCH'),
          413,
          'payload_too_large',
        );
      });
    });

    describe('JSON nesting depth', () => {
      it('accepts 32 levels and answers 400 above 32', async () => {
        t = await createTestOrderflow({ dialect });
        // The body itself is level 1 and `data` level 2.
        const ok = await t.request('operator', { method: 'POST', url: '/api/v1/orders', body: { workflow: 'orders', data: nested(31) } });
        expect(ok.statusCode, ok.body).toBe(201);
        expectProblem(
          await t.request('operator', { method: 'POST', url: '/api/v1/orders', body: { workflow: 'orders', data: nested(32) } }),
          400,
          'bad_request',
        );

        let array: unknown = [];
        for (let i = 1; i < 40; i++) array = [array];
        const order = await demoOrder(t);
        expectProblem(
          await t.request('operator', { method: 'POST', url: `/api/v1/orders/${order.id}/events`, body: { type: 'deep', data: array } }),
          400,
          'bad_request',
        );
        expectProblem(
          await t.request('viewer', {
            method: 'POST',
            url: '/api/v1/workflows/x/validate',
            body: { ...minimalDefinition('x'), layout: nested(40) },
          }),
          400,
          'bad_request',
        );
      });

      it('answers 400 for extremely deep JSON without crashing', async () => {
        t = await createTestOrderflow({ dialect });
        for (const depth of [1_000, 100_000, 500_000]) {
          expectProblem(await raw('/api/v1/orders', `${'['.repeat(depth)}${']'.repeat(depth)}`), 400, 'bad_request');
          expectProblem(await raw('/api/v1/workflows', `${'{"a":'.repeat(depth / 10)}1${'}'.repeat(depth / 10)}`), 400, 'bad_request');
        }
        expect((await t.request('viewer', { method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      });
    });

    describe('malformed bodies', () => {
      it('answers 400 bad_request for malformed JSON on every body route', async () => {
        t = await createTestOrderflow({ dialect });
        const order = await demoOrder(t);
        const urls = [
          '/api/v1/orders',
          `/api/v1/orders/${order.id}/transitions`,
          `/api/v1/orders/${order.id}/transitions/preview`,
          `/api/v1/orders/${order.id}/facts`,
          `/api/v1/orders/${order.id}/events`,
          '/api/v1/workflows',
          '/api/v1/workflows/orders/validate',
        ];
        for (const url of urls) {
          for (const body of ['{"to":', '{to: "x"}', "{'a': 1}", '[1,]', '{"a":1}}', 'nul', '\u0000']) {
            expectProblem(await raw(url, body), 400, 'bad_request');
          }
        }
        expectProblem(await raw(`/api/v1/orders/${order.id}/data`, '{"a":', 'application/merge-patch+json', 'PATCH'), 400, 'bad_request');
        expectProblem(await raw('/api/v1/workflows/orders/draft', '{"a":', 'application/json', 'PUT'), 400, 'bad_request');
      });

      it('reads an empty JSON body as no body, and answers 415 for a content type it does not read', async () => {
        t = await createTestOrderflow({ dialect });
        // A route that needs a body says which; one that takes none works with the header clients send anyway.
        const empty = expectProblem(await raw('/api/v1/orders', ''), 422, 'validation_failed');
        expect(JSON.stringify(empty.errors)).toContain('body');
        expectProblem(await raw('/api/v1/orders', '  \n'), 422, 'validation_failed');
        const draft = await t.request('admin', { method: 'PUT', url: '/api/v1/workflows/orders/draft', body: minimalDefinition('orders') });
        expect(draft.statusCode, draft.body).toBeLessThan(300);
        const discard = await t.request('admin', {
          method: 'DELETE',
          url: '/api/v1/workflows/orders/draft',
          payload: '',
          headers: { 'content-type': 'application/json' },
        });
        expect(discard.statusCode, discard.body).toBe(204);
        expectProblem(await raw('/api/v1/orders', '<order/>', 'application/xml'), 415, 'unsupported_media_type');
        expectProblem(await raw('/api/v1/orders', 'workflow=orders', 'application/x-www-form-urlencoded'), 415, 'unsupported_media_type');
      });

      it('refuses a number too large for JSON instead of storing null', async () => {
        t = await createTestOrderflow({ dialect });
        const count = async () => json(await t.request('viewer', { method: 'GET', url: '/api/v1/orders?limit=500' })).items.length;
        const before = await count();
        const res = await raw('/api/v1/orders', '{"workflow":"orders","data":{"n":1e400}}');
        expect(expectProblem(res, 400, 'bad_request').detail).toMatch(/data\.n/);
        expect(await count()).toBe(before);
      });

      it('refuses prototype-poisoning keys', async () => {
        t = await createTestOrderflow({ dialect });
        for (const body of [
          '{"workflow":"orders","data":{"__proto__":{"admin":true}}}',
          '{"workflow":"orders","data":{"constructor":{"prototype":{"admin":true}}}}',
        ]) {
          const res = await raw('/api/v1/orders', body);
          expect(expectProblem(res, 400, 'bad_request').detail).toMatch(/__proto__|prototype/);
        }
        expect(({} as Record<string, unknown>).admin).toBeUndefined();
      });
    });

    describe('methods and media types', () => {
      it('answers 405 method_not_allowed with Allow for an unsupported method on an existing path', async () => {
        t = await createTestOrderflow({ dialect });
        const put = expectProblem(await t.request('admin', { method: 'PUT', url: '/api/v1/orders' }), 405, 'method_not_allowed');
        expect(put.detail).toContain('PUT');
        const res = await t.request('admin', { method: 'PUT', url: '/api/v1/orders' });
        expect(String(res.headers.allow).split(', ')).toEqual(['GET', 'HEAD', 'POST']);
        const del = await t.request('admin', { method: 'DELETE', url: '/api/v1/orders/ord_1/transitions' });
        expectProblem(del, 405, 'method_not_allowed');
        expect(String(del.headers.allow).split(', ')).toEqual(['GET', 'HEAD', 'POST']);
        const health = await t.request('anonymous', { method: 'POST', url: '/healthz' });
        expectProblem(health, 405, 'method_not_allowed');
        expect(health.headers.allow).toBe('GET, HEAD');
      });

      it('answers 415 unsupported_media_type for a text/plain body, and changes nothing', async () => {
        t = await createTestOrderflow({ dialect });
        const before = json(await t.request('admin', { method: 'GET', url: '/api/v1/orders' })).items.length;
        const res = await t.request('admin', {
          method: 'POST',
          url: '/api/v1/orders',
          payload: '{"workflow":"orders","data":{}}',
          headers: { 'content-type': 'text/plain' },
        });
        expectProblem(res, 415, 'unsupported_media_type');
        expect(json(await t.request('admin', { method: 'GET', url: '/api/v1/orders' })).items.length).toBe(before);
      });
    });

    describe('malformed URLs', () => {
      it('answers a problem document for an unknown route and an over-long id that the route refuses', async () => {
        t = await createTestOrderflow({ dialect });
        expectProblem(await t.request('admin', { method: 'GET', url: '/api/v1/nothing-here' }), 404, 'not_found');
        expectProblem(await t.request('admin', { method: 'PUT', url: '/api/v1/nothing-here' }), 404, 'not_found');
        expectProblem(await t.request('admin', { method: 'GET', url: `/api/v1/orders/${'x'.repeat(150)}` }), 422, 'validation_failed');
      });

      it('answers a problem document for an over-long path parameter and a malformed percent-encoding', async () => {
        t = await createTestOrderflow({ dialect });
        const long = await t.request('admin', { method: 'GET', url: `/api/v1/orders/${'x'.repeat(300)}` });
        expect(long.statusCode).toBeGreaterThanOrEqual(400);
        expect(long.statusCode).toBeLessThan(500);
        expect(String(long.headers['content-type'])).toMatch(/^application\/problem\+json/);
        expectProblem(await t.request('admin', { method: 'GET', url: '/api/v1/orders/%E0%A4%A' }), 400, 'bad_request');
      });
    });

    describe('page size', () => {
      it('refuses a page size above 500 with a problem naming the parameter', async () => {
        t = await createTestOrderflow({ dialect });
        const problem = expectProblem(
          await t.request('viewer', { method: 'GET', url: '/api/v1/orders?limit=501' }),
          422,
          'validation_failed',
        );
        expect(problem.errors).toContainEqual(expect.objectContaining({ path: 'query.limit' }));
        const page = await t.request('viewer', { method: 'GET', url: '/api/v1/orders?limit=500' });
        expect(page.statusCode).toBe(200);
        expectProblem(await t.request('viewer', { method: 'GET', url: '/api/v1/orders?cursor=bm90LWEtY3Vyc29y' }), 400, 'bad_request');
      });

      it('pages through every order with the cursor', async () => {
        t = await createTestOrderflow({ dialect });
        for (let i = 0; i < 5; i++) await demoOrder(t);
        const total = (await t.of.store.db.selectFrom('orders').select('id').execute()).length;
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const res = await t.request('viewer', { method: 'GET', url: `/api/v1/orders?limit=3${cursor ? `&cursor=${cursor}` : ''}` });
          expect(res.statusCode).toBe(200);
          const page = json(res);
          expect(page.items.length).toBeLessThanOrEqual(3);
          seen.push(...page.items.map((o: { id: string }) => o.id));
          cursor = page.nextCursor;
        } while (cursor);
        expect(seen).toHaveLength(total);
        expect(new Set(seen).size).toBe(total);
      });
    });

    describe('rate limits', () => {
      it('answers 429 rate_limited with Retry-After when a token exceeds its rate, per token', async () => {
        t = await createTestOrderflow({ dialect, env: { ORDERFLOW_RATE_LIMIT: '5' }, demo: false });
        for (let i = 0; i < 5; i++) expect((await t.request('viewer', { method: 'GET', url: '/api/v1/workflows' })).statusCode).toBe(200);
        const limited = await t.request('viewer', { method: 'GET', url: '/api/v1/workflows' });
        expectProblem(limited, 429, 'rate_limited');
        expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
        // Another token has its own budget.
        expect((await t.request('operator', { method: 'GET', url: '/api/v1/workflows' })).statusCode).toBe(200);
      });
    });
  });
}
