import { afterEach, describe, expect, it } from 'vitest';
import { createSimulatedClock } from '../../src/runtime/clock.js';
import { deleteTemplate, upsertTemplate } from '../../src/store/templates.js';
import { DIALECTS } from '../dialects.js';
import {
  createAutomationTest,
  createOrder,
  headerLines,
  hookWorkflow,
  move,
  parseMail,
  publishWorkflow,
  type SmtpSink,
  startSmtp,
} from '../helpers/automation.js';
import { demoOrder, json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow | undefined;
let smtp: SmtpSink | undefined;

afterEach(async () => {
  await t?.close();
  await smtp?.close();
  t = undefined;
  smtp = undefined;
});

/** Runs the worker until the demo seed's own deliveries are out of the way. */
async function drainSeed(x: TestOrderflow) {
  await x.of.worker.runOnce();
}

for (const dialect of DIALECTS) {
  describe(`worker email (${dialect})`, () => {
    describe('email deliveries', () => {
      it('sends the demo delay apology to a real SMTP server, with the estimate and a Message-ID from the delivery id', async () => {
        smtp = await startSmtp();
        t = await createAutomationTest({
          dialect,
          clock: createSimulatedClock(),
          env: { ORDERFLOW_SMTP_URL: smtp.url, ORDERFLOW_MAIL_FROM: 'Shop <shop@example.com>' },
        });
        await drainSeed(t);
        const seeded = smtp.messages.length;
        const order = await demoOrder(t, ['awaiting_payment', 'packing', 'shipping'], {
          customer: { email: 'grace@example.com', name: 'Grace Hopper' },
          deliveryEstimate: 'Friday 13 March',
        });
        const change = await move(t, order.id, 'delayed');
        const email = change.deliveries.find((d: { type: string }) => d.type === 'email');
        expect(email).toBeDefined();
        await t.of.worker.runOnce();

        const mails = smtp.messages.slice(seeded).filter((m) => m.raw.includes(`${email.id}@`));
        expect(mails).toHaveLength(1);
        const mail = mails[0] as (typeof mails)[number];
        expect(mail.to).toEqual(['grace@example.com']);
        expect(mail.from).toBe('shop@example.com');
        const { headers, body } = parseMail(mail.raw);
        expect(headerLines(headers, 'Message-ID')).toEqual([`Message-ID: <${email.id}@orderflow.local>`]);
        expect(headerLines(headers, 'Subject')[0]).toMatch(/delayed/i);
        expect(body).toContain('Friday 13 March');
        expect(body).toContain('Grace');
        const d = json(await t.request('viewer', { method: 'GET', url: `/api/v1/deliveries/${email.id}` }));
        expect(d).toMatchObject({ status: 'delivered', attempts: 1 });
        expect(d.attemptLog[0]).toMatchObject({ outcome: 'delivered', error: null });
        // Nothing went to the built-in mailbox.
        expect(json(await t.request('viewer', { method: 'GET', url: '/api/v1/mailbox' })).items).toEqual([]);
      });

      it('replaces CR/LF in a rendered subject by a space and sends it; a recipient from order data stays one address', async () => {
        smtp = await startSmtp();
        t = await createAutomationTest({ dialect, clock: createSimulatedClock(), demo: false, env: { ORDERFLOW_SMTP_URL: smtp.url } });
        const now = new Date().toISOString();
        // From order data (the realistic attack) and in the stored template itself (written past the API check).
        await upsertTemplate(t.of.store.db, { key: 'greeting', subject: 'Hello {{ order.data.name }}', html: '<p>Hi</p>' }, now);
        await upsertTemplate(t.of.store.db, { key: 'broken', subject: 'Hello\r\nBcc: evil@example.com', html: '<p>Hi</p>' }, now);
        await publishWorkflow(t, {
          key: 'mail',
          name: 'Mail',
          states: [
            { key: 'placed', name: 'Placed', group: 'new', initial: true },
            { key: 'working', name: 'Working', group: 'processing' },
            { key: 'done', name: 'Done', group: 'completed' },
            { key: 'dropped', name: 'Dropped', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
          ],
          transitions: [
            { from: 'placed', to: 'working' },
            { from: 'working', to: 'done' },
            { from: '*', to: 'dropped' },
          ],
          rules: [
            {
              trigger: 'state_changed',
              actions: [
                { type: 'send_email', template: 'greeting', to: 'customer' },
                { type: 'send_email', template: 'broken', to: 'customer' },
                { type: 'send_email', template: 'greeting', to: '{{ order.data.sneaky }}' },
                { type: 'send_email', template: 'greeting', to: '{{ order.data.list }}' },
                { type: 'send_email', template: 'greeting', to: 'customer', cc: '{{ order.data.list }}' },
              ],
            },
          ],
        });
        const order = await createOrder(t, 'mail', {
          customer: { email: 'ada@example.com' },
          name: 'Ada\r\nBcc: evil@example.com',
          sneaky: 'ada@example.com\r\nBcc: evil@example.com',
          list: 'ada@example.com, evil@example.com;evil2@example.com',
        });
        await move(t, order.id, 'working');
        const counts = await t.of.worker.runOnce();
        // Two emails sent; the three that cannot be made each raise a critical notification (a
        // delivery of its own, folded into one open notification for the rule).
        expect(counts).toMatchObject({ failed: 3, delivered: 2 + 3, retried: 0 });
        expect(smtp.messages).toHaveLength(2);
        for (const m of smtp.messages) {
          expect(m.to).toEqual(['ada@example.com']);
          const { headers } = parseMail(m.raw);
          expect(headerLines(headers, 'bcc')).toEqual([]);
          expect(headerLines(headers, 'subject')).toEqual([expect.stringMatching(/^Subject: Hello (Ada )?Bcc: evil@example\.com$/)]);
        }
        expect(smtp.messages.flatMap((m) => m.to)).not.toContain('evil@example.com');
        const items = json(await t.request('viewer', { method: 'GET', url: '/api/v1/deliveries?status=failed' })).items;
        expect(items).toHaveLength(3);
        for (const d of items) expect(d.lastError).toMatch(/not exactly one address/);
      });

      it("records each email attempt's own SMTP exchange as its duration, not the wait for the pool's one connection", async () => {
        // The mail server takes 400 ms to accept each message, and the pool has one connection:
        // the worker sends both emails at once, so the second waits for the first's exchange.
        const answerMs = 400;
        smtp = await startSmtp({ answerDelayMs: answerMs });
        t = await createAutomationTest({
          dialect,
          clock: createSimulatedClock(),
          demo: false,
          env: { ORDERFLOW_SMTP_URL: `${smtp.url}?maxConnections=1` },
        });
        await upsertTemplate(t.of.store.db, { key: 'hello', subject: 'Hello', html: '<p>Hi</p>' }, new Date().toISOString());
        await publishWorkflow(
          t,
          hookWorkflow('mail', [
            { type: 'send_email', template: 'hello', to: 'customer' },
            { type: 'send_email', template: 'hello', to: 'customer' },
          ]),
        );
        const order = await createOrder(t, 'mail', { customer: { email: 'ada@example.com' } });
        const change = await move(t, order.id, 'working');
        const emails = change.deliveries.filter((d: { type: string }) => d.type === 'email');
        expect(emails).toHaveLength(2);
        const started = Date.now();
        expect(await t.of.worker.runOnce()).toMatchObject({ delivered: 2 });
        // Both went over the single connection, one after the other.
        expect(smtp.messages).toHaveLength(2);
        expect(Date.now() - started).toBeGreaterThanOrEqual(2 * answerMs - 20);
        for (const email of emails) {
          const d = json(await t.request('viewer', { method: 'GET', url: `/api/v1/deliveries/${email.id}` }));
          expect(d.attemptLog).toHaveLength(1);
          expect(d.attemptLog[0]).toMatchObject({ outcome: 'delivered' });
          expect(d.attemptLog[0].durationMs).toBeGreaterThanOrEqual(answerMs - 20);
          expect(d.attemptLog[0].durationMs).toBeLessThan(2 * answerMs - 100);
        }
      });

      it('puts email in the built-in mailbox when no SMTP server is configured', async () => {
        t = await createAutomationTest({ dialect, clock: createSimulatedClock() });
        await drainSeed(t);
        const order = await demoOrder(t, ['awaiting_payment', 'packing', 'shipping'], { deliveryEstimate: '2026-02-14' });
        const change = await move(t, order.id, 'delayed');
        const email = change.deliveries.find((d: { type: string }) => d.type === 'email');
        await t.of.worker.runOnce();
        const list = json(await t.request('viewer', { method: 'GET', url: `/api/v1/mailbox?deliveryId=${email.id}` }));
        expect(list.items).toHaveLength(1);
        const msg = json(await t.request('viewer', { method: 'GET', url: `/api/v1/mailbox/${list.items[0].id}` }));
        expect(msg).toMatchObject({ to: 'ada@example.com', cc: null, deliveryId: email.id, messageId: `<${email.id}@orderflow.local>` });
        expect(msg.subject).toMatch(/delayed/i);
        expect(msg.html).toContain('2026-02-14');
        expect(msg.text).toContain('2026-02-14');
        expect((await t.request('viewer', { method: 'GET', url: '/api/v1/mailbox/msg_missing' })).statusCode).toBe(404);
      });

      it('fails at once when the template is missing or the recipient cannot be resolved', async () => {
        t = await createAutomationTest({ dialect, clock: createSimulatedClock(), demo: false });
        await upsertTemplate(t.of.store.db, { key: 'hello', subject: 'Hello', html: '<p>Hi</p>' }, new Date().toISOString());
        await publishWorkflow(t, {
          key: 'mail',
          name: 'Mail',
          states: [
            { key: 'placed', name: 'Placed', group: 'new', initial: true },
            { key: 'working', name: 'Working', group: 'processing' },
            { key: 'done', name: 'Done', group: 'completed' },
            { key: 'dropped', name: 'Dropped', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
          ],
          transitions: [
            { from: 'placed', to: 'working' },
            { from: '*', to: 'dropped' },
          ],
          rules: [{ trigger: 'state_changed', actions: [{ type: 'send_email', template: 'hello', to: 'customer' }] }],
        });
        const order = await createOrder(t, 'mail', {});
        await move(t, order.id, 'working');
        await deleteTemplate(t.of.store.db, 'hello');
        const counts = await t.of.worker.runOnce();
        expect(counts).toMatchObject({ failed: 1 });
        const d = json(await t.request('viewer', { method: 'GET', url: '/api/v1/deliveries?status=failed' })).items[0];
        expect(d.lastError).toMatch(/template "hello" does not exist/);
      });
    });
  });
}
