import { get, type IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createSimulatedClock } from '../../src/runtime/clock.js';
import { insertNotification } from '../../src/worker/notifications.js';
import { DIALECTS } from '../dialects.js';
import { createAutomationTest, move } from '../helpers/automation.js';
import { demoOrder, json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

for (const dialect of DIALECTS) {
  describe(`worker notifications (${dialect})`, () => {
    describe('notifications', () => {
      it('the package-lost event notifies admins (in the app and by email) and creates a linked replacement order', async () => {
        t = await createAutomationTest({
          dialect,
          clock: createSimulatedClock(),
          env: { ORDERFLOW_ADMIN_EMAILS: 'ops@example.com,boss@example.com' },
        });
        await t.of.worker.runOnce();
        const order = await demoOrder(t, ['awaiting_payment', 'packing', 'shipping'], { items: [{ sku: 'LAMP', qty: 1 }] });
        const res = await t.request('operator', {
          method: 'POST',
          url: `/api/v1/orders/${order.id}/events`,
          body: { type: 'package.lost' },
        });
        expect(res.statusCode, res.body).toBe(200);
        const change = json(res);
        expect(change.order).toMatchObject({ state: 'lost_in_transit' });
        const replacementId = change.order.links.find((l: { rel: string }) => l.rel === 'replacement')?.orderId;
        expect(replacementId).toMatch(/^ord_/);
        const notify = change.deliveries.find((d: { type: string }) => d.type === 'notify');
        expect(notify).toBeDefined();

        const replacement = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${replacementId}` }));
        expect(replacement.links).toEqual([{ rel: 'replacement_of', orderId: order.id }]);
        expect(replacement.data).toMatchObject({
          customer: order.data.customer,
          items: [{ sku: 'LAMP', qty: 1 }],
          note: `Replacement for ${order.id}`,
        });
        const original = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}` }));
        expect(original.links).toEqual([{ rel: 'replacement', orderId: replacementId }]);

        const counts = await t.of.worker.runOnce();
        expect(counts.failed + counts.dead).toBe(0);
        const notes = json(await t.request('viewer', { method: 'GET', url: '/api/v1/notifications' })).items;
        const lost = notes.find((n: { deliveryId: string }) => n.deliveryId === notify.id);
        expect(lost).toMatchObject({ channel: 'admins', severity: 'critical', orderId: order.id, readAt: null });
        expect(lost.message).toBe(`Package for order ${order.id} was lost; a replacement order was created.`);
        const mail = json(await t.request('viewer', { method: 'GET', url: `/api/v1/mailbox?deliveryId=${notify.id}` })).items;
        expect(mail).toHaveLength(1);
        expect(mail[0]).toMatchObject({ to: 'ops@example.com, boss@example.com' });
        expect(mail[0].subject).toContain('critical');
        expect(mail[0].text).toContain(order.id);

        // Mark read: unread ones stay first.
        const read = await t.request('operator', { method: 'POST', url: `/api/v1/notifications/${lost.id}/read` });
        expect(json(read).readAt).toBeTruthy();
        expect((await t.request('operator', { method: 'POST', url: '/api/v1/notifications/ntf_missing/read' })).statusCode).toBe(404);
      });

      it('lists unread first with a cursor', async () => {
        t = await createAutomationTest({ dialect, clock: createSimulatedClock(), demo: false });
        const at = new Date().toISOString();
        for (let i = 0; i < 5; i++) {
          await insertNotification(t.of.store.db, {
            id: t.of.newId('ntf'),
            channel: 'ops',
            severity: 'info',
            message: `n${i}`,
            orderId: null,
            deliveryId: null,
            createdAt: at,
          });
        }
        const all = json(await t.request('viewer', { method: 'GET', url: '/api/v1/notifications' })).items;
        await t.request('operator', { method: 'POST', url: `/api/v1/notifications/${all[0].id}/read` });
        await t.request('operator', { method: 'POST', url: `/api/v1/notifications/${all[1].id}/read` });
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const page = json(
            await t.request('viewer', { method: 'GET', url: `/api/v1/notifications?limit=2${cursor ? `&cursor=${cursor}` : ''}` }),
          );
          seen.push(...page.items.map((n: { message: string; readAt: string | null }) => `${n.message}${n.readAt ? '(read)' : ''}`));
          cursor = page.nextCursor;
        } while (cursor);
        expect(seen).toEqual(['n2', 'n1', 'n0', 'n4(read)', 'n3(read)']);
      });
    });

    /** Reads Server-Sent Events from a live server. */
    function openStream(url: string, token: string) {
      const events: { event: string; data: string }[] = [];
      let raw = '';
      let response!: IncomingMessage;
      const ready = new Promise<void>((resolve, reject) => {
        const req = get(url, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
          response = res;
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            raw += chunk;
            let at = raw.indexOf('\n\n');
            while (at >= 0) {
              const block = raw.slice(0, at);
              raw = raw.slice(at + 2);
              const event = /^event: (.*)$/m.exec(block)?.[1];
              const data = /^data: (.*)$/m.exec(block)?.[1];
              if (event && data) events.push({ event, data });
              else if (block.startsWith(':')) events.push({ event: 'comment', data: block });
              at = raw.indexOf('\n\n');
            }
          });
          resolve();
        });
        req.on('error', reject);
      });
      const ended = () => new Promise<void>((resolve) => (response.complete ? resolve() : response.on('close', () => resolve())));
      return { events, ready, response: () => response, ended };
    }

    async function until(cond: () => boolean, ms = 3000) {
      const deadline = Date.now() + ms;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error('timed out waiting');
        await new Promise((r) => setTimeout(r, 10));
      }
    }

    describe('GET /notifications/stream', () => {
      it('pushes notifications live, sees those stored by other processes, beats, and closes cleanly', async () => {
        t = await createAutomationTest({
          dialect,
          demo: true,
          env: { PORT: '0' },
          create: { startWorker: false, ops: { streamPollMs: 50, heartbeatMs: 100 } },
        });
        await t.of.worker.runOnce();
        const address = await t.of.listen();
        const stream = openStream(`${address}/api/v1/notifications/stream`, t.tokens.viewer);
        await stream.ready;
        expect(stream.response().statusCode).toBe(200);
        expect(stream.response().headers['content-type']).toMatch(/^text\/event-stream/);

        // Live: the worker stores a notification (package lost) and publishes it in-process.
        const order = await demoOrder(t, ['awaiting_payment', 'packing', 'shipping']);
        await move(t, order.id, 'lost_in_transit');
        await t.of.worker.runOnce();
        await until(() => stream.events.some((e) => e.event === 'notification'));
        const live = JSON.parse(stream.events.find((e) => e.event === 'notification')?.data ?? '{}');
        expect(live).toMatchObject({ severity: 'critical', orderId: order.id, channel: 'admins' });

        // Another process writes straight to the table: the stream's poll finds it.
        const id = t.of.newId('ntf');
        await insertNotification(t.of.store.db, {
          id,
          channel: 'ops',
          severity: 'warning',
          message: 'from elsewhere',
          orderId: null,
          deliveryId: null,
          createdAt: t.of.clock.now().toISOString(),
        });
        await until(() => stream.events.some((e) => e.event === 'notification' && e.data.includes(id)));
        await until(() => stream.events.some((e) => e.event === 'comment' && e.data.includes('ping')));
        // Each notification arrives once.
        const ids = stream.events.filter((e) => e.event === 'notification').map((e) => JSON.parse(e.data).id);
        expect(new Set(ids).size).toBe(ids.length);

        const closed = stream.ended();
        const started = Date.now();
        await t.close();
        t = undefined;
        await closed;
        expect(Date.now() - started).toBeLessThan(3000);
      });

      it('refuses callers without a token', async () => {
        t = await createAutomationTest({ dialect, demo: false, env: { PORT: '0' }, create: { startWorker: false } });
        const address = await t.of.listen();
        const status = await new Promise<number>((resolve, reject) => {
          get(`${address}/api/v1/notifications/stream`, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          }).on('error', reject);
        });
        expect(status).toBe(401);
      });
    });
  });
}
