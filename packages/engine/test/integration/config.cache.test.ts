import type { Caller, Definition } from '@orderflow/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createSimulatedClock } from '../../src/runtime/clock.js';
import { createIdGenerator } from '../../src/runtime/ids.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import type { Store } from '../../src/store/store.js';
import { DIALECTS, freshStore, openStoreAt } from '../dialects.js';

/**
 * The runtime caches published workflows and the automation switch between changes. Another
 * process (here: a second store on the same database, writing with plain SQL so that nothing in
 * this process learns of it) publishes and pauses; the next changes here must see both.
 */

const caller: Caller = { actor: { type: 'api', id: 'tok_test' }, roles: ['operator'] };

const definition = (name: string, mark: string): Definition =>
  ({
    key: 'cache',
    name,
    states: [
      { key: 'open', name: 'Open', group: 'new', initial: true },
      { key: 'done', name: 'Done', group: 'completed' },
    ],
    transitions: [{ from: 'open', to: 'done' }],
    rules: [{ id: 'mark', name: 'Mark', trigger: 'order_created', actions: [{ type: 'set_data', set: { mark } }] }],
  }) as Definition;

/** Publishes `def` as `version` the way another process would: rows only, no in-process signal. */
async function publishElsewhere(other: Store, def: Definition, version: number): Promise<void> {
  const now = new Date().toISOString();
  await other.transaction(async (tx) => {
    if (version === 1) {
      await tx
        .insertInto('workflows')
        .values({
          key: 'cache',
          name: def.name,
          draft_json: null,
          draft_updated_at: null,
          published_version: null,
          created_at: now,
          updated_at: now,
        })
        .execute();
    }
    await tx
      .insertInto('workflow_versions')
      .values({ workflow: 'cache', version, definition_json: JSON.stringify(def), published_at: now, published_by: 'elsewhere' })
      .execute();
    await tx.updateTable('workflows').set({ published_version: version, updated_at: now }).where('key', '=', 'cache').execute();
  });
}

async function pauseElsewhere(other: Store): Promise<void> {
  const value_json = JSON.stringify({ paused: false, rules: [], workflows: ['cache'] });
  await other.transaction(async (tx) => {
    await tx
      .insertInto('settings')
      .values({ key: 'automation', value_json })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value_json }))
      .execute();
  });
}

for (const dialect of DIALECTS) {
  describe(`workflow and settings cache across processes (${dialect})`, () => {
    let cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const c of cleanups.reverse()) await c();
      cleanups = [];
    });

    it('uses a version and a pause that another process wrote, on the next changes', async () => {
      const { store, url, cleanup } = await freshStore(dialect);
      cleanups.push(cleanup);
      const other = openStoreAt(url);
      cleanups.push(() => other.close());
      const clock = createSimulatedClock('2026-03-01T10:00:00.000Z');
      const runtime: Runtime = createRuntime({ store, clock, newId: createIdGenerator(clock) });
      const create = async () =>
        (await runtime.applyCommand({ command: { type: 'create', workflow: 'cache', workflowVersion: 0, data: {}, caller } })).body.order;

      await publishElsewhere(other, definition('Cache', 'one'), 1);
      const first = await create();
      expect([first.workflowVersion, first.data.mark]).toEqual([1, 'one']);

      await publishElsewhere(other, definition('Cache', 'two'), 2);
      // PostgreSQL tells this process through a notification, which takes a moment: bounded wait.
      let next = await create();
      for (let i = 0; i < 50 && next.workflowVersion !== 2; i++) {
        await new Promise((r) => setTimeout(r, 100));
        next = await create();
      }
      expect([next.workflowVersion, next.data.mark]).toEqual([2, 'two']);

      await pauseElsewhere(other);
      let paused = await create();
      for (let i = 0; i < 50 && paused.data.mark !== undefined; i++) {
        await new Promise((r) => setTimeout(r, 100));
        paused = await create();
      }
      // The workflow's rules are paused: the order_created rule no longer sets its mark.
      expect(paused.data.mark).toBeUndefined();
    });

    it.runIf(dialect === 'sqlite')(
      'checks the cached configuration inside each change, and keeps it when another process wrote something else',
      async () => {
        const { store, url, cleanup } = await freshStore(dialect);
        cleanups.push(cleanup);
        const other = openStoreAt(url);
        cleanups.push(() => other.close());
        // Counts the reads of the config version outside a transaction: the slow ones on SQLite.
        let outside = 0;
        const counted: Store = {
          ...store,
          configVersion: () => {
            outside++;
            return store.configVersion();
          },
        };
        expect(counted.configVersionInTransaction).toBeTypeOf('function');
        const clock = createSimulatedClock('2026-03-01T10:00:00.000Z');
        const runtime: Runtime = createRuntime({ store: counted, clock, newId: createIdGenerator(clock) });
        const create = async () =>
          (await runtime.applyCommand({ command: { type: 'create', workflow: 'cache', workflowVersion: 0, data: {}, caller } })).body.order;

        await publishElsewhere(other, definition('Cache', 'one'), 1);
        expect((await create()).data.mark).toBe('one');
        const afterLoad = outside;
        for (let i = 0; i < 5; i++) expect((await create()).data.mark).toBe('one');
        expect(outside).toBe(afterLoad);

        // Another process commits a row that is no configuration: the snapshot stays, nothing reloads.
        await other.transaction(async (tx) => {
          await tx.insertInto('settings').values({ key: 'unrelated', value_json: '{}' }).execute();
        });
        expect((await create()).data.mark).toBe('one');
        expect(outside).toBe(afterLoad);

        // Another process publishes: the very next change decides under the new version.
        await publishElsewhere(other, definition('Cache', 'two'), 2);
        const next = await create();
        expect([next.workflowVersion, next.data.mark]).toEqual([2, 'two']);
        expect(outside).toBe(afterLoad + 1);
      },
    );
  });
}
