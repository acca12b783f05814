/**
 * `orderflow worker` is built by the same assembly as `serve` (createEngine), so it honours the
 * runtime settings of the environment: a timer it fires runs the rule cascade under
 * ORDERFLOW_MAX_CASCADE_DEPTH, exactly as the API process would.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Caller } from '@orderflow/core';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createEngine, type Engine } from '../../src/engine.js';
import { getOrder } from '../../src/store/changes.js';
import * as repo from '../../src/store/repo.js';
import { createWorkflowService } from '../../src/workflows.js';
import { DIALECTS, type Dialect, freshStore } from '../dialects.js';

const CLI = resolve(import.meta.dirname, '../../dist/cli.js');
const caller: Caller = { actor: { type: 'system', id: 'test' }, roles: ['admin'] };

/** A timeout into `a`, then rules that move on to `b` (cascade depth 1) and to `c` (depth 2). */
const CHAIN = {
  key: 'chain',
  name: 'Chain',
  states: [
    { key: 'placed', name: 'Placed', group: 'new', initial: true },
    { key: 'waiting', name: 'Waiting', group: 'processing', timeout: { after: '1s', to: 'a' } },
    { key: 'a', name: 'A', group: 'processing' },
    { key: 'b', name: 'B', group: 'processing' },
    { key: 'c', name: 'C', group: 'completed' },
    { key: 'gone', name: 'Gone', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
  ],
  transitions: [
    { from: 'placed', to: 'waiting' },
    { from: 'waiting', to: 'a' },
    { from: 'a', to: 'b' },
    { from: 'b', to: 'c' },
    { from: '*', to: 'gone' },
  ],
  rules: [
    { id: 'a-to-b', trigger: 'state_changed', conditions: { new_state: 'a' }, actions: [{ type: 'transition', to: 'b' }] },
    { id: 'b-to-c', trigger: 'state_changed', conditions: { new_state: 'b' }, actions: [{ type: 'transition', to: 'c' }] },
  ],
};

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups = [];
});

/** An order waiting on its 1 s timeout, on a fresh database of `dialect`; returns the database URL and the order id. */
async function orderWaitingOnTimer(dialect: Dialect): Promise<{ url: string; orderId: string; dir: string }> {
  const fresh = await freshStore(dialect);
  cleanups.push(fresh.cleanup);
  const dir = mkdtempSync(join(tmpdir(), 'orderflow-cli-worker-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const engine: Engine = await createEngine(
    loadConfig({ ORDERFLOW_DATABASE_URL: fresh.url, ORDERFLOW_DATA_DIR: dir, LOG_LEVEL: 'silent' }, dir),
    {
      store: fresh.store,
    },
  );
  await createWorkflowService(engine.store, () => new Date().toISOString()).create(CHAIN, true, 'test');
  const created = await engine.runtime.applyCommand({
    command: { type: 'create', workflow: 'chain', workflowVersion: 0, data: {}, caller },
  });
  const orderId = created.body.order.id;
  await engine.runtime.applyCommand({ orderId, command: { type: 'transition', to: 'waiting', caller } });
  return { url: fresh.url, orderId, dir };
}

for (const dialect of DIALECTS) {
  describe(`orderflow worker (${dialect})`, () => {
    it('fires timers under ORDERFLOW_MAX_CASCADE_DEPTH', async () => {
      expect(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first`).toBe(true);
      const { url, orderId, dir } = await orderWaitingOnTimer(dialect);
      const child: ChildProcess = spawn(process.execPath, [CLI, 'worker'], {
        env: {
          ...process.env,
          ORDERFLOW_DATABASE_URL: url,
          ORDERFLOW_DATA_DIR: dir,
          ORDERFLOW_MAX_CASCADE_DEPTH: '1',
          ORDERFLOW_DEMO: 'false',
          LOG_LEVEL: 'error',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-4000);
      });
      cleanups.push(async () => {
        child.kill('SIGKILL');
      });
      // Read through a store of our own: the worker is another process.
      const { openStoreAt } = await import('../dialects.js');
      const reader = openStoreAt(url);
      cleanups.push(() => reader.close());
      const deadline = Date.now() + 30_000;
      let state = 'waiting';
      while (state === 'waiting' && Date.now() < deadline && child.exitCode === null) {
        await sleep(100);
        state = (await getOrder(reader.db, orderId))?.state ?? 'missing';
      }
      expect(state, stderr).not.toBe('waiting');
      // Depth 1 lets the timeout's rule move a -> b and stops the next one (b -> c); the default bound (10) would reach c.
      expect(state).toBe('b');
      const runs = await repo.listRuleRuns(reader.db, { orderId, limit: 20 });
      const stopped = runs.find((r) => r.ruleId === 'b-to-c' && r.matched);
      expect(stopped?.actions[0], JSON.stringify(runs)).toMatchObject({ outcome: 'failed', detail: expect.stringMatching(/depth/i) });
    });
  });
}
