import type { Caller, Order, OutboxEntry } from '@orderflow/core';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSimulatedClock } from '../../src/runtime/clock.js';
import { createIdGenerator } from '../../src/runtime/ids.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import {
  cancelVisitTimers,
  getOrder,
  getOrderWithCounters,
  getTimerRow,
  insertDeliveries,
  insertTimers,
  updateOrder,
} from '../../src/store/changes.js';
import * as repo from '../../src/store/repo.js';
import type { Store } from '../../src/store/store.js';
import { DIALECTS, freshStore, publishDemoOrders } from '../dialects.js';

/**
 * On PostgreSQL a change's writes are held and sent as one statement, and transaction control
 * travels with the statement after it (store/changes-postgres.ts). What the change means must
 * not move: reads see the change's own writes, a missed version check fails the change alone,
 * an update still sees what the change inserted before it, and values reach the database as
 * they were given.
 */
describe.skipIf(!DIALECTS.includes('postgres'))('the statements of a change on PostgreSQL (postgres)', () => {
  const caller: Caller = { actor: { type: 'api', id: 'tok_test' }, roles: ['operator'] };
  const clock = createSimulatedClock('2026-03-01T10:00:00.000Z');
  let store: Store;
  let runtime: Runtime;
  let cleanup: () => Promise<void>;
  /** Statements sent to PostgreSQL by any client of this process (each one a round trip). */
  let sent: string[] = [];
  const query = pg.Client.prototype.query;

  beforeEach(async () => {
    ({ store, cleanup } = await freshStore('postgres'));
    const now = clock.now().toISOString();
    await publishDemoOrders(store, now);
    runtime = createRuntime({ store, clock, newId: createIdGenerator(clock) });
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const q = args[0] as string | { text?: string };
      sent.push(typeof q === 'string' ? q : (q?.text ?? ''));
      return (query as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof query;
  });
  afterEach(async () => {
    pg.Client.prototype.query = query;
    await cleanup();
  });

  const create = async (): Promise<Order> =>
    (
      await runtime.applyCommand({
        command: { type: 'create', workflow: 'orders', workflowVersion: 0, data: { customer: { email: 'a@example.com' } }, caller },
      })
    ).body.order;
  const move = (orderId: string, to: string) => runtime.applyCommand({ orderId, command: { type: 'transition', to, caller } });
  const delivery = (o: Order, id: string): OutboxEntry => ({
    id,
    orderId: o.id,
    workflow: 'orders',
    type: 'notify',
    ruleId: 'test',
    action: { type: 'notify', channel: 'admins', message: id },
    envelope: { id: `evt_${id}`, type: 'order.created', createdAt: o.createdAt, data: { order: o } } as OutboxEntry['envelope'],
    createdAt: o.createdAt,
  });

  it('moves an order in two round trips alone and two per change in a shared transaction', async () => {
    const orders = await Promise.all(Array.from({ length: 20 }, () => create()));
    await move(orders[0]?.id as string, 'awaiting_payment');
    // Wake-ups of other processes go out after the answer, on their own: counted in their own test.
    // So are the reads of a configuration reload, which a late notification of the workflows
    // published before the test can start at any moment.
    const ofChange = () => sent.filter((s) => !s.includes('pg_notify') && !/\bfrom "?(workflows|workflow_versions|settings)"?\b/.test(s));
    // Alone: begin with the locked read, then the writes with the commit.
    sent = [];
    await move(orders[0]?.id as string, 'packing');
    expect(ofChange()).toHaveLength(2);
    expect(ofChange()[1]).toMatch(/^with w0 as \(update orders .*; commit$/s);
    // Together: the locked read with the savepoints around it, the writes; begin and commit are shared.
    sent = [];
    const moved = await Promise.all(orders.slice(1).map((o) => move(o.id, 'awaiting_payment')));
    expect(moved.every((m) => m.body.order.state === 'awaiting_payment')).toBe(true);
    expect(ofChange().length / moved.length).toBeLessThan(2.5);
    for (const o of orders.slice(1)) {
      const history = await repo.listHistory(store.db, o.id);
      expect(history.map((h) => h.seq)).toEqual([1, 2]);
    }
  });

  it("lets a read inside a change see the change's writes held so far", async () => {
    const o = await create();
    const seen = await store.transaction(async (tx) => {
      await insertDeliveries(tx, [delivery(o, 'dlv_held1')]);
      return (await tx.selectFrom('deliveries').select('id').where('id', '=', 'dlv_held1').execute()).length;
    });
    expect(seen).toBe(1);
  });

  it('fails a change whose held order update finds another version, alone and with all its writes', async () => {
    const o = await create();
    const other = await create();
    const results = await Promise.allSettled([
      store.transaction(async (tx) => {
        await insertDeliveries(tx, [delivery(o, 'dlv_missed')]);
        // The order is at version 1: an update from version 7 must change nothing.
        await updateOrder(tx, { ...o, state: 'packing', version: 8 }, 7);
      }),
      store.transaction(async (tx) => {
        await insertDeliveries(tx, [delivery(other, 'dlv_kept')]);
      }),
    ]);
    expect(results[0]?.status).toBe('rejected');
    expect((results[0] as PromiseRejectedResult).reason).toMatchObject({ code: '40001' });
    expect(results[1]?.status).toBe('fulfilled');
    expect((await getOrder(store.db, o.id))?.state).toBe(o.state);
    const ids = (await store.db.selectFrom('deliveries').select('id').where('id', 'in', ['dlv_missed', 'dlv_kept']).execute()).map(
      (r) => r.id,
    );
    expect(ids).toEqual(['dlv_kept']);
  });

  it('fails the last change of a shared transaction whose writes went with the COMMIT alone; the others commit', async () => {
    const o = await create();
    const other = await create();
    const third = await create();
    await store.transaction((tx) => insertDeliveries(tx, [delivery(third, 'dlv_taken')]));
    sent = [];
    const results = await Promise.allSettled([
      store.transaction(async (tx) => {
        await insertDeliveries(tx, [delivery(other, 'dlv_first')]);
      }),
      store.transaction(async (tx) => {
        // A unique key another transaction already holds.
        await insertDeliveries(tx, [delivery(third, 'dlv_taken')]);
      }),
      store.transaction(async (tx) => {
        await insertDeliveries(tx, [delivery(o, 'dlv_missed')]);
        // The order is at version 1: an update from version 7 must change nothing.
        await updateOrder(tx, { ...o, state: 'packing', version: 8 }, 7);
      }),
    ]);
    expect(results[0]?.status).toBe('fulfilled');
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: '23505' });
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: '40001' });
    // The last change's writes went with a COMMIT at least once (then alone, when it ran again).
    expect(sent.some((t) => t.includes('dlv_missed') && /; commit$/.test(t))).toBe(true);
    expect((await getOrder(store.db, o.id))?.state).toBe(o.state);
    const ids = (
      await store.db
        .selectFrom('deliveries')
        .select('id')
        .where('id', 'in', ['dlv_first', 'dlv_missed', 'dlv_taken'])
        .orderBy('id')
        .execute()
    ).map((r) => r.id);
    expect(ids).toEqual(['dlv_first', 'dlv_taken']);
  });

  it('fails a change alone in its transaction whose writes went with the COMMIT, and the store goes on', async () => {
    const o = await create();
    await expect(
      store.transaction(async (tx) => {
        await insertDeliveries(tx, [delivery(o, 'dlv_alone')]);
        await updateOrder(tx, { ...o, state: 'packing', version: 8 }, 7);
      }),
    ).rejects.toMatchObject({ code: '40001' });
    expect(await store.db.selectFrom('deliveries').select('id').where('id', '=', 'dlv_alone').execute()).toEqual([]);
    const odd = `it's \\ "quoted" $1 -- not a comment; ${'\u00e9'}`;
    await store.transaction(async (tx) => {
      await insertDeliveries(tx, [{ ...delivery(o, 'dlv_after'), ruleId: odd }]);
      await updateOrder(tx, { ...o, state: 'packing', version: 2 }, 1);
    });
    expect((await getOrder(store.db, o.id))?.state).toBe('packing');
    const row = await store.db.selectFrom('deliveries').select('rule_id').where('id', '=', 'dlv_after').executeTakeFirst();
    expect(row?.rule_id).toBe(odd);
  });

  it('cancels a timer the same change inserted before (an update sees earlier writes)', async () => {
    const o = await create();
    const now = clock.now().toISOString();
    await store.transaction(async (tx) => {
      await insertTimers(
        tx,
        [{ id: 'tmr_held', orderId: o.id, kind: 'timeout', dueAt: now, state: o.state, visit: 41, scope: 'visit' }],
        now,
      );
      await cancelVisitTimers(tx, o.id, 41);
    });
    const row = await getTimerRow(store.db, 'tmr_held');
    expect(row?.status).toBe('cancelled');
  });

  it('finds an order whose id holds quotes and backslashes, in the read that travels with the savepoint', async () => {
    const o = await create();
    const odd = `ord_it's\\'; select 1; --\\\\x`;
    await store.db.updateTable('orders').set({ id: odd }).where('id', '=', o.id).execute();
    // Alone in its transaction, so the read goes out with `begin` as one simple query.
    const found = await store.transaction((tx) => getOrderWithCounters(tx, odd, true));
    expect(found?.order.id).toBe(odd);
    expect(sent.some((s) => s.startsWith('begin;') && s.includes('for update'))).toBe(true);
    expect(await store.transaction((tx) => getOrderWithCounters(tx, `ord_it's\\`, true))).toBeUndefined();
  });

  it('answers a burst of wake-ups with a notification sent after each asked, not one each', async () => {
    sent = [];
    const first = store.wake?.();
    const rest = Array.from({ length: 49 }, () => store.wake?.());
    await Promise.all([first, ...rest]);
    const notifies = sent.filter((s) => s.includes('pg_notify'));
    // The first goes at once; the 49 asked while it was on its way share the next one.
    expect(notifies).toHaveLength(2);
  });

  /** Resolves at the next wake-up notification this store's listener receives. */
  const nextWakeUp = async (): Promise<{ heard: Promise<void>; off: () => Promise<void> }> => {
    let heard!: () => void;
    const promise = new Promise<void>((r) => {
      heard = r;
    });
    const off = await (store.onWake as NonNullable<Store['onWake']>)(() => heard());
    return { heard: promise, off };
  };

  /** A transaction held open: `started` once it runs, `inside` resolves then; it goes on at `proceed`, through `gate`. */
  const heldOpen = () => {
    let proceed!: () => void;
    const gate = new Promise<void>((r) => {
      proceed = r;
    });
    let started!: () => void;
    const inside = new Promise<void>((r) => {
      started = r;
    });
    return { gate, proceed, inside, started };
  };

  it('sends a wake-up asked during an open transaction with its commit, delivered once it commits', async () => {
    const { heard, off } = await nextWakeUp();
    const { gate, proceed, inside, started } = heldOpen();
    const change = store.transaction(async (tx) => {
      started();
      await gate;
      return getOrder(tx, 'ord_none');
    });
    await inside;
    sent = [];
    let woken = false;
    const wake = (store.wake as NonNullable<Store['wake']>)().then(() => {
      woken = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(woken).toBe(false);
    proceed();
    await change;
    await wake;
    await heard;
    await off();
    expect(sent.filter((s) => s.includes('pg_notify'))).toHaveLength(0);
    expect(sent.some((s) => /notify orderflow_wake; commit$/.test(s))).toBe(true);
  });

  it('still sends a wake-up on its own when the open transaction rolls back', async () => {
    const { heard, off } = await nextWakeUp();
    const { gate, proceed, inside, started } = heldOpen();
    const change = store.transaction(async (tx) => {
      started();
      await gate;
      await getOrder(tx, 'ord_none');
      throw new Error('refused');
    });
    await inside;
    sent = [];
    const wake = (store.wake as NonNullable<Store['wake']>)();
    proceed();
    await expect(change).rejects.toThrow('refused');
    await wake;
    await heard;
    await off();
    expect(sent.filter((s) => s.includes('pg_notify'))).toHaveLength(1);
    expect(sent.some((s) => s.includes('notify orderflow_wake;'))).toBe(false);
  });
});
