/**
 * The crash test (RELIABILITY G1, SQLite): `orderflow serve` on a temp SQLite file, a rule
 * that webhooks every transition to a local receiver, 16 concurrent clients moving orders,
 * and the server killed with SIGKILL about every 3 s (restarted each time). Afterwards every
 * acknowledged transition is in the history exactly once, versions have no gaps, every
 * committed transition has its delivery row and its webhook reached the receiver at least
 * once (deduplicated by webhook-id), and the database passes `PRAGMA integrity_check`.
 *
 * A second run keeps 48 clients busy so that commits are shared (group commit) and every kill
 * lands while a shared transaction is in flight; the same checks hold.
 *
 * The negative control runs the same harness against a test-only server (faulty-serve.mjs) whose
 * store writes outbox rows in a second transaction after the order's commit, and requires the
 * checks to catch the lost deliveries. The production build has no fault switch.
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
import { describe, expect, it } from 'vitest';

const CLI = resolve(import.meta.dirname, '../../dist/cli.js');
/** `serve` on a store that writes the outbox outside the order transaction (the negative control's fault). */
const FAULTY_SERVE = resolve(import.meta.dirname, 'faulty-serve.mjs');
const TOKEN = 'crash-test-admin-token-0123456789';
const SECRET = 'whsec_Y3Jhc2gtdGVzdC13ZWJob29rLXNlY3JldC0wMQ==';
/** G1 asks for 60 s (20 kills); the default keeps this file under ~90 s. */
const KILLS = Number(process.env.ORDERFLOW_CRASH_KILLS ?? 16);
const CLIENTS = 16;
/** From one SIGKILL to the next (restart included): 3 s on average, as in G1. */
const KILL_EVERY_MS = [2_500, 3_500] as const;

const NEXT: Record<string, string> = { placed: 'a', a: 'b', b: 'c', c: 'a' };

interface Ack {
  orderId: string;
  version: number;
  to: string;
  deliveryIds: string[];
}

interface HarnessOptions {
  kills: number;
  killEveryMs: readonly [number, number];
  /** Extra server environment. */
  env?: Record<string, string>;
  /** Run the test-only faulty server (faulty-serve.mjs) instead of `orderflow serve`. */
  faulty?: boolean;
  /** Bound on the wait for the outbox to drain after the load. */
  drainTimeoutMs: number;
  /** Concurrent clients, one order each. @default CLIENTS */
  clients?: number;
  /** Counts the time between kills from the server being ready again, not from the last kill (slow starts). */
  fromReady?: boolean;
}

/** What one run saw; every list holds violations and is empty on a correct build. */
interface HarnessResult {
  kills: number;
  clients: number;
  /** Per server life (read just before its SIGKILL): most changes one commit carried, and changes per commit. */
  batchesBeforeKills: { largest: number; changesPerCommit: number }[];
  loadMs: number;
  drainMs: number;
  acks: number;
  transitions: number;
  deliveryRows: number;
  unknownOutcomes: number;
  conflicts: number;
  receivedIds: number;
  duplicateSends: number;
  integrity: string;
  /** Acknowledged transitions missing from the history, or there more than once or with another target. */
  lostOrDuplicatedAcks: string[];
  /** Orders whose history versions are not exactly 2..final. */
  versionGaps: string[];
  /** Committed transitions (`order@version`) with no deliveries row: the rule's webhook can never be sent. */
  transitionsWithoutDelivery: string[];
  /** …of which the client got a 200 for the transition. */
  acknowledgedWithoutDelivery: string[];
  /** …of which a client later read the order at that version (or a later one) from the API. */
  observedWithoutDelivery: string[];
  /** Committed transitions whose webhook (matched by the body's order id and version) never arrived. */
  transitionsNotReceived: string[];
  /** Delivery rows whose webhook-id never arrived. */
  deliveriesNotReceived: string[];
  /** Delivery ids returned in 200 responses whose webhook-id never arrived. */
  acknowledgedDeliveriesNotReceived: string[];
  /** Delivery ids returned in 200 responses that the database does not hold: an acknowledged change was lost. */
  acknowledgedDeliveriesMissing: string[];
  undelivered: number;
  badSignatures: number;
  unexpected: string[];
}

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Load + repeated SIGKILL + restart, then every G1 check on the closed database file. */
async function runCrashHarness(o: HarnessOptions): Promise<HarnessResult> {
  const dir = mkdtempSync(join(tmpdir(), 'orderflow-crash-'));
  let server: ChildProcess | null = null;
  let receiver: Server | null = null;
  try {
    // The receiver: counts every webhook-id, checks every signature, and notes which
    // transition (order id and version in the body) each webhook was about.
    const received = new Map<string, number>();
    const receivedTransitions = new Set<string>();
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
        try {
          const order = (JSON.parse(body) as { data?: { order?: { id?: string; version?: number } } }).data?.order;
          if (order?.id && order.version !== undefined) receivedTransitions.add(`${order.id}@${order.version}`);
        } catch {
          // counted through the webhook-id only
        }
        received.set(id, (received.get(id) ?? 0) + 1);
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => receiver?.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const dbFile = join(dir, 'orderflow.db');
    const env = {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      ORDERFLOW_DATABASE_URL: `sqlite:${dbFile}`,
      ORDERFLOW_DATA_DIR: dir,
      ORDERFLOW_ADMIN_TOKEN: TOKEN,
      ORDERFLOW_WEBHOOK_SECRET: SECRET,
      ORDERFLOW_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
      ORDERFLOW_RETRY_BASE: '1s',
      ORDERFLOW_DEMO: 'false',
      LOG_LEVEL: 'error',
      ...o.env,
    };
    let log = '';
    const start = async (): Promise<ChildProcess> => {
      const args = o.faulty ? [FAULTY_SERVE] : [CLI, 'serve'];
      const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout?.on('data', (d: Buffer) => {
        log = (log + d.toString()).slice(-4000);
      });
      child.stderr?.on('data', (d: Buffer) => {
        log = (log + d.toString()).slice(-4000);
      });
      // Generous: on a loaded machine a cold start of the CLI alone takes several seconds.
      const deadline = Date.now() + 40_000;
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
    if (wf.status >= 300) throw new Error(`workflow not created: ${wf.status} ${JSON.stringify(wf.body)}`);

    const clients = o.clients ?? CLIENTS;
    const orders: { id: string; state: string; version: number }[] = [];
    for (let i = 0; i < clients; i++) {
      const r = await call('POST', '/orders', { workflow: 'crash', data: { client: i } });
      if (r.status !== 201) throw new Error(`order not created: ${r.status} ${JSON.stringify(r.body)}`);
      const created = r.body?.order as { id: string; state: string; version: number };
      orders.push({ id: created.id, state: created.state, version: created.version });
    }

    const acks: Ack[] = [];
    /** The highest version each order was read at by a client after a cut or conflict. */
    const observed = new Map<string, number>();
    const unexpected: string[] = [];
    let unknownOutcomes = 0;
    let conflicts = 0;
    let stop = false;

    async function refresh(order: (typeof orders)[number]) {
      while (!stop) {
        try {
          const r = await call('GET', `/orders/${order.id}`);
          if (r.status === 200 && r.body) {
            order.state = String(r.body.state);
            order.version = Number(r.body.version);
            observed.set(order.id, Math.max(observed.get(order.id) ?? 0, order.version));
            return;
          }
        } catch {
          // the server is down; try again
        }
        await sleep(50);
      }
    }

    async function client(order: (typeof orders)[number]) {
      while (!stop) {
        const to = NEXT[order.state] as string;
        try {
          const r = await call('POST', `/orders/${order.id}/transitions`, { to, expectedVersion: order.version });
          if (r.status === 200 && r.body) {
            const after = r.body.order as { state: string; version: number };
            acks.push({
              orderId: order.id,
              version: after.version,
              to: after.state,
              deliveryIds: (r.body.deliveries as { id: string }[]).map((d) => d.id),
            });
            order.state = after.state;
            order.version = after.version;
          } else if (r.status === 409) {
            conflicts++;
            await refresh(order);
          } else if (r.status === 503) {
            await sleep(50);
            await refresh(order);
          } else {
            unexpected.push(`${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
            await refresh(order);
          }
        } catch {
          // Killed mid-request: the transition may or may not have committed.
          unknownOutcomes++;
          await sleep(50);
          await refresh(order);
        }
      }
    }

    /** The server's group-commit figures since it started (its metrics), or null when it does not answer. */
    const batching = async () => {
      try {
        const r = await fetch(`${base}/metrics`, { headers, signal: AbortSignal.timeout(1000) });
        const text = await r.text();
        const figure = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
        const commits = figure('orderflow_commit_transactions_total');
        return { largest: figure('orderflow_commit_largest_batch'), changesPerCommit: figure('orderflow_commit_changes_total') / commits };
      } catch {
        return null;
      }
    };
    const batchesBeforeKills: HarnessResult['batchesBeforeKills'] = [];

    const started = Date.now();
    const running = orders.map((order) => client(order));
    let kills = 0;
    let lastKill = started;
    while (kills < o.kills) {
      const [lo, hi] = o.killEveryMs;
      await sleep(Math.max(0, lastKill + lo + Math.random() * (hi - lo) - Date.now()));
      const seen = await batching();
      if (seen) batchesBeforeKills.push(seen);
      const exited = new Promise<void>((r) => server?.once('exit', () => r()));
      lastKill = Date.now();
      server?.kill('SIGKILL');
      await exited;
      kills++;
      server = await start();
      if (o.fromReady) lastKill = Date.now();
    }
    await sleep(1000);
    stop = true;
    await Promise.all(running);
    const loadMs = Date.now() - started;

    // Bounded wait for the outbox to drain: claims held by killed processes run out after 15 s.
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    const drainStarted = Date.now();
    let undelivered = -1;
    for (;;) {
      undelivered = (db.prepare("select count(*) as n from deliveries where status <> 'delivered'").get() as { n: number }).n;
      if (undelivered === 0 || Date.now() - drainStarted >= o.drainTimeoutMs) break;
      await sleep(200);
    }
    const drainMs = Date.now() - drainStarted;
    db.close();

    // Stop gracefully, then check everything on the closed file.
    const exited = new Promise<void>((r) => server?.once('exit', () => r()));
    server?.kill('SIGTERM');
    await exited;
    server = null;

    const check = new Database(dbFile);
    const integrity = String(check.pragma('integrity_check', { simple: true }));
    const history = check
      .prepare("select order_id as orderId, entry_json as json from history where type = 'transition' order by order_id, seq")
      .all() as { orderId: string; json: string }[];
    const deliveries = check.prepare('select id, order_id as orderId, envelope_json as envelope from deliveries').all() as {
      id: string;
      orderId: string;
      envelope: string;
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
    const lostOrDuplicatedAcks: string[] = [];
    for (const a of acks) {
      const matches = (byOrder.get(a.orderId) ?? []).filter((e) => e.version === a.version);
      if (matches.length !== 1 || matches[0]?.to !== a.to) {
        lostOrDuplicatedAcks.push(`${a.orderId}@${a.version}: ${JSON.stringify(matches)}`);
      }
    }
    // Versions are gap-free: one transition per version from 2 to the final one (nothing else changes these orders).
    const versionGaps: string[] = [];
    for (const [orderId, final] of finalVersions) {
      const versions = (byOrder.get(orderId) ?? []).map((e) => e.version);
      const expected = Array.from({ length: final - 1 }, (_, i) => i + 2);
      if (JSON.stringify(versions) !== JSON.stringify(expected)) versionGaps.push(`${orderId}: ${versions.join(',')} (final ${final})`);
    }
    // Every committed transition triggered the webhook rule: it must have its delivery row,
    // and that webhook must have reached the receiver at least once (duplicates are allowed).
    const deliveryFor = new Set(
      deliveries.map((d) => {
        const order = (JSON.parse(d.envelope) as { data: { order: { id: string; version: number } } }).data.order;
        return `${order.id}@${order.version}`;
      }),
    );
    const committed = [...byOrder].flatMap(([orderId, list]) =>
      list.map((e) => ({ orderId, version: e.version, key: `${orderId}@${e.version}` })),
    );
    const ackedKeys = new Set(acks.map((a) => `${a.orderId}@${a.version}`));
    const deliveryIds = new Set(deliveries.map((d) => d.id));
    const withoutDelivery = committed.filter((t) => !deliveryFor.has(t.key));
    const duplicateSends = [...received.values()].reduce((n, c) => n + (c - 1), 0);
    return {
      kills,
      clients,
      batchesBeforeKills,
      loadMs,
      drainMs,
      acks: acks.length,
      transitions: history.length,
      deliveryRows: deliveries.length,
      unknownOutcomes,
      conflicts,
      receivedIds: received.size,
      duplicateSends,
      integrity,
      lostOrDuplicatedAcks,
      versionGaps,
      transitionsWithoutDelivery: withoutDelivery.map((t) => t.key),
      acknowledgedWithoutDelivery: withoutDelivery.filter((t) => ackedKeys.has(t.key)).map((t) => t.key),
      observedWithoutDelivery: withoutDelivery.filter((t) => (observed.get(t.orderId) ?? 0) >= t.version).map((t) => t.key),
      transitionsNotReceived: committed.filter((t) => !receivedTransitions.has(t.key)).map((t) => t.key),
      deliveriesNotReceived: deliveries.filter((d) => !received.has(d.id)).map((d) => d.id),
      acknowledgedDeliveriesNotReceived: acks.flatMap((a) => a.deliveryIds.filter((id) => !received.has(id))),
      acknowledgedDeliveriesMissing: acks.flatMap((a) => a.deliveryIds.filter((id) => !deliveryIds.has(id))),
      undelivered,
      badSignatures,
      unexpected,
    };
  } finally {
    server?.kill('SIGKILL');
    receiver?.closeAllConnections();
    await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
    rmSync(dir, { recursive: true, force: true });
  }
}

function summary(r: HarnessResult): string {
  return (
    `${r.kills} SIGKILLs in ${(r.loadMs / 1000).toFixed(1)} s under ${r.clients} clients; ${r.acks} acknowledged transitions ` +
    `(${r.transitions} committed, ${r.unknownOutcomes} requests cut by a kill, ${r.conflicts} conflicts, ` +
    `${r.acknowledgedDeliveriesMissing.length} acknowledged deliveries missing from the database); ` +
    `${r.deliveryRows} delivery rows, ${r.receivedIds} distinct webhook-ids received (${r.duplicateSends} duplicate sends); ` +
    `${r.transitionsWithoutDelivery.length} committed transitions without a delivery row ` +
    `(${r.acknowledgedWithoutDelivery.length} acknowledged, ${r.observedWithoutDelivery.length} read back by a client), ` +
    `${r.transitionsNotReceived.length} whose webhook never arrived; ` +
    `outbox ${r.undelivered === 0 ? 'drained' : `not drained (${r.undelivered} left)`} ${(r.drainMs / 1000).toFixed(1)} s after the last restart; ` +
    `integrity_check ${r.integrity}; largest commit before each kill ${r.batchesBeforeKills.map((b) => `${b.largest} (${b.changesPerCommit.toFixed(2)}/commit)`).join(', ')}`
  );
}

describe('kill -9 under load (SQLite)', () => {
  it('loses no acknowledged transition, duplicates none, and delivers every committed webhook', { timeout: 150_000 }, async () => {
    expect(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first`).toBe(true);
    const r = await runCrashHarness({ kills: KILLS, killEveryMs: KILL_EVERY_MS, drainTimeoutMs: 30_000 });
    console.log(`crash test: ${summary(r)}`);
    expect(r.integrity).toBe('ok');
    expect(r.lostOrDuplicatedAcks).toEqual([]);
    expect(r.versionGaps).toEqual([]);
    expect(r.deliveryRows).toBe(r.transitions);
    expect(r.transitionsWithoutDelivery).toEqual([]);
    expect(r.undelivered).toBe(0);
    expect(r.deliveriesNotReceived).toEqual([]);
    expect(r.acknowledgedDeliveriesNotReceived).toEqual([]);
    expect(r.acknowledgedDeliveriesMissing).toEqual([]);
    expect(r.transitionsNotReceived).toEqual([]);
    expect(r.badSignatures).toBe(0);
    expect(r.unexpected).toEqual([]);
    expect(r.kills).toBeGreaterThanOrEqual(Math.min(KILLS, 10));
    expect(r.acks).toBeGreaterThan(100);
  });

  it('loses and repeats nothing when killed while shared commits carry many changes', { timeout: 300_000 }, async () => {
    expect(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first`).toBe(true);
    // 48 clients keep the commit queue full, so every SIGKILL lands while a shared transaction
    // with several changes is being written or waits for its flush.
    const r = await runCrashHarness({
      kills: Math.min(KILLS, 6),
      killEveryMs: KILL_EVERY_MS,
      drainTimeoutMs: 30_000,
      clients: 48,
      fromReady: true,
    });
    console.log(`group-commit crash test: ${summary(r)}`);
    // Commits were shared when the kills landed (the premise of this test).
    expect(Math.max(...r.batchesBeforeKills.map((b) => b.largest))).toBeGreaterThan(1);
    expect(r.batchesBeforeKills.filter((b) => b.changesPerCommit > 1).length).toBeGreaterThanOrEqual(Math.ceil(r.kills / 2));
    expect(r.integrity).toBe('ok');
    // No acknowledged change lost, none applied twice (one history entry per acknowledged version).
    expect(r.lostOrDuplicatedAcks).toEqual([]);
    expect(r.versionGaps).toEqual([]);
    // Every committed change has its outbox row, and every committed delivery arrived.
    expect(r.deliveryRows).toBe(r.transitions);
    expect(r.transitionsWithoutDelivery).toEqual([]);
    expect(r.undelivered).toBe(0);
    expect(r.deliveriesNotReceived).toEqual([]);
    expect(r.acknowledgedDeliveriesNotReceived).toEqual([]);
    expect(r.acknowledgedDeliveriesMissing).toEqual([]);
    expect(r.transitionsNotReceived).toEqual([]);
    expect(r.badSignatures).toBe(0);
    expect(r.unexpected).toEqual([]);
    expect(r.acks).toBeGreaterThan(50);
  });

  it('catches a build that writes the outbox outside the order transaction (negative control)', { timeout: 90_000 }, async () => {
    expect(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first`).toBe(true);
    // With the fault every transition's outbox rows land 40 ms after its commit, in a second
    // transaction; with 16 clients some are nearly always in that gap when the SIGKILL lands.
    // Lost rows are visible at once, so no drain wait; one retry if a run is (unluckily) clean.
    let r: HarnessResult | undefined;
    for (let run = 1; run <= 2 && !r?.transitionsWithoutDelivery.length; run++) {
      r = await runCrashHarness({
        kills: 6,
        killEveryMs: [2_000, 3_000],
        faulty: true,
        env: { FAULTY_SERVE_FAULT: 'outbox-after-commit' },
        drainTimeoutMs: 0,
      });
      console.log(`negative control, run ${run}: ${summary(r)}`);
    }
    if (!r) throw new Error('the harness did not run');
    // The harness's delivery checks fail on this build…
    expect(r.transitionsWithoutDelivery.length).toBeGreaterThan(0);
    expect(r.deliveryRows).toBeLessThan(r.transitions);
    // …because of the fault alone: transitions themselves stay all-or-nothing.
    expect(r.integrity).toBe('ok');
    expect(r.lostOrDuplicatedAcks).toEqual([]);
    expect(r.versionGaps).toEqual([]);
  });

  it('catches a build that answers a change before its shared commit (negative control)', { timeout: 120_000 }, async () => {
    expect(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first`).toBe(true);
    // With the fault each change is answered 150 ms before the COMMIT that carries it; with 16
    // clients a SIGKILL nearly always lands while some answered changes wait for it.
    let r: HarnessResult | undefined;
    for (let run = 1; run <= 2 && !r?.acknowledgedDeliveriesMissing.length; run++) {
      r = await runCrashHarness({
        kills: 6,
        killEveryMs: [2_000, 3_000],
        faulty: true,
        env: { FAULTY_SERVE_FAULT: 'answer-before-commit' },
        drainTimeoutMs: 0,
      });
      console.log(`negative control (answer before commit), run ${run}: ${summary(r)}`);
    }
    if (!r) throw new Error('the harness did not run');
    // The harness sees acknowledged changes that the database does not hold: their outbox rows
    // are missing. (The history alone can hide such a loss: a client that finds its order one
    // version back makes the same move again, and the history then shows that version.)
    expect(r.acknowledgedDeliveriesMissing.length).toBeGreaterThan(0);
    // …while the file itself stays consistent: the fault is in when the answer goes out.
    expect(r.integrity).toBe('ok');
  });
});
