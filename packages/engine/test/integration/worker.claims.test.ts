import type { Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type * as Queue from '../../src/store/queue.js';
import type { DB } from '../../src/store/schema.js';
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
import type { TestOrderflow } from '../helpers/orderflow.js';

/** Every claim of deliveries the worker made: how many rows it asked for, and how many it took. */
const claims = vi.hoisted(() => [] as { limit: number; took: number }[]);

vi.mock('../../src/store/queue.js', async (importOriginal) => {
  const queue = await importOriginal<typeof Queue>();
  const claimDue = queue.claimDue as (tx: Kysely<DB>, table: Queue.QueueTable, o: Queue.ClaimOptions) => Promise<unknown[]>;
  return {
    ...queue,
    claimDue: async (tx: Kysely<DB>, table: Queue.QueueTable, o: Queue.ClaimOptions) => {
      const rows = await claimDue(tx, table, o);
      if (table === 'deliveries') claims.push({ limit: o.limit, took: rows.length });
      return rows;
    },
  };
});

/** Webhooks one move sends, all to the same receiver (one destination). */
const PER_MOVE = 20;
const MOVES = 16;
/** 320 deliveries: five times what the worker holds of one destination with the defaults (64). */
const BACKLOG = PER_MOVE * MOVES;
/** Half a batch with the defaults (32): the fewest rows a claim takes of a destination that has more due. */
const HALF_BATCH = 16;

let t: TestOrderflow;
let receiver: Receiver;

for (const dialect of DIALECTS) {
  describe(`claims while draining a backlog for one destination (${dialect})`, () => {
    beforeEach(async () => {
      receiver = await startReceiver();
      t = await createAutomationTest({
        dialect,
        demo: false,
        env: { ORDERFLOW_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' },
        // The running worker looks again when woken or when its sends are done, not on a timer.
        create: { worker: { pollMs: 60_000 } },
      });
      await publishWorkflow(
        t,
        hookWorkflow(
          'many',
          Array.from({ length: PER_MOVE }, (_, i) => ({ type: 'webhook', url: `${receiver.url}/in/${i}` })),
        ),
      );
    });
    afterEach(async () => {
      await t.close();
      await receiver.close();
    });

    it('claims at least half a batch at a time, and does not keep claiming while the destination holds its quota', async () => {
      for (let i = 0; i < MOVES; i++) await move(t, (await createOrder(t, 'many')).id, 'working');
      claims.length = 0;

      expect(await t.of.worker.runOnce()).toMatchObject({ claimed: BACKLOG, delivered: BACKLOG });
      expect(receiver.requests).toHaveLength(BACKLOG);
      const taking = claims.filter((c) => c.took > 0);
      expect(taking.reduce((n, c) => n + c.took, 0)).toBe(BACKLOG);
      // Only the claim that took the end of the backlog may take fewer.
      for (const c of taking.slice(0, -1)) expect(c.took).toBeGreaterThanOrEqual(HALF_BATCH);
      // Claims that find nothing: at most the one a round makes when it starts with the destination
      // at its quota, the one that finds the backlog's end, and the last round's, which finds
      // nothing due. Not one each time the destination reaches its quota.
      expect(claims.length - taking.length).toBeLessThanOrEqual(3);
    });

    it('the running worker too claims at least half a batch at a time, and does not keep claiming while the destination holds its quota', async () => {
      for (let i = 0; i < MOVES; i++) await move(t, (await createOrder(t, 'many')).id, 'working');
      claims.length = 0;

      t.of.worker.start();
      await receiver.waitFor(BACKLOG, 20_000);
      await t.of.worker.stop();
      expect(await count(t, 'delivery_attempts')).toBe(BACKLOG);
      const taking = claims.filter((c) => c.took > 0);
      expect(taking.reduce((n, c) => n + c.took, 0)).toBe(BACKLOG);
      for (const c of taking.slice(0, -1)) expect(c.took).toBeGreaterThanOrEqual(HALF_BATCH);
      // Those of runOnce, and the first claim of the round that follows the first one at once (a
      // round that claimed looks again), which may find the destination at its quota.
      expect(claims.length - taking.length).toBeLessThanOrEqual(4);
    });
  });
}
