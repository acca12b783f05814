import { afterEach, describe, expect, it } from 'vitest';
import { insertNotification } from '../../src/store/notifications.js';
import { DIALECTS } from '../dialects.js';
import { createTestOrderflow, expectProblem, json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow;
afterEach(async () => {
  await t?.close();
});

for (const dialect of DIALECTS) {
  describe(`notifications (${dialect})`, () => {
    it('lets operator, designer and admin mark a notification read, not a viewer (read only)', async () => {
      t = await createTestOrderflow({ dialect, demo: false });
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const n = await insertNotification(t.of.store.db, {
          id: t.of.newId('ntf'),
          channel: 'ops',
          severity: 'info',
          message: `n${i}`,
          orderId: null,
          deliveryId: null,
          createdAt: new Date().toISOString(),
        });
        ids.push(n.id);
      }
      const read = (role: 'viewer' | 'operator' | 'designer' | 'admin', id: string) =>
        t.request(role, { method: 'POST', url: `/api/v1/notifications/${id}/read` });

      expectProblem(await read('viewer', ids[0] as string), 403, 'forbidden');
      const list = json(await t.request('viewer', { method: 'GET', url: '/api/v1/notifications' }));
      expect(list.items.every((n: { readAt: string | null }) => n.readAt === null)).toBe(true);

      for (const [i, role] of (['operator', 'designer', 'admin'] as const).entries()) {
        const res = await read(role, ids[i] as string);
        expect(res.statusCode, `${role}: ${res.body}`).toBe(200);
        expect(json(res).readAt).toBeTruthy();
      }
      expectProblem(await read('operator', 'ntf_missing'), 404, 'not_found');
    });
  });
}
