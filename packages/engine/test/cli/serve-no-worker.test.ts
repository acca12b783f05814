/**
 * `orderflow serve --no-worker`: an API and UI process without a worker. A change it commits
 * queues its webhook, and the webhook stays queued until an `orderflow worker` process on the
 * same database sends it. Real processes (the committed bin), a real SQLite file and a real
 * HTTP receiver.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });
const BIN = resolve(import.meta.dirname, '../../bin/orderflow.js');
const TOKEN = 'no-worker-admin-token-0123456789abcdef';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

describe('orderflow serve --no-worker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'orderflow-no-worker-'));
  const children: ChildProcess[] = [];
  let receiver: Server;
  let hookUrl = '';
  const arrived: string[] = [];
  let env: NodeJS.ProcessEnv = {};
  let base = '';
  let output = '';

  /** Starts the bin with `args`, collecting what it prints. */
  const start = (args: string[]): ChildProcess => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    children.push(child);
    return child;
  };
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: r.status, body: (await r.json().catch(() => null)) as Record<string, unknown> | null };
  };

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const id = String(req.headers['webhook-id'] ?? '');
      req.resume();
      req.on('end', () => {
        arrived.push(id);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      HOST: '127.0.0.1',
      ORDERFLOW_DATABASE_URL: `sqlite:${join(dir, 'orderflow.db')}`,
      ORDERFLOW_DATA_DIR: dir,
      ORDERFLOW_ADMIN_TOKEN: TOKEN,
      ORDERFLOW_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
      ORDERFLOW_DEMO: 'false',
      LOG_LEVEL: 'silent',
    };
    const server = start(['serve', '--no-worker']);
    const deadline = Date.now() + 40_000;
    for (;;) {
      if (server.exitCode !== null) throw new Error(`serve exited with ${server.exitCode}:\n${output}`);
      const ok = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`serve did not start:\n${output}`);
      await sleep(50);
    }
  });

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    receiver?.closeAllConnections();
    receiver?.close();
    await sleep(100);
    rmSync(dir, { recursive: true, force: true });
  });

  it('commits and queues the webhook but sends nothing; a worker process on the same database sends it', async () => {
    expect(output).toContain('No worker in this process (--no-worker)');
    const wf = await call('POST', '/workflows?publish=true', {
      key: 'split',
      name: 'Split',
      states: [
        { key: 'placed', name: 'Placed', group: 'new', initial: true },
        { key: 'packed', name: 'Packed', group: 'processing' },
        { key: 'done', name: 'Done', group: 'completed' },
        { key: 'gone', name: 'Gone', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
      ],
      transitions: [
        { from: 'placed', to: 'packed' },
        { from: 'packed', to: 'done' },
        { from: '*', to: 'gone' },
      ],
      rules: [{ id: 'hook', trigger: 'state_changed', conditions: { new_state: 'packed' }, actions: [{ type: 'webhook', url: hookUrl }] }],
    });
    expect(wf.status).toBeLessThan(300);
    const created = await call('POST', '/orders', { workflow: 'split', data: {} });
    expect(created.status).toBe(201);
    const orderId = (created.body?.order as { id: string } | undefined)?.id ?? '';
    const moved = await call('POST', `/orders/${orderId}/transitions`, { to: 'packed' });
    expect(moved.status).toBe(200);

    // An in-process worker is woken by the commit and sends at once; this process has none.
    await sleep(2000);
    expect(arrived).toEqual([]);
    const queued = await call('GET', `/deliveries?orderId=${orderId}`);
    expect(queued.status).toBe(200);
    const items = (queued.body?.items ?? []) as { id: string; status: string }[];
    expect(items.map((d) => d.status)).toEqual(['pending']);

    // A worker process on the same database picks it up (it polls: no wake-ups between SQLite processes).
    start(['worker']);
    const until = Date.now() + 40_000;
    while (arrived.length === 0 && Date.now() < until) await sleep(50);
    expect(arrived).toEqual([items[0]?.id]);
  });
});
