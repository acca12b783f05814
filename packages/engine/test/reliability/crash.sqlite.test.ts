/**
 * The crash test (RELIABILITY G1, SQLite): `orderflow serve` on a temp SQLite file, a rule
 * that webhooks every transition to a local receiver, concurrent clients moving orders, and
 * the server killed with SIGKILL at least ten times (restarted each time). Afterwards every
 * acknowledged transition is in the history exactly once, versions have no gaps, every
 * committed delivery reached the receiver at least once (deduplicated by webhook-id), and
 * the database passes `PRAGMA integrity_check`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { Webhook } from 'standardwebhooks';
import { afterAll, describe, expect, it } from 'vitest';

const CLI = resolve(import.meta.dirname, '../../dist/cli.js');
const TOKEN = 'crash-test-admin-token-0123456789';
const SECRET = 'whsec_Y3Jhc2gtdGVzdC13ZWJob29rLXNlY3JldC0wMQ==';
const KILLS = Number(process.env.ORDERFLOW_CRASH_KILLS ?? 10);
const CLIENTS = 16;
const RUN_BETWEEN_KILLS_MS = [800, 1800] as const;

const NEXT: Record<string, string> = { placed: 'a', a: 'b', b: 'c', c: 'a' };

interface Ack {
  orderId: string;
  version: number;
  to: string;
  deliveryIds: string[];
}

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('kill -9 under load (SQLite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'orderflow-crash-'));
  let server: ChildProcess | null = null;
  let receiver: Server | null = null;
  afterAll(async () => {
    server?.kill('SIGKILL');
    receiver?.closeAllConnections();
    await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses no acknowledged transition, duplicates none, and delivers every committed webhook', { timeout: 150_000 }, async () => {
    expect(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first`).toBe(true);

    // The receiver: counts every webhook-id and checks every signature.
    const received = new Map<string, number>();
    let badSignatures = 0;
    const verifier = new Webhook(SECRET);
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const id = String(req.headers['webhook-id']);
        try {
          verifier.verify(body, {
            'webhook-id': id,
            'webhook-timestamp': String(req.headers['webhook-timestamp']),
            'webhook-signature': String(req.headers['webhook-signature']),
          });
        } catch {
          badSignatures++;
        }
        received.set(id, (received.get(id) ?? 0) + 1);
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => receiver?.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      ORDERFLOW_DATABASE_URL: `sqlite:${join(dir, 'orderflow.db')}`,
      ORDERFLOW_DATA_DIR: dir,
      ORDERFLOW_ADMIN_TOKEN: TOKEN,
      ORDERFLOW_WEBHOOK_SECRET: SECRET,
      ORDERFLOW_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
      ORDERFLOW_RETRY_BASE: '1s',
      ORDERFLOW_DEMO: 'false',
      LOG_LEVEL: 'error',
    };
    let log = '';
    const start = async (): Promise<ChildProcess> => {
      const child = spawn(process.execPath, [CLI, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout?.on('data', (d: Buffer) => {
        log = (log + d.toString()).slice(-4000);
      });
      child.stderr?.on('data', (d: Buffer) => {
        log = (log + d.toString()).slice(-4000);
      });
      const deadline = Date.now() + 15_000;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${log}`);
        try {
          const r = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(1000) });
          if (r.ok) return child;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`server did not start:\n${log}`);
        await sleep(25);
      }
    };
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const call = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(`${base}/api/v1${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(10_000),
      });
      return { status: r.status, body: (await r.json().catch(() => null)) as Record<string, unknown> | null };
    };

    server = await start();
    const wf = await call('POST', '/workflows?publish=true', {
      key: 'crash',
      name: 'Crash',
      states: [
        { key: 'placed', name: 'Placed', group: 'new', initial: true },
        { key: 'a', name: 'A', group: 'processing' },
        { key: 'b', name: 'B', group: 'processing' },
        { key: 'c', name: 'C', group: 'processing' },
        { key: 'done', name: 'Done', group: 'completed' },
        { key: 'gone', name: 'Gone', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
      ],
      transitions: [
        { from: 'placed', to: 'a' },
        { from: 'a', to: 'b' },
        { from: 'b', to: 'c' },
        { from: 'c', to: 'a' },
        { from: 'c', to: 'done' },
        { from: '*', to: 'gone' },
      ],
      rules: [{ id: 'hook', trigger: 'state_changed', actions: [{ type: 'webhook', url: hookUrl }] }],
    });
    expect(wf.status, JSON.stringify(wf.body)).toBeLessThan(300);

    const orders: { id: string; state: string; version: number }[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const r = await call('POST', '/orders', { workflow: 'crash', data: { client: i } });
      expect(r.status).toBe(201);
      const o = r.body?.order as { id: string; state: string; version: number };
      orders.push({ id: o.id, state: o.state, version: o.version });
    }

    const acks: Ack[] = [];
    const unexpected: string[] = [];
    let unknownOutcomes = 0;
    let conflicts = 0;
    let stop = false;

    async function refresh(o: (typeof orders)[number]) {
      while (!stop) {
        try {
          const r = await call('GET', `/orders/${o.id}`);
          if (r.status === 200 && r.body) {
            o.state = String(r.body.state);
            o.version = Number(r.body.version);
            return;
          }
        } catch {
          // the server is down; try again
        }
        await sleep(50);
      }
    }

    async function client(o: (typeof orders)[number]) {
      while (!stop) {
        const to = NEXT[o.state] as string;
        try {
          const r = await call('POST', `/orders/${o.id}/transitions`, { to, expectedVersion: o.version });
          if (r.status === 200 && r.body) {
            const order = r.body.order as { state: string; version: number };
            acks.push({
              orderId: o.id,
              version: order.version,
              to: order.state,
              deliveryIds: (r.body.deliveries as { id: string }[]).map((d) => d.id),
            });
            o.state = order.state;
            o.version = order.version;
          } else if (r.status === 409) {
            conflicts++;
            await refresh(o);
          } else if (r.status === 503) {
            await sleep(50);
            await refresh(o);
          } else {
            unexpected.push(`${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
            await refresh(o);
          }
        } catch {
          // Killed mid-request: the transition may or may not have committed.
          unknownOutcomes++;
          await sleep(50);
          await refresh(o);
        }
      }
    }

    const started = Date.now();
    const clients = orders.map((o) => client(o));
    let kills = 0;
    while (kills < KILLS) {
      const [lo, hi] = RUN_BETWEEN_KILLS_MS;
      await sleep(lo + Math.random() * (hi - lo));
      const exited = new Promise<void>((r) => server?.once('exit', () => r()));
      server?.kill('SIGKILL');
      await exited;
      kills++;
      server = await start();
    }
    await sleep(1000);
    stop = true;
    await Promise.all(clients);
    const loadMs = Date.now() - started;

    // Bounded wait for the outbox to drain: claims held by killed processes run out after 15 s.
    const db = new Database(join(dir, 'orderflow.db'), { readonly: true, fileMustExist: true });
    const drainStarted = Date.now();
    let undelivered = -1;
    while (Date.now() - drainStarted < 30_000) {
      undelivered = (db.prepare("select count(*) as n from deliveries where status <> 'delivered'").get() as { n: number }).n;
      if (undelivered === 0) break;
      await sleep(200);
    }
    const drainMs = Date.now() - drainStarted;
    db.close();

    // Stop gracefully, then check everything on the closed file.
    const exited = new Promise<void>((r) => server?.once('exit', () => r()));
    server?.kill('SIGTERM');
    await exited;
    server = null;

    const check = new Database(join(dir, 'orderflow.db'));
    expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
    const history = check
      .prepare("select order_id as orderId, entry_json as json from history where type = 'transition' order by order_id, seq")
      .all() as { orderId: string; json: string }[];
    const deliveries = check.prepare('select id, status, order_id as orderId from deliveries').all() as {
      id: string;
      status: string;
      orderId: string;
    }[];
    const finalVersions = new Map(
      (check.prepare("select id, version from orders where workflow = 'crash'").all() as { id: string; version: number }[]).map((r) => [
        r.id,
        r.version,
      ]),
    );
    check.close();

    // Every acknowledged transition: in the history exactly once, with its version and target.
    const byOrder = new Map<string, { version: number; to: string }[]>();
    for (const h of history) {
      const e = JSON.parse(h.json) as { version: number; to: string };
      const list = byOrder.get(h.orderId) ?? [];
      list.push({ version: e.version, to: e.to });
      byOrder.set(h.orderId, list);
    }
    for (const a of acks) {
      const matches = (byOrder.get(a.orderId) ?? []).filter((e) => e.version === a.version);
      expect(matches, `${a.orderId} v${a.version}`).toEqual([{ version: a.version, to: a.to }]);
    }
    // Versions are gap-free: one transition per version from 2 to the final one (nothing else changes these orders).
    for (const [orderId, final] of finalVersions) {
      const versions = (byOrder.get(orderId) ?? []).map((e) => e.version);
      expect(versions, orderId).toEqual(Array.from({ length: final - 1 }, (_, i) => i + 2));
    }
    // Every committed delivery arrived at least once; duplicates are allowed and counted.
    const transitions = history.length;
    expect(deliveries).toHaveLength(transitions);
    const missing = deliveries.filter((d) => !received.has(d.id));
    expect(missing.map((d) => d.id)).toEqual([]);
    for (const a of acks) for (const id of a.deliveryIds) expect(received.has(id), id).toBe(true);
    expect(undelivered).toBe(0);
    expect(badSignatures).toBe(0);
    expect(unexpected).toEqual([]);
    const duplicates = [...received.values()].reduce((n, c) => n + (c - 1), 0);

    console.log(
      `crash test: ${kills} SIGKILLs in ${(loadMs / 1000).toFixed(1)} s under ${CLIENTS} clients; ${acks.length} acknowledged transitions ` +
        `(${transitions} committed, ${unknownOutcomes} requests cut by a kill, ${conflicts} conflicts); ` +
        `${deliveries.length} deliveries, all received (${received.size} distinct webhook-ids, ${duplicates} duplicate sends); ` +
        `outbox drained ${(drainMs / 1000).toFixed(1)} s after the last restart; integrity_check ok`,
    );
    expect(kills).toBeGreaterThanOrEqual(10);
    expect(acks.length).toBeGreaterThan(100);
  });
});
