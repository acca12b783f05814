import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../dialects.js';
import { createTestOrderflow, demoOrder, expectProblem, json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow;
afterEach(async () => {
  await t?.close();
});

for (const dialect of DIALECTS) {
  describe(`conditional requests (${dialect})`, () => {
    it('compares If-Match strongly: a weak tag never matches', async () => {
      t = await createTestOrderflow({ dialect });
      const order = await demoOrder(t);
      const patch = (ifMatch: string) =>
        t.request('operator', {
          method: 'PATCH',
          url: `/api/v1/orders/${order.id}/data`,
          body: { note: ifMatch },
          headers: { 'if-match': ifMatch },
        });
      expect(expectProblem(await patch('W/"1"'), 412, 'version_conflict').currentVersion).toBe(1);
      expectProblem(await patch('"2", W/"1"'), 412, 'version_conflict');
      expectProblem(await patch('1'), 412, 'version_conflict');
      expect(json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}` })).version).toBe(1);

      // A list with the current tag, and `*` (the order exists), match.
      const listed = await patch('"7", "1"');
      expect(listed.statusCode, listed.body).toBe(200);
      expect(listed.headers.etag).toBe('"2"');
      const any = await patch('*');
      expect(any.statusCode, any.body).toBe(200);
      expect(any.headers.etag).toBe('"3"');
      expectProblem(await patch('"2"'), 412, 'version_conflict');

      // Migration honours If-Match too, as documented.
      const migrate = await t.request('operator', {
        method: 'POST',
        url: `/api/v1/orders/${order.id}/migrate`,
        body: { toVersion: 2 },
        headers: { 'if-match': 'W/"3"' },
      });
      expect(expectProblem(migrate, 412, 'version_conflict').currentVersion).toBe(3);
    });

    it('compares If-None-Match weakly, takes * and lists, and answers 304 with the ETag', async () => {
      t = await createTestOrderflow({ dialect });
      const order = await demoOrder(t);
      const get = (inm: string) =>
        t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}`, headers: { 'if-none-match': inm } });
      for (const inm of ['"1"', 'W/"1"', '*', '"5", W/"1"']) {
        const res = await get(inm);
        expect(res.statusCode, inm).toBe(304);
        expect(res.headers.etag).toBe('"1"');
        expect(res.body).toBe('');
      }
      for (const inm of ['"2"', 'W/"2"', '1', 'garbage']) {
        const res = await get(inm);
        expect(res.statusCode, inm).toBe(200);
        expect(json(res).version).toBe(1);
      }
    });

    it('sends the ETag of the new order on create', async () => {
      t = await createTestOrderflow({ dialect });
      const created = await t.request('operator', { method: 'POST', url: '/api/v1/orders', body: { workflow: 'orders', data: {} } });
      expect(created.statusCode, created.body).toBe(201);
      expect(created.headers.etag).toBe(`"${json(created).order.version}"`);
      expect(created.headers.location).toBe(`/api/v1/orders/${json(created).order.id}`);
    });
  });
}
