/**
 * Two `orderflow worker` processes on one SQLite file catch up on timers that fell due
 * while nothing ran, one of them killed with SIGKILL mid-way and restarted: every timer
 * fires exactly once (RELIABILITY G12).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createSimulatedClock } from '../../src/runtime/clock.js';
import { createOrderflow } from '../../src/server.js';
import { createWorkflowService } from '../../src/workflows.js';

const CLI = resolve(import.meta.dirname, '../../dist/cli.js');
const ORDERS = 150;

describe('timers with two worker processes under SIGKILL (SQLite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'orderflow-timers-'));
  const file = join(dir, 'orderflow.db');
  const children = new Set<ChildProcess>();
  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('fires every overdue timer exactly once', { timeout: 90_000 }, async () => {
    expect(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first`).toBe(true);
    // Orders that entered a 1 h timeout state two days ago: all their timers are overdue now.
    const env = { ORDERFLOW_DATABASE_URL: `sqlite:${file}`, ORDERFLOW_DATA_DIR: dir, ORDERFLOW_DEMO: 'false', LOG_LEVEL: 'silent' };
    const clock = createSimulatedClock(new Date(Date.now() - 2 * 86_400_000));
    const of = await createOrderflow(loadConfig(env, dir), { clock });
    const caller = { actor: { type: 'system' as const, id: 'test' }, roles: ['admin' as const] };
    const service = createWorkflowService(of.store, () => clock.now().toISOString());
    await service.create(
      {
        key: 'late',
        name: 'Late',
        states: [
          { key: 'placed', name: 'Placed', group: 'new', initial: true },
          { key: 'waiting', name: 'Waiting', group: 'processing', timeout: { after: '1h', to: 'expired' } },
          { key: 'done', name: 'Done', group: 'completed' },
          { key: 'expired', name: 'Expired', group: 'cancelled', cancellation: { initiator: 'customer', code: 'payment_timeout' } },
        ],
        transitions: [
          { from: 'placed', to: 'waiting' },
          { from: 'waiting', to: 'done' },
        ],
      },
      true,
      'test',
    );
    for (let i = 0; i < ORDERS; i++) {
      const created = await of.runtime.applyCommand({
        command: { type: 'create', workflow: 'late', workflowVersion: 0, data: { i }, caller },
      });
      await of.runtime.applyCommand({ orderId: created.body.order.id, command: { type: 'transition', to: 'waiting', caller } });
    }
    await of.close();

    let log = '';
    const start = () => {
      const child = spawn(process.execPath, [CLI, 'worker'], {
        env: { ...process.env, ...env, LOG_LEVEL: 'error' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      for (const s of [child.stdout, child.stderr]) {
        s?.on('data', (d: Buffer) => {
          log = (log + d.toString()).slice(-4000);
        });
      }
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    };
    const db = new Database(file, { readonly: true });
    const pending = () => (db.prepare("select count(*) as n from timers where status = 'pending'").get() as { n: number }).n;

    const one = start();
    let two = start();
    // Kill one as soon as the work is under way, and bring it back.
    const deadline = Date.now() + 20_000;
    while (pending() === ORDERS && Date.now() < deadline) await sleep(5);
    const killedAt = ORDERS - pending();
    const exited = new Promise<void>((r) => two.once('exit', () => r()));
    two.kill('SIGKILL');
    await exited;
    two = start();
    // Claims of the killed process run out after the lease (15 s).
    const done = Date.now() + 40_000;
    while (pending() > 0 && Date.now() < done) await sleep(50);
    const left = pending();
    db.close();
    for (const c of [one, two]) {
      const gone = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGTERM');
      await gone;
    }
    expect(left, log).toBe(0);

    const check = new Database(file);
    const fired = check.prepare('select status, count(*) as n from timers group by status').all() as { status: string; n: number }[];
    const perOrder = check
      .prepare("select order_id, count(*) as n from history where type = 'transition' and actor_type = 'timer' group by order_id")
      .all() as { order_id: string; n: number }[];
    const states = check.prepare('select state, count(*) as n from orders group by state').all() as { state: string; n: number }[];
    expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
    check.close();
    expect(fired).toEqual([{ status: 'fired', n: ORDERS }]);
    expect(perOrder).toHaveLength(ORDERS);
    expect(perOrder.every((r) => r.n === 1)).toBe(true);
    expect(states).toEqual([{ state: 'expired', n: ORDERS }]);
    console.log(`timers: ${ORDERS} overdue timers fired exactly once by two worker processes; one killed after ${killedAt} had fired`);
  });
});
