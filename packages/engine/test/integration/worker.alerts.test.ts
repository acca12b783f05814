import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createSimulatedClock } from '../../src/runtime/clock.js';
import { DIALECTS } from '../dialects.js';
import {
  createAutomationTest,
  createOrder,
  hookWorkflow,
  move,
  publishWorkflow,
  type Receiver,
  startReceiver,
} from '../helpers/automation.js';
import { createTestOrderflow, expectProblem, json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow | undefined;
let receiver: Receiver | undefined;
afterEach(async () => {
  await t?.close();
  await receiver?.close();
  t = undefined;
  receiver = undefined;
});

// biome-ignore lint/suspicious/noExplicitAny: test bodies are read loosely
type Note = any;

for (const dialect of DIALECTS) {
  describe(`worker alerts and idempotency keys (${dialect})`, () => {
    it('folds repeated dead deliveries into one open critical notification per endpoint and per rule, emailed once', async () => {
      receiver = await startReceiver();
      receiver.respond({ status: 503, body: 'down' });
      t = await createAutomationTest({
        dialect,
        demo: false,
        clock: createSimulatedClock(),
        env: {
          ORDERFLOW_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
          ORDERFLOW_RETRY_MAX_ATTEMPTS: '1',
          ORDERFLOW_ENDPOINT_FAILURE_LIMIT: '100',
          ORDERFLOW_ADMIN_EMAILS: 'ops@example.com',
        },
      });
      const ep = await t.request('designer', {
        method: 'POST',
        url: '/api/v1/endpoints',
        body: { key: 'erp', url: `${receiver.url}/erp` },
      });
      expect(ep.statusCode, ep.body).toBe(201);
      await publishWorkflow(t, hookWorkflow('named', [{ type: 'webhook', endpoint: 'erp' }]));
      await publishWorkflow(t, hookWorkflow('inline', [{ type: 'webhook', url: `${receiver.url}/inline` }]));
      for (let i = 0; i < 6; i++) {
        await move(t, (await createOrder(t, 'named')).id, 'working');
        await move(t, (await createOrder(t, 'inline')).id, 'working');
      }
      let dead = 0;
      for (let i = 0; i < 5; i++) dead += (await t.of.worker.runOnce()).dead;
      expect(dead).toBe(12);

      const notes: Note[] = json(await t.request('viewer', { method: 'GET', url: '/api/v1/notifications?limit=500' })).items;
      const critical = notes.filter((n: Note) => n.severity === 'critical');
      expect(critical).toHaveLength(2);
      const byEndpoint = critical.find((n: Note) => n.message.includes('/erp'));
      const byRule = critical.find((n: Note) => n.message.includes('/inline'));
      expect(byEndpoint).toMatchObject({ count: 6, readAt: null, lastAt: expect.any(String) });
      expect(byRule).toMatchObject({ count: 6, readAt: null });
      const mails = json(await t.request('viewer', { method: 'GET', url: '/api/v1/mailbox?limit=500' })).items;
      expect(mails.filter((m: Note) => /dead/.test(m.text))).toHaveLength(2);

      // Once read, the next failure raises a fresh alert (and one more email).
      const read = await t.request('operator', { method: 'POST', url: `/api/v1/notifications/${byEndpoint.id}/read` });
      expect(read.statusCode).toBe(200);
      await move(t, (await createOrder(t, 'named')).id, 'working');
      for (let i = 0; i < 3; i++) await t.of.worker.runOnce();
      const after: Note[] = json(await t.request('viewer', { method: 'GET', url: '/api/v1/notifications?limit=500' })).items;
      const open = after.filter((n: Note) => n.severity === 'critical' && n.readAt === null);
      expect(open).toHaveLength(2);
      expect(open.find((n: Note) => n.message.includes('/erp'))).toMatchObject({ count: 1 });
      const mailsAfter = json(await t.request('viewer', { method: 'GET', url: '/api/v1/mailbox?limit=500' })).items;
      expect(mailsAfter.filter((m: Note) => /dead/.test(m.text))).toHaveLength(3);
    });

    it('keeps Idempotency-Keys for ORDERFLOW_IDEMPOTENCY_TTL; the worker prunes older ones', async () => {
      const clock = createSimulatedClock(new Date('2026-12-01T10:00:00Z'));
      t = await createTestOrderflow({ dialect, clock, env: { ORDERFLOW_IDEMPOTENCY_TTL: '24h' } });
      const post = (key: string, total: number) =>
        t?.request('operator', {
          method: 'POST',
          url: '/api/v1/orders',
          body: { workflow: 'orders', data: { total } },
          headers: { 'idempotency-key': key },
        }) as ReturnType<TestOrderflow['request']>;
      const keys = async () => (await t?.of.store.db.selectFrom('idempotency_keys').select('key').execute())?.map((r) => r.key).sort();
      expect((await post('pruned', 1)).statusCode).toBe(201);
      expect((await post('expired', 1)).statusCode).toBe(201);
      clock.advance(23 * 3600_000);
      await t.of.worker.runOnce();
      expect(await keys()).toEqual(['expired', 'pruned']);
      expectProblem(await post('pruned', 2), 409, 'idempotency_conflict');

      clock.advance(2 * 3600_000);
      // Expired but not pruned yet: the key is free again.
      const reused = await post('expired', 2);
      expect(reused.statusCode, reused.body).toBe(201);
      expect(reused.headers['idempotent-replayed']).toBeUndefined();
      await t.of.worker.runOnce();
      expect(await keys()).toEqual(['expired']);
      const fresh = await post('pruned', 2);
      expect(fresh.statusCode).toBe(201);
      expect(fresh.headers['idempotent-replayed']).toBeUndefined();
    });
  });
}

describe('idempotency configuration', () => {
  it('validates ORDERFLOW_IDEMPOTENCY_TTL and defaults to 24 h', () => {
    expect(loadConfig({}, '/nonexistent').idempotencyTtlMs).toBe(24 * 3600_000);
    expect(loadConfig({ ORDERFLOW_IDEMPOTENCY_TTL: '2d' }, '/nonexistent').idempotencyTtlMs).toBe(48 * 3600_000);
    expect(() => loadConfig({ ORDERFLOW_IDEMPOTENCY_TTL: 'forever' }, '/nonexistent')).toThrow(ConfigError);
    expect(() => loadConfig({ ORDERFLOW_IDEMPOTENCY_TTL: '1s' }, '/nonexistent')).toThrow(/ORDERFLOW_IDEMPOTENCY_TTL/);
    expect(() => loadConfig({ ORDERFLOW_METRICS_PUBLIC: 'maybe' }, '/nonexistent')).toThrow(/ORDERFLOW_METRICS_PUBLIC/);
  });
});
