import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createSimulatedClock, type SimulatedClock } from '../../src/runtime/clock.js';
import { createIdGenerator } from '../../src/runtime/ids.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import * as repo from '../../src/store/repo.js';
import type { Store } from '../../src/store/store.js';
import { createWorker } from '../../src/worker/worker.js';
import { DIALECTS, type Dialect, openStoreAt } from '../dialects.js';
import { createAutomationTest, createOrder, move, publishWorkflow } from '../helpers/automation.js';
import { json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow | undefined;
const extra: { close(): Promise<void> }[] = [];
/** Every instance of the test: each keeps its database on close (a restart reopens it) until the end of the test. */
const made: TestOrderflow[] = [];

afterEach(async () => {
  for (const x of extra.splice(0)) await x.close();
  await t?.close();
  t = undefined;
  for (const x of made.splice(0)) await x.remove();
});

const SECOND = 1000;

/** A payment that times out after 2 s, a reminder rule after 1 h in `working`, and a delayed action. */
const TIMED = {
  key: 'timed',
  name: 'Timed',
  states: [
    { key: 'placed', name: 'Placed', group: 'new', initial: true },
    { key: 'awaiting_payment', name: 'Awaiting payment', group: 'processing', timeout: { after: '2s', to: 'payment_timeout' } },
    { key: 'working', name: 'Working', group: 'processing' },
    { key: 'done', name: 'Done', group: 'completed' },
    {
      key: 'payment_timeout',
      name: 'Payment timeout',
      group: 'cancelled',
      cancellation: { initiator: 'customer', code: 'payment_timeout' },
    },
  ],
  transitions: [
    { from: 'placed', to: 'awaiting_payment' },
    { from: 'awaiting_payment', to: 'working' },
    { from: 'working', to: 'awaiting_payment' },
    { from: 'working', to: 'done' },
  ],
  rules: [
    {
      id: 'reminder',
      trigger: 'time_in_state',
      state: 'working',
      after: '1h',
      actions: [{ type: 'notify', channel: 'ops', message: 'Order {{ order.id }} has been working for an hour', severity: 'warning' }],
    },
    {
      id: 'follow-up',
      trigger: 'state_changed',
      conditions: { new_state: 'working' },
      actions: [
        { type: 'set_data', set: { followedUp: 'after {{ new_state }}' }, delay: '30m' },
        { type: 'record_fact', fact: 'customer_confirmed', delay: '45m', onlyIfStillIn: true },
      ],
    },
  ],
};

/** An instance on a fresh database, or on the database of `previous` (a restart). */
async function setup(dialect: Dialect, clock: SimulatedClock, previous?: TestOrderflow) {
  t = await createAutomationTest({
    dialect,
    clock,
    demo: false,
    keepDir: true,
    ...(previous ? { dir: previous.dir, url: previous.url } : {}),
  });
  made.push(t);
  return t;
}

const history = async (x: TestOrderflow, id: string) =>
  json(await x.request('viewer', { method: 'GET', url: `/api/v1/orders/${id}/history` })).items;
const getOrder = async (x: TestOrderflow, id: string) => json(await x.request('viewer', { method: 'GET', url: `/api/v1/orders/${id}` }));

for (const dialect of DIALECTS) {
  describe(`worker timers (${dialect})`, () => {
    describe('timers on a simulated clock', () => {
      it('moves an order out of a state by its timeout exactly once, with the reason and the timer in the history', async () => {
        const clock = createSimulatedClock();
        const x = await setup(dialect, clock);
        await publishWorkflow(x, TIMED);
        const order = await createOrder(x, 'timed');
        await move(x, order.id, 'awaiting_payment');

        clock.advance(1999);
        expect(await x.of.worker.runOnce()).toMatchObject({ timersFired: 0 });
        expect((await getOrder(x, order.id)).state).toBe('awaiting_payment');

        clock.advance(1);
        expect(await x.of.worker.runOnce()).toMatchObject({ timersFired: 1 });
        const moved = await getOrder(x, order.id);
        expect(moved).toMatchObject({
          state: 'payment_timeout',
          group: 'cancelled',
          cancellation: { initiator: 'customer', code: 'payment_timeout' },
        });
        const last = (await history(x, order.id)).at(-1);
        expect(last).toMatchObject({ type: 'transition', from: 'awaiting_payment', to: 'payment_timeout', actor: { type: 'timer' } });
        expect(last.actor.id).toMatch(/^tmr_/);
        expect(last.reason).toMatchObject({ initiator: 'customer', code: 'payment_timeout' });

        clock.advance(3600 * SECOND);
        expect(await x.of.worker.runOnce()).toMatchObject({ timersFired: 0, timersSkipped: 0 });
        const timers = await x.of.store.db.selectFrom('timers').selectAll().where('order_id', '=', order.id).execute();
        expect(timers.map((r) => [r.kind, r.status])).toEqual([['timeout', 'fired']]);
        const transitions = (await history(x, order.id)).filter((h: { type: string }) => h.type === 'transition');
        expect(transitions).toHaveLength(2);
      });

      it('never fires after the order left the state, and binds a re-entry to its own visit', async () => {
        const clock = createSimulatedClock();
        const x = await setup(dialect, clock);
        await publishWorkflow(x, TIMED);
        const order = await createOrder(x, 'timed');
        await move(x, order.id, 'awaiting_payment');
        clock.advance(1500);
        await move(x, order.id, 'working');
        clock.advance(1000);
        await move(x, order.id, 'awaiting_payment');
        // The first visit's timer (due now) is cancelled; the second visit's one is due in 2 s.
        clock.advance(1000);
        expect(await x.of.worker.runOnce()).toMatchObject({ timersFired: 0 });
        expect((await getOrder(x, order.id)).state).toBe('awaiting_payment');
        await move(x, order.id, 'working');
        clock.advance(10 * SECOND);
        await x.of.worker.runOnce();
        expect((await getOrder(x, order.id)).state).toBe('working');
        const timeouts = await x.of.store.db
          .selectFrom('timers')
          .selectAll()
          .where('order_id', '=', order.id)
          .where('kind', '=', 'timeout')
          .execute();
        expect(timeouts.map((r) => r.status)).toEqual(['cancelled', 'cancelled']);
        expect((await history(x, order.id)).some((h: { actor: { type: string } }) => h.actor.type === 'timer')).toBe(false);
      });

      it('runs time_in_state rules and delayed actions, honouring onlyIfStillIn', async () => {
        const clock = createSimulatedClock();
        const x = await setup(dialect, clock);
        await publishWorkflow(x, TIMED);
        const a = await createOrder(x, 'timed');
        const b = await createOrder(x, 'timed');
        for (const o of [a, b]) {
          await move(x, o.id, 'awaiting_payment');
          await move(x, o.id, 'working');
        }
        clock.advance(40 * 60 * SECOND);
        await move(x, b.id, 'awaiting_payment');
        await move(x, b.id, 'working');
        // a: set_data fired at 30 min; b left `working` before 45 min, so its fact is skipped (a new visit started).
        clock.advance(10 * 60 * SECOND);
        const c1 = await x.of.worker.runOnce();
        expect(c1.timersFired).toBe(3);
        expect((await getOrder(x, a.id)).data).toEqual({ followedUp: 'after working' });
        expect(Object.keys((await getOrder(x, a.id)).facts)).toEqual(['customer_confirmed']);
        expect(Object.keys((await getOrder(x, b.id)).facts)).toEqual([]);
        expect((await getOrder(x, b.id)).data).toEqual({ followedUp: 'after working' });

        clock.advance(20 * 60 * SECOND);
        const c2 = await x.of.worker.runOnce();
        expect(c2.timersFired + c2.timersSkipped).toBeGreaterThanOrEqual(1);
        const notes = json(await x.request('viewer', { method: 'GET', url: '/api/v1/notifications' })).items;
        expect(notes).toEqual([
          expect.objectContaining({
            channel: 'ops',
            severity: 'warning',
            orderId: a.id,
            message: `Order ${a.id} has been working for an hour`,
          }),
        ]);
        const runs = json(await x.request('viewer', { method: 'GET', url: `/api/v1/runs?orderId=${a.id}&rule=reminder` })).items;
        expect(runs[0]).toMatchObject({ trigger: 'time_in_state', matched: true });
      });

      it('catches up after downtime: a timer due while nothing ran fires on start', async () => {
        const clock = createSimulatedClock();
        const x = await setup(dialect, clock);
        await publishWorkflow(x, TIMED);
        const order = await createOrder(x, 'timed');
        await move(x, order.id, 'awaiting_payment');
        await x.close();
        t = undefined;

        clock.advance(6 * 3600 * SECOND);
        const y = await setup(dialect, clock, x);
        const pending = json(
          await y.request('viewer', { method: 'GET', url: `/api/v1/timers?orderId=${order.id}&due_before=${clock.now().toISOString()}` }),
        );
        expect(pending.items).toHaveLength(1);
        y.of.worker.start();
        const deadline = Date.now() + 5000;
        while ((await getOrder(y, order.id)).state !== 'payment_timeout' && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 20));
        await y.of.worker.stop();
        expect((await getOrder(y, order.id)).state).toBe('payment_timeout');
        const timerEntries = (await history(y, order.id)).filter((h: { actor: { type: string } }) => h.actor.type === 'timer');
        expect(timerEntries).toHaveLength(1);
      });
    });

    describe('two workers on one database', () => {
      /** A worker with its own store (its own connection) on the database at `url`. */
      function secondWorker(url: string, clock: SimulatedClock, wrap?: (r: Runtime) => Runtime) {
        const store: Store = openStoreAt(url);
        const newId = createIdGenerator(clock);
        const config = loadConfig({ ORDERFLOW_DATABASE_URL: url, LOG_LEVEL: 'silent', ORDERFLOW_DEMO: 'false' });
        const base = createRuntime({ store, clock, newId });
        const runtime = wrap ? wrap(base) : base;
        const worker = createWorker({ store, runtime, clock, newId, config, leaseMs: 5000, renewMs: 0 });
        extra.push({
          close: async () => {
            await worker.close();
            await store.close();
          },
        });
        return { worker, store };
      }

      it('never fire one timer twice', async () => {
        const clock = createSimulatedClock();
        const x = await setup(dialect, clock);
        await publishWorkflow(x, TIMED);
        const ids: string[] = [];
        for (let i = 0; i < 30; i++) {
          const o = await createOrder(x, 'timed');
          await move(x, o.id, 'awaiting_payment');
          ids.push(o.id);
        }
        // Two instances with their own runtimes on one store (on SQLite one connection: better-sqlite3 is synchronous,
        // so two connections in one process would wait on each other; separate processes are covered by the
        // reliability suite. On PostgreSQL the store's pool gives each claim its own connection).
        const newId = createIdGenerator(clock);
        const config = loadConfig({ ORDERFLOW_DATABASE_URL: x.url, LOG_LEVEL: 'silent', ORDERFLOW_DEMO: 'false' });
        const [one, two] = [1, 2].map(() => {
          const w = createWorker({
            store: x.of.store,
            runtime: createRuntime({ store: x.of.store, clock, newId }),
            clock,
            newId,
            config,
            batchSize: 4,
          });
          extra.push(w);
          return w;
        }) as [ReturnType<typeof createWorker>, ReturnType<typeof createWorker>];
        clock.advance(3 * SECOND);
        const [c1, c2] = await Promise.all([one.runOnce(), two.runOnce()]);
        expect(c1.timersFired).toBeGreaterThan(0);
        expect(c1.timersFired + c2.timersFired).toBe(30);
        expect(c2.timersFired).toBeGreaterThan(0);
        for (const id of ids) {
          const entries = (await repo.listHistory(x.of.store.db, id)).filter((h) => h.actor.type === 'timer');
          expect(entries, id).toHaveLength(1);
        }
        const statuses = await x.of.store.db.selectFrom('timers').select('status').where('kind', '=', 'timeout').execute();
        expect(statuses.every((s) => s.status === 'fired')).toBe(true);
      });

      it('fences out a worker whose lease ran out while it was firing', async () => {
        const clock = createSimulatedClock();
        const x = await setup(dialect, clock);
        await publishWorkflow(x, TIMED);
        const o = await createOrder(x, 'timed');
        await move(x, o.id, 'awaiting_payment');
        let release!: () => void;
        const gate = new Promise<void>((r) => {
          release = r;
        });
        let entered!: () => void;
        const blocked = new Promise<void>((r) => {
          entered = r;
        });
        const slow = secondWorker(x.url, clock, (r) => ({
          ...r,
          applyCommand: async (input) => {
            entered();
            await gate;
            return r.applyCommand(input);
          },
        }));
        clock.advance(3 * SECOND);
        const stale = slow.worker.runOnce();
        await blocked;
        // Its 5 s lease runs out; the healthy worker takes the timer over and fires it.
        clock.advance(6 * SECOND);
        expect(await x.of.worker.runOnce()).toMatchObject({ timersFired: 1 });
        release();
        expect(await stale).toMatchObject({ timersFired: 0, leaseLost: 1 });
        const entries = (await repo.listHistory(x.of.store.db, o.id)).filter((h) => h.actor.type === 'timer');
        expect(entries).toHaveLength(1);
        expect((await getOrder(x, o.id)).version).toBe(3);
      });
    });
  });
}
