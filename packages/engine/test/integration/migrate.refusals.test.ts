import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../dialects.js';
import { createAutomationTest, createOrder, move, publishWorkflow } from '../helpers/automation.js';
import { expectProblem, json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** A repair desk; `withRepairing: false` is version 2, which has no "repairing" state. */
function repairs(withRepairing = true, receivedTimeout = '1h') {
  return {
    key: 'repairs',
    name: 'Repairs',
    states: [
      { key: 'received', name: 'Received', group: 'new', initial: true, timeout: { after: receivedTimeout, to: 'closed' } },
      ...(withRepairing ? [{ key: 'repairing', name: 'Repairing', group: 'processing' }] : []),
      { key: 'testing', name: 'Testing', group: 'processing' },
      { key: 'closed', name: 'Closed', group: 'completed' },
      { key: 'dropped', name: 'Dropped', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
    ],
    transitions: [
      ...(withRepairing
        ? [
            { from: 'received', to: 'repairing' },
            { from: 'repairing', to: 'testing' },
          ]
        : []),
      { from: 'received', to: 'testing' },
      { from: 'testing', to: 'closed' },
      { from: '*', to: 'dropped' },
    ],
  };
}

async function publishV2(x: TestOrderflow, def: Record<string, unknown>) {
  const put = await x.request('designer', { method: 'PUT', url: '/api/v1/workflows/repairs/draft', body: def });
  expect(put.statusCode, put.body).toBe(200);
  const pub = await x.request('designer', { method: 'POST', url: '/api/v1/workflows/repairs/publish' });
  expect(pub.statusCode, pub.body).toBe(200);
}

/** Each order's state and version, in id order. */
async function versions(x: TestOrderflow): Promise<[string, number][]> {
  const page = json(await x.request('viewer', { method: 'GET', url: '/api/v1/orders?workflow=repairs&limit=100' }));
  return page.items.map((o: { state: string; workflowVersion: number }) => [o.state, o.workflowVersion]);
}

for (const dialect of DIALECTS) {
  describe(`migration refusals and hand-cancelled timers (${dialect})`, () => {
    it('refuses up front, changing nothing, when a selected order would be left in an unmapped state; the dry run says the same', async () => {
      t = await createAutomationTest({ dialect, demo: false });
      await publishWorkflow(t, repairs());
      const a = await createOrder(t, 'repairs');
      await move(t, a.id, 'repairing');
      const b = await createOrder(t, 'repairs');
      await move(t, b.id, 'testing');
      await createOrder(t, 'repairs');
      await publishV2(t, repairs(false));
      const before = await versions(t);

      for (const dryRun of [true, false]) {
        const res = await t.request('operator', {
          method: 'POST',
          url: '/api/v1/workflows/repairs/migrate',
          body: { toVersion: 2, ...(dryRun ? { dryRun } : {}) },
        });
        const problem = expectProblem(res, 422, 'validation_failed');
        expect(problem.errors).toEqual([{ path: 'stateMap.repairing', message: expect.stringContaining('"repairing"') }]);
        expect(await versions(t)).toEqual(before);
      }

      // A stateMap that maps to a state the target does not have is no mapping either.
      const wrong = await t.request('operator', {
        method: 'POST',
        url: '/api/v1/workflows/repairs/migrate',
        body: { toVersion: 2, stateMap: { repairing: 'nowhere' } },
      });
      expect(expectProblem(wrong, 422, 'validation_failed').errors.map((e: { path: string }) => e.path)).toEqual(['stateMap.repairing']);
      expect(await versions(t)).toEqual(before);

      // A filter that leaves the unmapped orders out migrates the rest; mapping the state migrates all.
      const some = await t.request('operator', {
        method: 'POST',
        url: '/api/v1/workflows/repairs/migrate',
        body: { toVersion: 2, filter: { state: 'testing' } },
      });
      expect(some.statusCode, some.body).toBe(200);
      expect(json(some)).toMatchObject({ matched: 1, migrated: 1, failed: [] });
      const all = await t.request('operator', {
        method: 'POST',
        url: '/api/v1/workflows/repairs/migrate',
        body: { toVersion: 2, stateMap: { repairing: 'testing' } },
      });
      expect(all.statusCode, all.body).toBe(200);
      expect(json(all)).toMatchObject({ matched: 2, migrated: 2, failed: [] });
    });

    it('does not revive a timeout cancelled by hand when "keep" maps the state to one with a timeout', async () => {
      t = await createAutomationTest({ dialect, demo: false });
      await publishWorkflow(t, repairs());
      const a = await createOrder(t, 'repairs');
      const timers = json(await t.request('viewer', { method: 'GET', url: `/api/v1/timers?orderId=${a.id}` })).items;
      expect(timers).toHaveLength(1);
      const del = await t.request('operator', { method: 'DELETE', url: `/api/v1/timers/${timers[0].id}` });
      expect(del.statusCode, del.body).toBeLessThan(300);
      const v2 = repairs(true, '2h');
      const received = v2.states[0];
      if (received) received.key = 'intake';
      for (const tr of v2.transitions) if (tr.from === 'received') tr.from = 'intake';
      await publishV2(t, v2);
      const res = await t.request('operator', {
        method: 'POST',
        url: `/api/v1/orders/${a.id}/migrate`,
        body: { toVersion: 2, timers: 'keep', stateMap: { received: 'intake' } },
      });
      expect(res.statusCode, res.body).toBe(200);
      expect(json(res).migration.timers).toEqual([]);
      const after = json(await t.request('viewer', { method: 'GET', url: `/api/v1/timers?orderId=${a.id}` })).items;
      expect(after).toEqual([]);
    });
  });
}
