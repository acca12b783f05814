import type { Definition } from '@orderflow/core';
import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../dialects.js';
import { createTestOrderflow, expectProblem, json, type TestOrderflow } from '../helpers/orderflow.js';

/**
 * Durations past 100 years are refused by validation. A workflow stored before that bound (rows
 * written directly here) still never makes a change fail: its timers come due at the end of 9999.
 */

let t: TestOrderflow;
afterEach(async () => {
  await t?.close();
});

const HUGE = '999999999w';

const definition = {
  key: 'huge',
  name: 'Huge durations',
  states: [
    { key: 'open', name: 'Open', group: 'new', initial: true },
    { key: 'waiting', name: 'Waiting', group: 'processing', timeout: { after: HUGE, to: 'gave_up' } },
    { key: 'gave_up', name: 'Gave up', group: 'cancelled', cancellation: { initiator: 'provider', code: 'other' } },
    { key: 'done', name: 'Done', group: 'completed' },
  ],
  transitions: [
    { from: 'open', to: 'waiting' },
    { from: 'waiting', to: 'done' },
  ],
  rules: [
    {
      id: 'late-note',
      name: 'Late note',
      trigger: 'state_changed',
      conditions: { new_state: 'waiting' },
      actions: [{ type: 'notify', channel: 'admins', message: 'still waiting', delay: '100000000d' }],
    },
    {
      id: 'very-late',
      name: 'Very late',
      trigger: 'time_in_state',
      state: 'waiting',
      after: '14000000w',
      actions: [{ type: 'notify', channel: 'admins', message: 'very late' }],
    },
  ],
} as unknown as Definition;

for (const dialect of DIALECTS) {
  describe(`durations past 100 years (${dialect})`, () => {
    it('are refused by validation and publishing, naming the path', async () => {
      t = await createTestOrderflow({ dialect, demo: false });
      const validated = await t.request('designer', { method: 'POST', url: '/api/v1/workflows/huge/validate', body: definition });
      const problems = json(validated).problems as { code: string; path: string; message: string }[];
      expect(problems).toContainEqual(
        expect.objectContaining({ path: 'states.1.timeout.after', message: expect.stringMatching(/100 years/) }),
      );
      const created = await t.request('designer', { method: 'POST', url: '/api/v1/workflows?publish=true', body: definition });
      expectProblem(created, 422, 'validation_failed');
      expectProblem(await t.request('designer', { method: 'GET', url: '/api/v1/workflows/huge' }), 404, 'not_found');
    });

    it('stored before the bound, make no change fail: the timers come due at the end of 9999', async () => {
      t = await createTestOrderflow({ dialect, demo: false });
      const now = new Date().toISOString();
      await t.of.store.transaction(async (tx) => {
        await tx
          .insertInto('workflows')
          .values({
            key: 'huge',
            name: 'Huge durations',
            draft_json: null,
            draft_updated_at: null,
            published_version: 1,
            created_at: now,
            updated_at: now,
          })
          .execute();
        await tx
          .insertInto('workflow_versions')
          .values({ workflow: 'huge', version: 1, definition_json: JSON.stringify(definition), published_at: now, published_by: 'old' })
          .execute();
      });
      const created = await t.request('operator', { method: 'POST', url: '/api/v1/orders', body: { workflow: 'huge', data: {} } });
      expect(created.statusCode, created.body).toBe(201);
      const id = json(created).order.id as string;
      const preview = await t.request('operator', {
        method: 'POST',
        url: `/api/v1/orders/${id}/transitions/preview`,
        body: { to: 'waiting' },
      });
      expect(preview.statusCode, preview.body).toBe(200);
      const moved = await t.request('operator', { method: 'POST', url: `/api/v1/orders/${id}/transitions`, body: { to: 'waiting' } });
      expect(moved.statusCode, moved.body).toBe(200);
      expect(json(moved).order.state).toBe('waiting');
      const timers = json(await t.request('viewer', { method: 'GET', url: `/api/v1/timers?orderId=${id}` })).items as {
        kind: string;
        dueAt: string;
      }[];
      expect(timers.map((x) => x.kind).sort()).toEqual(['action', 'time_in_state', 'timeout']);
      for (const timer of timers) expect(timer.dueAt).toBe('9999-12-31T23:59:59.999Z');
      // Nothing is due now: the worker fires none of them.
      expect((await t.of.worker.runOnce()).timersFired).toBe(0);
      const after = await t.request('operator', { method: 'POST', url: `/api/v1/orders/${id}/transitions`, body: { to: 'done' } });
      expect(after.statusCode, after.body).toBe(200);
    });
  });
}
