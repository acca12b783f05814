import type { Caller, RuleRun } from '@orderflow/core';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../src/errors.js';
import { createSimulatedClock } from '../../src/runtime/clock.js';
import { createIdGenerator } from '../../src/runtime/ids.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { appendHistory, getOrder, insertDeliveries, insertRuleRuns, insertTimers } from '../../src/store/changes.js';
import { destinationOf } from '../../src/store/destination.js';
import * as queue from '../../src/store/queue.js';
import * as repo from '../../src/store/repo.js';
import type { Store } from '../../src/store/store.js';
import { DIALECTS, freshStore, publishDemoOrders } from '../dialects.js';

const caller: Caller = { actor: { type: 'api', id: 'tok_test' }, roles: ['operator'] };

for (const dialect of DIALECTS) {
  describe(`store contract (${dialect})`, () => {
    let store: Store;
    let runtime: Runtime;
    let cleanup: () => Promise<void>;
    const clock = createSimulatedClock('2026-03-01T10:00:00.000Z');

    beforeEach(async () => {
      ({ store, cleanup } = await freshStore(dialect));
      const now = clock.now().toISOString();
      await publishDemoOrders(store, now);
      runtime = createRuntime({ store, clock, newId: createIdGenerator(clock) });
    });
    afterEach(async () => {
      await cleanup();
    });

    const create = async (extra: Record<string, unknown> = {}) =>
      (
        await runtime.applyCommand({
          command: {
            type: 'create',
            workflow: 'orders',
            workflowVersion: 0,
            data: { customer: { email: 'a@example.com' } },
            caller,
            ...extra,
          },
        })
      ).body.order;
    const move = (orderId: string, to: string, expectedVersion?: number) =>
      runtime.applyCommand({ orderId, command: { type: 'transition', to, caller }, ...(expectedVersion ? { expectedVersion } : {}) });

    it('reads every rule run back as the change decided it, and runs stored before in full JSON too', async () => {
      const o = await create();
      const moved = await move(o.id, 'awaiting_payment');
      const decided = (moved.decision?.effects ?? []).flatMap((e) => (e.type === 'rule.run' ? [e.run] : []));
      expect(decided.length).toBeGreaterThan(0);
      const stored = await repo.listRuleRuns(store.db, { orderId: o.id, limit: 100 });
      for (const run of decided) expect(stored.find((r) => r.id === run.id)).toEqual(run);
      // A row from before the columns were left out of the JSON.
      const old = { ...(decided[0] as RuleRun), id: 'run_00000000000000000000000000', matched: true };
      await store.db
        .insertInto('rule_runs')
        .values({
          id: old.id,
          order_id: old.orderId,
          workflow: old.workflow,
          rule_id: old.ruleId,
          trigger: old.trigger,
          at: old.at,
          matched: 1,
          run_json: JSON.stringify(old),
        })
        .execute();
      expect((await repo.listRuleRuns(store.db, { orderId: o.id, limit: 100 })).find((r) => r.id === old.id)).toEqual(old);
    });

    it('migrates idempotently', async () => {
      expect(await store.migrate()).toEqual([]);
      expect(await store.ready()).toBe(true);
    });

    it('persists an order, its history in sequence, its outbox rows and its timers in one change', async () => {
      const o = await create();
      await move(o.id, 'awaiting_payment');
      const stored = await getOrder(store.db, o.id);
      expect(stored).toMatchObject({ state: 'awaiting_payment', version: 2, visit: 2 });
      const history = await repo.listHistory(store.db, o.id);
      expect(history.map((h) => [h.seq, h.type, h.to])).toEqual([
        [1, 'created', 'order_created'],
        [2, 'transition', 'awaiting_payment'],
      ]);
      expect((await repo.listDeliveries(store.db, { orderId: o.id, limit: 10 })).map((d) => d.type)).toEqual(['email']);
      const timers = await repo.listTimers(store.db, { orderId: o.id, limit: 10 });
      expect(timers).toHaveLength(1);
      expect(timers[0]).toMatchObject({ kind: 'timeout', state: 'awaiting_payment', dueAt: '2026-03-03T10:00:00.000Z' });
    });

    it('cancels the timers of a state visit when the order leaves it', async () => {
      const o = await create();
      await move(o.id, 'awaiting_payment');
      await move(o.id, 'packing');
      expect(await repo.listTimers(store.db, { orderId: o.id, limit: 10 })).toHaveLength(0);
      expect(await repo.listTimers(store.db, { orderId: o.id, status: 'cancelled', limit: 10 })).toHaveLength(1);
    });

    it('keeps on the order row the last visit with timers, and leaves a later visit without touching the timers', async () => {
      const timersVisit = async (id: string) =>
        (await store.db.selectFrom('orders').select('timers_visit').where('id', '=', id).executeTakeFirstOrThrow()).timers_visit;
      const o = await create();
      expect(await timersVisit(o.id)).toBe(0);
      await move(o.id, 'awaiting_payment');
      // awaiting_payment has a timeout: a timer of visit 2.
      expect(await timersVisit(o.id)).toBe(2);
      await move(o.id, 'packing');
      expect(await timersVisit(o.id)).toBe(2);

      // A pending visit timer the row does not know of (written behind the runtime's back) stays:
      // leaving visit 3 runs no timer update, since the row says no timer is of visit 3 or later.
      const stray = { id: 'tmr_stray', orderId: o.id, kind: 'timeout' as const, dueAt: '2026-03-09T10:00:00.000Z', state: 'packing' };
      await store.transaction((tx) => insertTimers(tx, [{ ...stray, visit: 3, scope: 'visit' }], clock.now().toISOString()));
      await move(o.id, 'shipping');
      expect((await repo.listTimers(store.db, { orderId: o.id, limit: 10 })).map((t) => t.id)).toEqual(['tmr_stray']);

      // A row that does not know (null, as before the column existed) always runs it.
      const other = await create();
      await move(other.id, 'awaiting_payment');
      await move(other.id, 'packing');
      await store.db.updateTable('orders').set({ timers_visit: null }).where('id', '=', other.id).execute();
      await store.transaction((tx) =>
        insertTimers(tx, [{ ...stray, id: 'tmr_known', orderId: other.id, visit: 3, scope: 'visit' }], clock.now().toISOString()),
      );
      await move(other.id, 'shipping');
      expect(await repo.listTimers(store.db, { orderId: other.id, limit: 10 })).toHaveLength(0);
      expect(await timersVisit(other.id)).toBeNull();
    });

    it('changes nothing when a command is refused', async () => {
      const o = await create();
      await expect(move(o.id, 'delivered')).rejects.toMatchObject({ code: 'transition_not_allowed' });
      expect((await getOrder(store.db, o.id))?.version).toBe(1);
      expect(await repo.listHistory(store.db, o.id)).toHaveLength(1);
    });

    it('refuses a stale expected version and lets exactly one of two concurrent writers win', async () => {
      const o = await create();
      const results = await Promise.allSettled([move(o.id, 'awaiting_payment', 1), move(o.id, 'customer_cancelled', 1)]);
      const ok = results.filter((r) => r.status === 'fulfilled');
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(ok).toHaveLength(1);
      expect(failed).toHaveLength(1);
      const reason: unknown = failed[0]?.reason;
      expect(reason).toBeInstanceOf(ApiError);
      expect(reason).toMatchObject({ code: 'version_conflict' });
    });

    it('applies concurrent commands without a version one after another, with gap-free versions and history', async () => {
      const o = await create();
      const n = 12;
      await Promise.all(
        Array.from({ length: n }, (_, i) =>
          runtime.applyCommand({ orderId: o.id, command: { type: 'event', event: { type: `tick.${i}` }, caller } }),
        ),
      );
      const stored = await getOrder(store.db, o.id);
      expect(stored?.version).toBe(1 + n);
      const seqs = (await repo.listHistory(store.db, o.id)).map((h) => h.seq);
      expect(seqs).toEqual(Array.from({ length: n + 1 }, (_, i) => i + 1));
    });

    it('creates exactly one order per idempotency key under concurrent copies', async () => {
      const keys = 40;
      const copies = 4;
      const results = await Promise.all(
        Array.from({ length: keys * copies }, (_, i) => {
          const k = i % keys;
          return runtime.applyCommand({
            command: { type: 'create', workflow: 'orders', workflowVersion: 0, data: { k }, caller },
            idempotency: { scope: 'tok_test:POST /orders', key: `key-${k}`, hash: `hash-${k}`, status: 201 },
          });
        }),
      );
      const ids = new Set(results.map((r) => r.body.order.id));
      expect(ids.size).toBe(keys);
      const count = await store.db
        .selectFrom('orders')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirst();
      expect(Number(count?.n)).toBe(keys);
      await expect(
        runtime.applyCommand({
          command: { type: 'create', workflow: 'orders', workflowVersion: 0, data: {}, caller },
          idempotency: { scope: 'tok_test:POST /orders', key: 'key-0', hash: 'other', status: 201 },
        }),
      ).rejects.toMatchObject({ code: 'idempotency_conflict' });
    });

    it('keeps externalRef unique per workflow', async () => {
      await create({ externalRef: 'X-1' });
      await expect(create({ externalRef: 'X-1' })).rejects.toMatchObject({ code: 'conflict' });
    });

    it('previews without storing anything', async () => {
      const o = await create();
      const d = await runtime.preview({ orderId: o.id, command: { type: 'transition', to: 'awaiting_payment', caller } });
      expect(d.order.state).toBe('awaiting_payment');
      expect((await getOrder(store.db, o.id))?.version).toBe(1);
      expect(await repo.listTimers(store.db, { orderId: o.id, limit: 10 })).toHaveLength(0);
    });

    it('pages orders by cursor without repeats or gaps', async () => {
      for (let i = 0; i < 7; i++) {
        await create({ externalRef: `P-${i}` });
        clock.advance(1000);
      }
      const seen: string[] = [];
      let cursor: { createdAt: string; id: string } | undefined;
      for (;;) {
        const page = await repo.listOrders(store.db, store.capabilities, { workflow: 'orders', limit: 3, ...(cursor ? { cursor } : {}) });
        seen.push(...page.map((o) => o.externalRef ?? ''));
        const last = page[page.length - 1];
        if (page.length < 3 || !last) break;
        cursor = { createdAt: last.createdAt, id: last.id };
      }
      expect(seen).toEqual(['P-6', 'P-5', 'P-4', 'P-3', 'P-2', 'P-1', 'P-0']);
      const found = await repo.listOrders(store.db, store.capabilities, { q: 'a@EXAMPLE', limit: 50 });
      expect(found).toHaveLength(7);
    });

    /**
     * Makes `rows` (`[id, endpoint, seconds from now]`, webhooks to named endpoints) the only
     * pending deliveries, then moves the clock a minute on so that all of them are due.
     */
    const queueOnly = async (rows: [string, string, number][]) => {
      const o = await create();
      await store.db.updateTable('deliveries').set({ status: 'delivered' }).execute();
      const t0 = clock.now().getTime();
      const at = (s: number) => new Date(t0 + s * 1000).toISOString();
      const envelope = { id: 'evt_q', type: 'order.created', createdAt: at(0), data: { order: o } };
      await store.transaction((tx) =>
        insertDeliveries(
          tx,
          rows.map(([id, endpoint, s]) => ({
            id,
            orderId: o.id,
            workflow: 'orders',
            type: 'webhook' as const,
            ruleId: 'q',
            action: { type: 'webhook' as const, endpoint },
            envelope,
            createdAt: at(s),
          })),
        ),
      );
      clock.advance(60_000);
    };
    /** Claims up to `limit` due deliveries under `destinations`; answers their ids in due order. */
    const claimIds = (token: string, limit: number, destinations?: queue.DestinationQuota) =>
      store.transaction(async (tx) =>
        (
          await queue.claimDue(tx, 'deliveries', {
            now: clock.now().toISOString(),
            leaseUntil: new Date(clock.now().getTime() + 15_000).toISOString(),
            token,
            limit,
            automation: { paused: false, workflows: [], rules: [] },
            rowLocks: store.capabilities.rowLocks,
            ...(destinations ? { destinations } : {}),
          })
        ).map((r) => r.id),
      );
    /** a0…a5 for endpoint a, due 0–5 s apart, then the given rows. */
    const sixOfA = (...more: [string, string, number][]): [string, string, number][] => [
      ...[0, 1, 2, 3, 4, 5].map((i): [string, string, number] => [`dlv_a${i}`, 'a', i]),
      ...more,
    ];

    it('claims deliveries within each destination quota, passing over a full destination to rows due after it', async () => {
      await queueOnly(
        sixOfA(
          ['dlv_b0', 'b', 10],
          ['dlv_b1', 'b', 11],
          // Queued before the destination was recorded: never held back.
          ['dlv_x0', 'a', 12],
        ),
      );
      expect(
        (await store.db.selectFrom('deliveries').select('destination').where('id', '=', 'dlv_a0').executeTakeFirstOrThrow()).destination,
      ).toBe('endpoint:a');
      await store.db.updateTable('deliveries').set({ destination: null }).where('id', '=', 'dlv_x0').execute();
      // A full destination is passed over (one statement: no other can go past its quota).
      expect(await claimIds('lse_1', 2, { quota: 8, held: new Map([['endpoint:a', 8]]) })).toEqual(['dlv_b0', 'dlv_b1']);
      // One more of a fits its quota; the rest of a is passed over for the row due after it.
      expect(await claimIds('lse_2', 5, { quota: 2, held: new Map([['endpoint:a', 1]]) })).toEqual(['dlv_a0', 'dlv_x0']);
      expect(await claimIds('lse_3', 5, { quota: 2, held: new Map([['endpoint:a', 2]]) })).toEqual([]);
      // A claim that holds nothing yet takes a destination up to the quota, oldest first.
      expect(await claimIds('lse_4', 5, { quota: 2, held: new Map() })).toEqual(['dlv_a1', 'dlv_a2']);
      // Without a quota, everything due.
      expect(await claimIds('lse_5', 10)).toEqual(['dlv_a3', 'dlv_a4', 'dlv_a5']);
    });

    it('passes over a destination with less room than `least`, so a claim takes no fewer of it than that unless fewer are due', async () => {
      await queueOnly(sixOfA(['dlv_b0', 'b', 10], ['dlv_b1', 'b', 11]));
      const a = (held: number) => new Map([['endpoint:a', held]]);
      // Room for 3 of a, fewer than 4: a is passed over, even by a claim that could not take it past its quota.
      expect(await claimIds('lse_1', 2, { quota: 8, least: 4, held: a(5) })).toEqual(['dlv_b0', 'dlv_b1']);
      expect(await claimIds('lse_2', 10, { quota: 8, least: 4, held: a(5) })).toEqual([]);
      // Room for 4: taken up to the quota.
      expect(await claimIds('lse_3', 10, { quota: 8, least: 4, held: a(4) })).toEqual(['dlv_a0', 'dlv_a1', 'dlv_a2', 'dlv_a3']);
      // Room for 4 but only 2 due: both.
      expect(await claimIds('lse_4', 10, { quota: 8, least: 4, held: a(4) })).toEqual(['dlv_a4', 'dlv_a5']);
    });

    it('looks for rows of other destinations only among the first `window` due rows when it passes over one', async () => {
      await queueOnly(sixOfA(['dlv_b0', 'b', 10]));
      // a is full: every claim passes over it.
      const claim = (token: string, window: number) => claimIds(token, 5, { quota: 6, held: new Map([['endpoint:a', 6]]), window });
      // b0 is the 7th row in due order: a window of 6 does not reach it, one of 7 does.
      expect(await claim('lse_1', 3)).toEqual([]);
      expect(await claim('lse_2', 6)).toEqual([]);
      expect(await claim('lse_3', 7)).toEqual(['dlv_b0']);
      expect(queue.PASS_OVER_WINDOW).toBeGreaterThanOrEqual(1000);
    });

    it('records the destination of deliveries queued before the column existed, except delivered ones', async () => {
      const o = await create();
      await move(o.id, 'awaiting_payment');
      const now = clock.now().toISOString();
      const envelope = { id: 'evt_m', type: 'order.created', createdAt: now, data: { order: o } };
      await store.transaction((tx) =>
        insertDeliveries(
          tx,
          [{ endpoint: 'crm' }, { url: 'https://hooks.example.com:8443/a' }].map((target, i) => ({
            id: `dlv_m${i}`,
            orderId: o.id,
            workflow: 'orders',
            type: 'webhook' as const,
            ruleId: 'm',
            action: { type: 'webhook' as const, ...target },
            envelope,
            createdAt: now,
          })),
        ),
      );
      // Back to the schema before the column: its migration runs again over these rows.
      await sql`alter table deliveries drop column destination`.execute(store.db);
      await store.db.deleteFrom('schema_migrations').where('id', '=', '0007_delivery_destination').execute();
      const rows = await store.db.selectFrom('deliveries').select(['id', 'action_json']).orderBy('id').execute();
      expect(rows.length).toBeGreaterThan(1);
      const [first, ...rest] = rows as [(typeof rows)[0], ...typeof rows];
      await store.db.updateTable('deliveries').set({ status: 'delivered' }).where('id', '=', first.id).execute();
      await store.db
        .updateTable('deliveries')
        .set({ status: 'dead' })
        .where('id', '=', (rest[0] as (typeof rows)[0]).id)
        .execute();
      expect(await store.migrate()).toEqual(['0007_delivery_destination']);
      const after = await store.db.selectFrom('deliveries').select(['id', 'destination']).orderBy('id').execute();
      expect(after[0]).toEqual({ id: first.id, destination: null });
      for (const [i, r] of rest.entries()) {
        expect(after[i + 1]).toEqual({ id: r.id, destination: destinationOf(JSON.parse(r.action_json)) });
      }
    });

    it("stores any number of rows in one change, past both dialects' parameter limits", async () => {
      const o = await create();
      const now = clock.now().toISOString();
      const n = 5000;
      const ids = Array.from({ length: n }, (_, i) => String(i).padStart(5, '0'));
      const envelope = { id: 'evt_big', type: 'order.created', createdAt: now, data: { order: o } };
      await store.transaction(async (tx) => {
        await insertDeliveries(
          tx,
          ids.map((i) => ({
            id: `dlv_big${i}`,
            orderId: o.id,
            workflow: 'orders',
            type: 'notify' as const,
            ruleId: 'big',
            action: { type: 'notify' as const, channel: 'admins', message: `n${i}` },
            envelope,
            createdAt: now,
          })),
        );
        await insertTimers(
          tx,
          ids.map((i) => ({
            id: `tmr_big${i}`,
            orderId: o.id,
            kind: 'timeout' as const,
            dueAt: now,
            state: o.state,
            visit: 99,
            scope: 'visit' as const,
          })),
          now,
        );
        await appendHistory(
          tx,
          o.id,
          ids.map((i) => ({ id: `hst_big${i}`, version: o.version, at: now, type: 'data' as const, actor: caller.actor, patch: { i } })),
        );
        await insertRuleRuns(
          tx,
          ids.map((i) => ({
            id: `run_big${i}`,
            orderId: o.id,
            workflow: 'orders',
            ruleId: 'big',
            trigger: 'order_created' as const,
            at: now,
            matched: false,
            conditions: null,
            actions: [],
          })),
        );
      });
      const counts = await Promise.all(
        (['deliveries', 'timers', 'history'] as const).map(async (table) =>
          Number(
            (
              await store.db
                .selectFrom(table)
                .select((eb) => eb.fn.countAll<number>().as('n'))
                .where('order_id', '=', o.id)
                .executeTakeFirstOrThrow()
            ).n,
          ),
        ),
      );
      counts.push((await repo.listRuleRuns(store.db, { orderId: o.id, limit: n * 2 })).length);
      // The creation itself added its own history entry, outbox rows and rule runs.
      expect(counts.map((c) => c >= n)).toEqual([true, true, true, true]);
      const history = await repo.listHistory(store.db, o.id);
      expect(history.map((h) => h.seq)).toEqual(history.map((_, i) => i + 1));
    });
  });
}
