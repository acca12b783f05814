import { afterEach, describe, expect, it } from 'vitest';
import { createWebhookSender, type WebhookSender } from '../../src/actions/webhook.js';
import { createSimulatedClock } from '../../src/runtime/clock.js';
import { DIALECTS, type Dialect } from '../dialects.js';
import { createOrder, hookWorkflow, move, publishWorkflow, type Receiver, startReceiver } from '../helpers/automation.js';
import { createTestOrderflow, json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow | undefined;
let receiver: Receiver | undefined;
let sender: WebhookSender | undefined;

afterEach(async () => {
  await t?.close();
  await receiver?.close();
  await sender?.close();
  t = undefined;
  receiver = undefined;
  sender = undefined;
});

/** Runs one transition whose rule webhooks every URL, and returns the deliveries it produced. */
async function deliver(
  dialect: Dialect,
  urls: string[],
  opts: { allow?: string; lookup?: (host: string) => Promise<{ address: string; family: number }[]> } = {},
) {
  if (opts.lookup) sender = createWebhookSender({ lookup: opts.lookup, allowHosts: opts.allow ? [opts.allow] : [] });
  t = await createTestOrderflow({
    dialect,
    clock: createSimulatedClock(),
    demo: false,
    env: opts.allow ? { ORDERFLOW_WEBHOOK_ALLOW_HOSTS: opts.allow } : {},
    ...(sender ? { create: { worker: { senders: { webhook: sender } } } } : {}),
  });
  await publishWorkflow(
    t,
    hookWorkflow(
      'guard',
      urls.map((url) => ({ type: 'webhook', url })),
    ),
  );
  const order = await createOrder(t, 'guard');
  await move(t, order.id, 'working');
  const counts = await t.of.worker.runOnce();
  const items = json(await t.request('viewer', { method: 'GET', url: '/api/v1/deliveries?type=webhook' })).items;
  return { counts, items: items as { status: string; lastError: string; action: { url: string } }[] };
}

for (const dialect of DIALECTS) {
  describe(`worker destination guard (${dialect})`, () => {
    describe('the destination guard, through the worker', () => {
      it('sends 0 bytes to a loopback port that is not allowed', async () => {
        receiver = await startReceiver();
        const { counts, items } = await deliver(dialect, [`${receiver.url}/hook`]);
        expect(counts).toMatchObject({ failed: 1, delivered: 0, retried: 0 });
        expect(items[0]?.status).toBe('failed');
        expect(items[0]?.lastError).toMatch(/refused/);
        expect(receiver.bytes()).toBe(0);
        expect(receiver.requests).toHaveLength(0);
      });

      it('refuses loopback written in decimal, hex, octal and IPv4-mapped IPv6', async () => {
        receiver = await startReceiver();
        const p = receiver.port;
        const urls = [
          `http://2130706433:${p}/decimal`,
          `http://0x7f000001:${p}/hex`,
          `http://0177.0.0.1:${p}/octal`,
          `http://0x7f.1:${p}/mixed`,
          `http://[::ffff:127.0.0.1]:${p}/mapped`,
          `http://[::ffff:7f00:1]:${p}/mapped-hex`,
          `http://localhost:${p}/name`,
        ];
        const { counts, items } = await deliver(dialect, urls);
        expect(counts).toMatchObject({ failed: urls.length, delivered: 0 });
        for (const d of items) expect(d.lastError, d.action.url).toMatch(/refused/);
        expect(receiver.bytes()).toBe(0);
      });

      it('refuses a name that resolves to a private address', async () => {
        const asked: string[] = [];
        const { counts, items } = await deliver(dialect, ['http://crm.internal.example/hook', 'http://metadata.example/latest'], {
          lookup: async (host) => {
            asked.push(host);
            return host.startsWith('crm') ? [{ address: '10.1.2.3', family: 4 }] : [{ address: '169.254.169.254', family: 4 }];
          },
        });
        expect(asked.sort()).toEqual(['crm.internal.example', 'metadata.example']);
        expect(counts).toMatchObject({ failed: 2, delivered: 0 });
        expect(items.map((d) => d.lastError).join('\n')).toMatch(/10\.1\.2\.3[\s\S]*refused|refused[\s\S]*10\.1\.2\.3/);
        for (const d of items) expect(d.status).toBe('failed');
      });

      it('lets ORDERFLOW_WEBHOOK_ALLOW_HOSTS through, and nothing else', async () => {
        receiver = await startReceiver();
        const { counts } = await deliver(dialect, [`${receiver.url}/allowed`, `http://localhost:${receiver.port}/not-allowed`], {
          allow: '127.0.0.1',
        });
        expect(counts).toMatchObject({ delivered: 1, failed: 1 });
        expect(receiver.requests.map((r) => r.url)).toEqual(['/allowed']);
      });
    });
  });
}
