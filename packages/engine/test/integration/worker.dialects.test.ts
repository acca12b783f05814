/**
 * The worker on every dialect: two workers with their own connections claim concurrently
 * (on PostgreSQL for real, with FOR UPDATE SKIP LOCKED); every delivery is attempted once
 * and every timer fires once.
 */
import type { Caller, Definition } from '@orderflow/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ActionOutcome } from '../../src/actions/outcome.js';
import type { WebhookRequest, WebhookSender } from '../../src/actions/webhook.js';
import { loadConfig } from '../../src/config.js';
import { createSimulatedClock } from '../../src/runtime/clock.js';
import { createIdGenerator } from '../../src/runtime/ids.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { createPostgresStore } from '../../src/store/postgres.js';
import * as repo from '../../src/store/repo.js';
import type { Store } from '../../src/store/store.js';
import { insertWorkflow, publishVersion } from '../../src/store/workflows.js';
import { createWorker, type Worker } from '../../src/worker/worker.js';
import { DIALECTS, freshStore, PG_URL } from '../dialects.js';

const caller: Caller = { actor: { type: 'api', id: 'tok_test' }, roles: ['admin'] };
const ORDERS = 40;

const DEFINITION: Definition = {
  key: 'dual',
  name: 'Dual',
  states: [
    { key: 'placed', name: 'Placed', group: 'new', initial: true },
    { key: 'waiting', name: 'Waiting', group: 'processing', timeout: { after: '1m', to: 'late' } },
    { key: 'late', name: 'Late', group: 'processing' },
    { key: 'done', name: 'Done', group: 'completed' },
    { key: 'gone', name: 'Gone', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
  ],
  transitions: [
    { from: 'placed', to: 'waiting' },
    { from: 'late', to: 'done' },
    { from: '*', to: 'gone' },
  ],
  rules: [{ id: 'hook', trigger: 'state_changed', actions: [{ type: 'webhook', url: 'https://hooks.example.com/in' }] }],
};

for (const dialect of DIALECTS) {
  describe(`worker (${dialect})`, () => {
    let store: Store;
    let url: string;
    let cleanup: () => Promise<void>;
    const extra: { close(): Promise<void> }[] = [];
    const clock = createSimulatedClock('2026-03-01T10:00:00.000Z');
    const newId = createIdGenerator(clock);
    let runtime: Runtime;

    beforeEach(async () => {
      ({ store, url, cleanup } = await freshStore(dialect));
      const now = clock.now().toISOString();
      await store.transaction(async (tx) => {
        await insertWorkflow(tx, 'dual', 'Dual', DEFINITION, now);
        await publishVersion(tx, 'dual', DEFINITION, 'test', now);
      });
      runtime = createRuntime({ store, clock, newId });
    });
    afterEach(async () => {
      for (const x of extra.splice(0)) await x.close();
      await cleanup();
    });

    /** A sender that records every request and answers 200 after a short while (long enough that one worker cannot send everything before the other claims). */
    function recordingSender(log: string[]): WebhookSender {
      return {
        send: async (req: WebhookRequest): Promise<ActionOutcome> => {
          log.push(req.deliveryId);
          await new Promise((r) => setTimeout(r, 10));
          return { ok: true, status: 200, durationMs: 10 };
        },
        close: async () => undefined,
      };
    }

    /** A second connection (pool) to the same database: a second process, as far as the database can tell. */
    function otherStore(): Store {
      if (dialect === 'sqlite') return store;
      const schema = /search_path%3D([a-z0-9_]+)/.exec(url)?.[1] ?? /search_path=([a-z0-9_]+)/.exec(decodeURIComponent(url))?.[1];
      const s = createPostgresStore({ connectionString: PG_URL, ...(schema ? { schema } : {}) });
      extra.push({ close: () => s.close() });
      return s;
    }

    function worker(s: Store, sent: string[]): Worker {
      const config = loadConfig({ ORDERFLOW_DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', ORDERFLOW_DEMO: 'false' });
      const w = createWorker({
        store: s,
        runtime: s === store ? runtime : createRuntime({ store: s, clock, newId }),
        clock,
        newId,
        config,
        batchSize: 5,
        senders: { webhook: recordingSender(sent) },
      });
      extra.unshift(w);
      return w;
    }

    it('two workers deliver every delivery once and fire every timer once', async () => {
      const ids: string[] = [];
      for (let i = 0; i < ORDERS; i++) {
        const created = await runtime.applyCommand({
          command: { type: 'create', workflow: 'dual', workflowVersion: 0, data: { i }, caller },
        });
        await runtime.applyCommand({ orderId: created.body.order.id, command: { type: 'transition', to: 'waiting', caller } });
        ids.push(created.body.order.id);
      }
      const sentA: string[] = [];
      const sentB: string[] = [];
      const a = worker(store, sentA);
      // The second one connected before both start: the race is between their claims, not a
      // claim and a connection being set up (the first worker could take everything meanwhile).
      const second = otherStore();
      await second.ready();
      const b = worker(second, sentB);
      const [ca, cb] = await Promise.all([a.runOnce(), b.runOnce()]);
      expect(ca.delivered + cb.delivered).toBe(ORDERS);
      expect(new Set([...sentA, ...sentB]).size).toBe(ORDERS);
      expect(sentA.length + sentB.length).toBe(ORDERS);
      if (dialect === 'postgres') expect(Math.min(sentA.length, sentB.length)).toBeGreaterThan(0);

      clock.advance(61_000);
      const [ta, tb] = await Promise.all([a.runOnce(), b.runOnce()]);
      expect(ta.timersFired + tb.timersFired).toBe(ORDERS);
      // The timeouts moved every order to `late`, which queued one more webhook each.
      expect(ta.delivered + tb.delivered).toBe(ORDERS);
      for (const id of ids) {
        const entries = (await repo.listHistory(store.db, id)).filter((h) => h.actor.type === 'timer');
        expect(entries, id).toHaveLength(1);
      }
      const attempts = await store.db
        .selectFrom('delivery_attempts')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      expect(Number(attempts.n)).toBe(2 * ORDERS);
      const rows = await store.db.selectFrom('deliveries').select(['status', 'lease_token']).execute();
      expect(rows.every((r) => r.status === 'delivered' && r.lease_token === null)).toBe(true);
    });
  });
}
