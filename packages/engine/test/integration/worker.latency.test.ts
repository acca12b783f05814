import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../dialects.js';
import { createAutomationTest, hookWorkflow, publishWorkflow, type Receiver, startReceiver } from '../helpers/automation.js';
import { demoOrder, json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow | undefined;
let receiver: Receiver | undefined;
afterEach(async () => {
  await t?.close();
  await receiver?.close();
  t = undefined;
  receiver = undefined;
});

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

for (const dialect of DIALECTS) {
  describe(`worker latency (${dialect})`, () => {
    describe('the running worker (real clock)', () => {
      it('delivers within 1 s of the commit when idle: mailbox and webhook', async () => {
        receiver = await startReceiver();
        t = await createAutomationTest({ dialect, env: { PORT: '0', ORDERFLOW_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' } });
        await t.of.listen();
        await publishWorkflow(t, hookWorkflow('fast', [{ type: 'webhook', url: `${receiver.url}/fast` }]));
        // Let the seed's own deliveries go out first: the worker is idle from here on.
        await new Promise((r) => setTimeout(r, 300));

        const mailMs: number[] = [];
        for (let i = 0; i < 5; i++) {
          const order = await demoOrder(t, ['awaiting_payment', 'packing', 'shipping']);
          const started = performance.now();
          const res = await t.request('operator', {
            method: 'POST',
            url: `/api/v1/orders/${order.id}/transitions`,
            body: { to: 'delayed' },
          });
          const email = json(res).deliveries.find((d: { type: string }) => d.type === 'email');
          for (;;) {
            const items = json(await t.request('viewer', { method: 'GET', url: `/api/v1/mailbox?deliveryId=${email.id}` })).items;
            if (items.length > 0) break;
            if (performance.now() - started > 2000) throw new Error('the apology did not arrive within 2 s');
            await new Promise((r) => setTimeout(r, 5));
          }
          mailMs.push(performance.now() - started);
        }

        const hookMs: number[] = [];
        for (let i = 0; i < 5; i++) {
          const created = json(
            await t.request('operator', { method: 'POST', url: '/api/v1/orders', body: { workflow: 'fast', data: {} } }),
          ).order;
          const before = receiver.requests.length;
          const started = performance.now();
          await t.request('operator', { method: 'POST', url: `/api/v1/orders/${created.id}/transitions`, body: { to: 'working' } });
          await receiver.waitFor(before + 1, 2000);
          hookMs.push(performance.now() - started);
        }
        console.log(
          `commit → mailbox: median ${median(mailMs).toFixed(1)} ms, max ${Math.max(...mailMs).toFixed(1)} ms; commit → webhook receiver: median ${median(hookMs).toFixed(1)} ms, max ${Math.max(...hookMs).toFixed(1)} ms`,
        );
        expect(Math.max(...mailMs)).toBeLessThan(1000);
        expect(Math.max(...hookMs)).toBeLessThan(1000);
      });
    });
  });
}
