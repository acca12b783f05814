import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ActionOutcome } from '../../src/actions/outcome.js';
import type { WebhookRequest, WebhookSender } from '../../src/actions/webhook.js';
import { createSimulatedClock, type SimulatedClock } from '../../src/runtime/clock.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createWorker, type Worker, type WorkerCrashPoint } from '../../src/worker/worker.js';
import { DIALECTS } from '../dialects.js';
import {
  count,
  createAutomationTest,
  createOrder,
  hookWorkflow,
  move,
  publishWorkflow,
  type Receiver,
  startReceiver,
} from '../helpers/automation.js';
import { json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow;
let receiver: Receiver;
let clock: SimulatedClock;
const workers: Worker[] = [];

for (const dialect of DIALECTS) {
  describe(`worker leases (${dialect})`, () => {
    beforeEach(async () => {
      clock = createSimulatedClock();
      receiver = await startReceiver();
      t = await createAutomationTest({ dialect, clock, demo: false, env: { ORDERFLOW_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' } });
      await publishWorkflow(t, hookWorkflow('lease', [{ type: 'webhook', url: `${receiver.url}/hook` }]));
    });
    afterEach(async () => {
      for (const w of workers.splice(0)) await w.close();
      await t.close();
      await receiver.close();
    });

    /** Another worker instance on the same database, with its own runtime and options. */
    function worker(opts: Partial<Parameters<typeof createWorker>[0]> = {}): Worker {
      const w = createWorker({
        store: t.of.store,
        runtime: createRuntime({ store: t.of.store, clock, newId: t.of.newId }),
        clock,
        newId: t.of.newId,
        config: t.of.config,
        leaseMs: 10_000,
        // The lapse of a lease is what these tests are about: no renewal in the background.
        renewMs: 0,
        ...opts,
      });
      workers.push(w);
      return w;
    }

    async function oneDelivery(): Promise<string> {
      const order = await createOrder(t, 'lease');
      return (await move(t, order.id, 'working')).deliveries[0].id;
    }

    const crashAt = (point: WorkerCrashPoint) => (name: WorkerCrashPoint) => {
      if (name === point) throw new Error('kill -9');
    };

    describe('crash points', () => {
      it('after claim: nothing was sent; another worker delivers once the lease ran out', async () => {
        const id = await oneDelivery();
        await expect(worker({ crashPoint: crashAt('after-claim') }).runOnce()).rejects.toThrow(/simulated crash at after-claim/);
        expect(receiver.requests).toHaveLength(0);
        // Still leased: a healthy worker leaves it alone until the lease ends.
        expect(await t.of.worker.runOnce()).toMatchObject({ claimed: 0 });
        clock.advance(10_000);
        expect(await t.of.worker.runOnce()).toMatchObject({ delivered: 1 });
        expect(receiver.requests).toHaveLength(1);
        expect(json(await t.request('viewer', { method: 'GET', url: `/api/v1/deliveries/${id}` }))).toMatchObject({
          status: 'delivered',
          attempts: 1,
        });
      });

      for (const point of ['after-send', 'before-ack'] as const) {
        it(`${point}: the delivery is sent again with the same webhook-id (at least once), and recorded once`, async () => {
          const id = await oneDelivery();
          await expect(worker({ crashPoint: crashAt(point) }).runOnce()).rejects.toThrow(new RegExp(`simulated crash at ${point}`));
          expect(receiver.requests).toHaveLength(1);
          expect(await count(t, 'delivery_attempts')).toBe(0);
          clock.advance(10_000);
          expect(await t.of.worker.runOnce()).toMatchObject({ delivered: 1 });
          expect(receiver.requests.map((r) => r.headers['webhook-id'])).toEqual([id, id]);
          const d = json(await t.request('viewer', { method: 'GET', url: `/api/v1/deliveries/${id}` }));
          expect(d).toMatchObject({ status: 'delivered', attempts: 1 });
          expect(d.attemptLog).toHaveLength(1);
        });
      }
    });

    describe('fencing', () => {
      it('a worker whose lease was taken over cannot complete the delivery', async () => {
        const id = await oneDelivery();
        let release!: (o: ActionOutcome) => void;
        let started!: () => void;
        const inSend = new Promise<void>((r) => {
          started = r;
        });
        const slowSender: WebhookSender = {
          send: (_req: WebhookRequest) => {
            started();
            return new Promise<ActionOutcome>((r) => {
              release = r;
            });
          },
          close: async () => undefined,
        };
        const stale = worker({ senders: { webhook: slowSender, email: t.of.senders.email } });
        const running = stale.runOnce();
        await inSend;
        clock.advance(10_001);
        expect(await t.of.worker.runOnce()).toMatchObject({ delivered: 1 });
        // The stale worker finally hears back (a failure it would retry): it may record nothing.
        release({ ok: false, retryable: true, error: 'HTTP 503', status: 503, durationMs: 10_500 });
        expect(await running).toMatchObject({ leaseLost: 1, retried: 0, delivered: 0 });
        const d = json(await t.request('viewer', { method: 'GET', url: `/api/v1/deliveries/${id}` }));
        expect(d).toMatchObject({ status: 'delivered', attempts: 1, lastError: null });
        expect(d.attemptLog.map((a: { outcome: string }) => a.outcome)).toEqual(['delivered']);
      });

      it('stop() waits for in-flight work and releases claims it has not started', async () => {
        for (let i = 0; i < 6; i++) await oneDelivery();
        let release!: () => void;
        const gate = new Promise<void>((r) => {
          release = r;
        });
        let started = 0;
        const sender: WebhookSender = {
          send: async () => {
            started++;
            await gate;
            return { ok: true, status: 200, durationMs: 1 };
          },
          close: async () => undefined,
        };
        const w = worker({ senders: { webhook: sender, email: t.of.senders.email }, concurrency: 2, pollMs: 60_000 });
        w.start();
        while (started < 2) await new Promise((r) => setTimeout(r, 5));
        const stopping = w.stop();
        release();
        await stopping;
        expect(started).toBe(2);
        const rows = await t.of.store.db.selectFrom('deliveries').select(['status', 'lease_token']).execute();
        expect(rows.filter((r) => r.status === 'delivered')).toHaveLength(2);
        // The other four are pending again and free to claim at once.
        expect(rows.filter((r) => r.status === 'pending' && r.lease_token === null)).toHaveLength(4);
        expect(await t.of.worker.runOnce()).toMatchObject({ delivered: 4 });
      });
    });
  });
}
