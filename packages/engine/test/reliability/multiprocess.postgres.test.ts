/**
 * Several `serve` and `worker` processes on one PostgreSQL database, concurrent clients,
 * and a random process killed with SIGKILL every few seconds (then restarted). Afterwards:
 * every acknowledged transition is in the history exactly once, versions have no gaps,
 * every delivery reached the receiver at least once, and no timer fired twice.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { Definition } from '@orderflow/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { insertWorkflow, publishVersion } from '../../src/store/workflows.js';
import { DIALECTS, freshStore } from '../dialects.js';

const CLI = resolve(import.meta.dirname, '../../dist/cli.js');
const TOKEN = 'multiprocess-admin-token-0001';
// The run lasts as many kill/restart rounds as KILLS asks for, however slow the machine is to restart a
// process; HARD_CAP_MS only stops a run that can no longer make progress.
const KILLS = Number(process.env.ORDERFLOW_MP_KILLS ?? 8);
const KILL_EVERY_MS = 2_500;
const HARD_CAP_MS = 120_000;
const CLIENTS = 8;
const ORDERS = 24;

const WORKFLOW = (receiver: string): Definition => ({
  key: 'mp',
  name: 'Multi-process',
  states: [
    { key: 'start', name: 'Start', group: 'new', initial: true },
    { key: 'left', name: 'Left', group: 'processing', timeout: { after: '3s', to: 'right' } },
    { key: 'right', name: 'Right', group: 'processing' },
    { key: 'gone', name: 'Gone', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
    { key: 'done', name: 'Done', group: 'completed' },
  ],
  transitions: [
    { from: 'start', to: 'left' },
    { from: 'left', to: 'right' },
    { from: 'right', to: 'left' },
    { from: '*', to: 'gone' },
    { from: 'right', to: 'done' },
  ],
  rules: [{ id: 'hook', trigger: 'state_changed', actions: [{ type: 'webhook', url: receiver }] }],
});

interface Proc {
  name: string;
  args: string[];
  env: Record<string, string>;
  child?: ChildProcess;
  port?: number;
}

const pgOnly = DIALECTS.includes('postgres');

describe.skipIf(!pgOnly)('2 serve + 2 worker processes on PostgreSQL under SIGKILL', () => {
  let store: Store;
  let cleanup: () => Promise<void>;
  let url: string;
  let receiver: Server;
  const received = new Map<string, number>();
  const procs: Proc[] = [];

  beforeAll(async () => {
    ({ store, cleanup, url } = await freshStore('postgres'));
    receiver = createServer((req, res) => {
      const id = String(req.headers['webhook-id'] ?? '');
      req.resume();
      req.on('end', () => {
        received.set(id, (received.get(id) ?? 0) + 1);
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const now = new Date().toISOString();
    const def = WORKFLOW(hook);
    await store.transaction(async (tx) => {
      await insertWorkflow(tx, def.key, def.name, def, now);
      await publishVersion(tx, def.key, def, 'test', now);
    });
    const env = {
      ORDERFLOW_DATABASE_URL: url,
      ORDERFLOW_ADMIN_TOKEN: TOKEN,
      ORDERFLOW_DEMO: 'false',
      ORDERFLOW_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
      ORDERFLOW_WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      ORDERFLOW_RETRY_BASE: '200ms',
      ORDERFLOW_RETRY_MAX_ATTEMPTS: '60',
      ORDERFLOW_RATE_LIMIT: '0',
      ORDERFLOW_DATA_DIR: `/tmp/orderflow-mp-${process.pid}`,
      LOG_LEVEL: 'silent',
      HOST: '127.0.0.1',
    };
    for (let i = 0; i < 2; i++) procs.push({ name: `serve-${i}`, args: ['serve'], env: { ...env, PORT: String(await freePort()) } });
    for (let i = 0; i < 2; i++) procs.push({ name: `worker-${i}`, args: ['worker'], env });
    await Promise.all(procs.map(start));
  }, 60_000);

  afterAll(async () => {
    for (const p of procs) p.child?.kill('SIGKILL');
    await new Promise<void>((r) => receiver?.close(() => r()));
    await cleanup?.();
  });

  async function freePort(): Promise<number> {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    return port;
  }

  async function start(p: Proc): Promise<void> {
    const child = spawn(process.execPath, [CLI, ...p.args], { env: { ...process.env, ...p.env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    p.child = child;
    if (p.args[0] !== 'serve') return;
    p.port = Number(p.env.PORT);
    for (let i = 0; i < 600; i++) {
      if (child.exitCode !== null) throw new Error(`${p.name} exited with ${child.exitCode}: ${stderr}`);
      try {
        const r = await fetch(`http://127.0.0.1:${p.port}/readyz`);
        if (r.ok) return;
      } catch {
        // not yet listening
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${p.name} did not start within 30 s: ${stderr}`);
  }

  const serves = () => procs.filter((p) => p.args[0] === 'serve');
  const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

  it('loses and duplicates nothing', async () => {
    // Orders to play with.
    const orderIds: string[] = [];
    for (let i = 0; i < ORDERS; i++) {
      const p = serves()[i % 2] as Proc;
      const r = await fetch(`http://127.0.0.1:${p.port}/api/v1/orders`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ workflow: 'mp', data: { i } }),
      });
      expect(r.status).toBe(201);
      orderIds.push(((await r.json()) as { order: { id: string } }).order.id);
    }
    const acked: { orderId: string; note: string; version: number }[] = [];
    const hardDeadline = Date.now() + HARD_CAP_MS;
    let kills = 0;
    let errors = 0;
    let killerDone = false;
    const killer = (async () => {
      while (kills < KILLS && Date.now() < hardDeadline) {
        await new Promise((r) => setTimeout(r, KILL_EVERY_MS));
        const victim = procs[Math.floor(Math.random() * procs.length)] as Proc;
        victim.child?.kill('SIGKILL');
        kills++;
        await new Promise((r) => setTimeout(r, 150));
        await start(victim);
      }
      // One more quiet interval with every process up, so the last restart also serves traffic.
      await new Promise((r) => setTimeout(r, KILL_EVERY_MS));
      killerDone = true;
    })();
    const client = async (n: number) => {
      let i = 0;
      while (!killerDone && Date.now() < hardDeadline) {
        i++;
        const orderId = orderIds[(n * 7 + i) % orderIds.length] as string;
        const p = serves()[i % 2] as Proc;
        const base = `http://127.0.0.1:${p.port}/api/v1/orders/${orderId}`;
        try {
          const o = (await (await fetch(base, { headers })).json()) as { state: string; version: number };
          const to = o.state === 'start' ? 'left' : o.state === 'left' ? 'right' : o.state === 'right' ? 'left' : null;
          if (!to) continue;
          const note = `req-${randomUUID()}`;
          const r = await fetch(`${base}/transitions`, {
            method: 'POST',
            headers,
            body: JSON.stringify({ to, note, expectedVersion: o.version }),
          });
          if (r.status === 200) {
            const body = (await r.json()) as { order: { version: number } };
            acked.push({ orderId, note, version: body.order.version });
          }
        } catch {
          errors++; // the process died under us: not acknowledged
        }
      }
    };
    await Promise.all([killer, ...Array.from({ length: CLIENTS }, (_, n) => client(n))]);
    expect(kills).toBe(KILLS);

    // Let every process come back, then wait (bounded) for the outbox and due timers to drain.
    for (const p of procs) if (!p.child || p.child.exitCode !== null || p.child.signalCode) await start(p);
    for (let i = 0; i < 300; i++) {
      const pending = await store.db
        .selectFrom('deliveries')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('status', '!=', 'delivered')
        .executeTakeFirst();
      if (Number(pending?.n) === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }

    // Every acknowledged transition is in the history exactly once.
    const history = await store.db.selectFrom('history').select(['order_id', 'entry_json']).execute();
    const entries = history.map((h) => ({
      orderId: h.order_id,
      ...(JSON.parse(h.entry_json) as { note?: string; version: number; type: string; actor: { type: string; id: string } }),
    }));
    const byNote = new Map<string, number>();
    for (const e of entries) if (e.note) byNote.set(e.note, (byNote.get(e.note) ?? 0) + 1);
    const missing = acked.filter((a) => byNote.get(a.note) !== 1);
    expect(missing).toEqual([]);
    expect(acked.length).toBeGreaterThan(50);

    // Versions have no gaps.
    const orders = await store.db.selectFrom('orders').select(['id', 'version']).execute();
    for (const o of orders) {
      const versions = new Set(entries.filter((e) => e.orderId === o.id).map((e) => e.version));
      expect([...versions].sort((a, b) => a - b)).toEqual(Array.from({ length: Number(o.version) }, (_, i) => i + 1));
    }

    // No timer fired twice: each timer id acts at most once in the history, and fired rows match.
    const timerActs = entries.filter((e) => e.actor.type === 'timer' && e.type === 'transition').map((e) => e.actor.id);
    expect(new Set(timerActs).size).toBe(timerActs.length);

    // Every delivery reached the receiver at least once.
    const deliveries = await store.db.selectFrom('deliveries').select(['id', 'status']).execute();
    const notReceived = deliveries.filter((d) => !received.has(d.id));
    expect(notReceived).toEqual([]);
    const duplicates = [...received.values()].filter((n) => n > 1).length;
    console.log(
      `multi-process: ${acked.length} acknowledged transitions, ${kills} kills, ${errors} client errors, ${deliveries.length} deliveries, ${duplicates} delivered more than once, ${timerActs.length} timer transitions`,
    );
  }, 300_000);
});
