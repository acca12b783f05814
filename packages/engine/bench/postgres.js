#!/usr/bin/env node
/**
 * Orderflow on PostgreSQL next to SQLite, measured in the same run: durable
 * transitions per second over HTTP (autocannon, 50 connections in all) and
 * webhook deliveries per second (every transition fires one signed webhook to a
 * local receiver), with 1 and with 2 `orderflow serve` processes sharing one
 * PostgreSQL database. Each process also runs its in-process worker. Each measurement
 * follows an unmeasured warm-up of 1 s on orders of its own, as the SQLite HTTP phase of run.js
 * does. The baseline
 * (rawPostgres) is the bare 3-statement transaction of one change (update order,
 * insert history, insert outbox row) on the same schema over the same number of
 * connections, with pg directly.
 *
 *   --processes=1                           skip the two-process measurement
 *
 * A last row measures one process without a worker (`serve --no-worker`): the transitions queue
 * their webhooks and nothing sends them, the work the raw baseline does.
 *
 *   npm run bench -- --db postgres          readable table on stdout
 *   npm run bench -- --db postgres --json   one JSON object (the last line)
 *   ORDERFLOW_BENCH_PG_URL=postgres://...   (default postgres://postgres@127.0.0.1:5432/test)
 *
 * Progress goes to stderr. Everything listens on 127.0.0.1. It asserts nothing.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { startReceiver } from './receiver.js';

const DIST = new URL('../dist/', import.meta.url);
const CLI = new URL('cli.js', DIST).pathname;
const { createSqliteStore } = await import('../dist/store/sqlite.js');
const { createPostgresStore, dropPostgresSchema } = await import('../dist/store/postgres.js');
const { insertWorkflow, publishVersion } = await import('../dist/store/workflows.js');

/**
 * The value of `--name=value` (`true` for a bare `--name`), or `fallback`.
 * @param {string} name
 * @param {string | number | boolean} fallback
 * @returns {string | number | boolean}
 */
const arg = (name, fallback) => {
  const a = process.argv.find((x) => x === `--${name}` || x.startsWith(`--${name}=`));
  if (a === undefined) return fallback;
  return a.includes('=') ? a.slice(a.indexOf('=') + 1) : true;
};
const PG_URL = process.env.ORDERFLOW_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SECONDS = Number(arg('duration', 4));
const CONNECTIONS = Number(arg('connections', 50));
const ORDERS = Number(arg('orders', 1500));
/** Orders and seconds of the unmeasured warm-up run. */
const WARM_ORDERS = 300;
const WARM_SECONDS = 1;
const JSON_OUT = arg('json', false) === true;
const TOKEN = `bench-pg-${randomBytes(12).toString('hex')}`;
/** @param {string} m */
const log = (m) => process.stderr.write(`[bench:pg] ${m}\n`);

let received = 0;
let lastReceivedAt = 0;
// The receiver runs on a thread of its own (receiver.js), not on the load generator's event loop.
const receiver = await startReceiver((n) => {
  received += n;
  // Within a turn of the receiver's loop of the last arrival.
  lastReceivedAt = performance.now();
});
const HOOK = receiver.url;

/** @type {import('@orderflow/core').Definition} */
const workflow = {
  key: 'bench',
  name: 'Bench',
  states: [
    { key: 'placed', name: 'Placed', group: 'new', initial: true },
    { key: 'a', name: 'A', group: 'processing' },
    { key: 'b', name: 'B', group: 'processing' },
    { key: 'dropped', name: 'Dropped', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
    { key: 'done', name: 'Done', group: 'completed' },
  ],
  transitions: [
    { from: 'placed', to: 'a' },
    { from: 'a', to: 'b' },
    { from: 'b', to: 'a' },
    { from: '*', to: 'dropped' },
    { from: 'b', to: 'done' },
  ],
  rules: [{ id: 'hook', trigger: 'state_changed', actions: [{ type: 'webhook', url: HOOK }] }],
};

/** @returns {Promise<number>} */
async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', () => r(undefined)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (s.address());
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * A fresh database of the dialect with the bench workflow published; returns its URL.
 * @param {'sqlite' | 'postgres'} dialect
 */
async function prepareDatabase(dialect) {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'orderflow-bench-'));
    const path = join(dir, 'bench.db');
    const store = createSqliteStore({ path });
    await seed(store);
    return { url: `sqlite:${path}`, dir, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const schema = `bench_${process.pid}_${Date.now().toString(36)}`;
  const store = createPostgresStore({ connectionString: PG_URL, schema });
  await seed(store);
  const dir = mkdtempSync(join(tmpdir(), 'orderflow-bench-'));
  return {
    url: `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    dir,
    cleanup: async () => {
      await dropPostgresSchema(PG_URL, schema);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** @param {import('../dist/store/store.js').Store} store */
async function seed(store) {
  await store.migrate();
  const now = new Date().toISOString();
  await store.transaction(async (tx) => {
    await insertWorkflow(tx, workflow.key, workflow.name, workflow, now);
    await publishVersion(tx, workflow.key, workflow, 'bench', now);
  });
  await store.close();
}

/**
 * @param {string} url
 * @param {string} dir
 * @param {boolean} worker run the in-process worker (else `serve --no-worker`)
 */
async function startServe(url, dir, worker) {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'serve', ...(worker ? [] : ['--no-worker'])], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      ORDERFLOW_DATABASE_URL: url,
      ORDERFLOW_DATA_DIR: dir,
      ORDERFLOW_ADMIN_TOKEN: TOKEN,
      ORDERFLOW_DEMO: 'false',
      ORDERFLOW_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
      ORDERFLOW_WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      ORDERFLOW_RATE_LIMIT: '0',
      LOG_LEVEL: 'silent',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) return { child, port };
    } catch {
      // starting
    }
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error('serve did not start');
}

const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

/**
 * @param {number} port
 * @param {number} n
 */
async function createOrders(port, n) {
  /** @type {string[]} */
  const ids = [];
  const batch = 25;
  for (let i = 0; i < n; i += batch) {
    const res = await Promise.all(
      Array.from({ length: Math.min(batch, n - i) }, () =>
        fetch(`http://127.0.0.1:${port}/api/v1/orders`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ workflow: 'bench', data: {} }),
        }).then((r) => /** @type {Promise<{ order: { id: string } }>} */ (r.json())),
      ),
    );
    for (const r of res) ids.push(r.order.id);
  }
  return ids;
}

/**
 * @param {number} expected
 * @param {number} timeoutMs
 */
async function waitDrained(expected, timeoutMs) {
  const until = performance.now() + timeoutMs;
  while (received < expected && performance.now() < until) await sleep(50);
}

/**
 * Moves `ids` between `a` and `b` over HTTP for `seconds`, `share` connections per server, each
 * order's next state known from the one before (so every order must start in `a`).
 * @param {{ port: number }[]} servers
 * @param {string[]} ids
 * @param {number} share
 * @param {number} seconds
 * @returns {Promise<import('autocannon').Result[]>}
 */
function load(servers, ids, share, seconds) {
  const next = new Map(ids.map((id) => [id, 'a']));
  let cursor = 0;
  return Promise.all(
    servers.map(
      (s) =>
        /** @type {Promise<import('autocannon').Result>} */ (
          new Promise((resolve, reject) => {
            autocannon(
              {
                url: `http://127.0.0.1:${s.port}`,
                connections: share,
                duration: seconds,
                requests: [
                  {
                    method: 'POST',
                    headers,
                    setupRequest: (req) => {
                      const id = /** @type {string} */ (ids[cursor++ % ids.length]);
                      const to = next.get(id);
                      next.set(id, to === 'a' ? 'b' : 'a');
                      return { ...req, path: `/api/v1/orders/${id}/transitions`, body: JSON.stringify({ to }) };
                    },
                  },
                ],
              },
              (err, res) => (err ? reject(err) : resolve(res)),
            );
          })
        ),
    ),
  );
}

/**
 * One measurement: `processes` serve processes on a fresh database of `dialect`, each with its
 * in-process worker, or (`worker` false) with none: then nothing sends the webhooks the
 * transitions queue, and only the transitions are measured, as the raw baseline only queues them.
 * @param {'sqlite' | 'postgres'} dialect
 * @param {number} processes
 * @param {boolean} [worker]
 */
async function measure(dialect, processes, worker = true) {
  log(`${dialect}, ${processes} API process(es)${worker ? '' : ' without a worker'}: preparing`);
  const db = await prepareDatabase(dialect);
  const servers = [];
  try {
    for (let i = 0; i < processes; i++) servers.push(await startServe(db.url, db.dir, worker));
    const port = /** @type {{ port: number }} */ (servers[0]).port;
    const ids = await createOrders(port, ORDERS);
    // Orders of their own for the warm-up: a request cut off when it ends leaves their state unknown.
    const warmIds = await createOrders(port, WARM_ORDERS);
    const share = Math.max(1, Math.floor(CONNECTIONS / processes));
    // Unmeasured first (connections opened, tokens looked up, code warmed by the JIT), as in run.js's HTTP phase.
    log(`${dialect}, ${processes} API process(es): warming up for ${WARM_SECONDS}s`);
    received = 0;
    const warm = await load(servers, warmIds, share, WARM_SECONDS);
    if (worker) {
      await waitDrained(
        warm.reduce((n, r) => n + r['2xx'], 0),
        60_000,
      );
    }
    // Requests cut off at the warm-up's end may still have committed: let their webhooks arrive too.
    await sleep(500);
    // Count the measured run's webhooks from zero.
    received = 0;
    log(`${dialect}, ${processes} API process(es): ${SECONDS}s of transitions, ${share} connections per process`);
    const t0 = performance.now();
    const results = await load(servers, ids, share, SECONDS);
    const elapsed = (performance.now() - t0) / 1000;
    const ok = results.reduce((n, r) => n + r['2xx'], 0);
    const non2xx = results.reduce((n, r) => n + r.non2xx + r.errors, 0);
    log(`${dialect}, ${processes}: ${ok} transitions${worker ? `; waiting for ${ok} webhooks` : ''}`);
    if (worker) await waitDrained(ok, 120_000);
    const deliverySeconds = (lastReceivedAt - t0) / 1000;
    const p50 = Math.max(...results.map((r) => r.latency.p50));
    const p99 = Math.max(...results.map((r) => r.latency.p99));
    return {
      dialect,
      processes,
      worker,
      transitionsPerSec: Math.round(ok / elapsed),
      deliveriesPerSec: worker ? Math.round(received / deliverySeconds) : null,
      deliveredAll: worker ? received >= ok : null,
      p50Ms: p50,
      p99Ms: p99,
      non2xx,
    };
  } finally {
    for (const s of servers) s.child.kill('SIGTERM');
    await sleep(300);
    for (const s of servers) s.child.kill('SIGKILL');
    await db.cleanup();
  }
}

/** Baseline: BEGIN; update order; insert history; insert outbox row; COMMIT, over CONNECTIONS pg connections. */
async function rawPostgres() {
  const { default: pg } = await import('pg');
  const schema = `bench_raw_${process.pid}_${Date.now().toString(36)}`;
  const store = createPostgresStore({ connectionString: PG_URL, schema });
  await store.migrate();
  await store.close();
  const pool = new pg.Pool({ connectionString: PG_URL, options: `-c search_path=${schema}`, max: CONNECTIONS });
  try {
    const data = JSON.stringify({ customer: { name: 'Customer', email: 'customer@example.com' }, total: 40 });
    const ids = Array.from({ length: ORDERS }, (_, i) => `ord_raw${String(i).padStart(8, '0')}`);
    const t = new Date().toISOString();
    for (let i = 0; i < ids.length; i += 500) {
      const slice = ids.slice(i, i + 500);
      await pool.query(
        `insert into orders (id, workflow, workflow_version, kind, external_ref, state, grp, data_json, facts_json, cancellation_json, links_json, version, visit, created_at, updated_at, state_entered_at)
         select id, 'bench', 1, 'order', null, 'a', 'processing', $2, '{}', null, '[]', 1, 1, $3, $3, $3 from unnest($1::text[]) as id`,
        [slice, data, t],
      );
    }
    const state = ids.map(() => ({ state: 'a', version: 1, seq: 0, busy: false }));
    /** @type {number[]} */
    const latencies = [];
    let cursor = 0;
    let n = 0;
    log(`raw PostgreSQL transaction: ${SECONDS}s over ${CONNECTIONS} connections`);
    const end = performance.now() + SECONDS * 1000;
    const lane = async () => {
      const client = await pool.connect();
      try {
        while (performance.now() < end) {
          const idx = cursor++ % ids.length;
          const s = /** @type {(typeof state)[number]} */ (state[idx]);
          if (s.busy) continue;
          s.busy = true;
          const to = s.state === 'a' ? 'b' : 'a';
          const at = new Date().toISOString();
          const k = ++n;
          const t0 = performance.now();
          await client.query('begin');
          await client.query({
            name: 'raw-update',
            text: 'update orders set state = $1, version = version + 1, visit = visit + 1, data_json = $2, updated_at = $3, state_entered_at = $3 where id = $4 and version = $5',
            values: [to, data, at, ids[idx], s.version],
          });
          await client.query({
            name: 'raw-history',
            text: "insert into history (order_id, seq, id, at, type, to_state, rule_id, actor_type, entry_json) values ($1, $2, $3, $4, 'transition', $5, null, 'api', $6)",
            values: [
              ids[idx],
              s.seq + 1,
              `hst_raw${k}`,
              at,
              to,
              JSON.stringify({ id: `hst_raw${k}`, at, type: 'transition', from: s.state, to }),
            ],
          });
          await client.query({
            name: 'raw-outbox',
            text: `insert into deliveries (id, order_id, workflow, type, rule_id, action_json, envelope_json, status, attempts, next_attempt_at, lease_until, lease_token, last_error, created_at, updated_at, delivered_at)
                   values ($1, $2, 'bench', 'webhook', 'hook', $3, $4, 'pending', 0, $5, null, null, null, $5, $5, null)`,
            values: [
              `dlv_raw${k}`,
              ids[idx],
              JSON.stringify({ type: 'webhook', url: HOOK }),
              JSON.stringify({
                id: `evt_raw${k}`,
                type: 'order.state_changed',
                createdAt: at,
                data: { order: { id: ids[idx], state: to } },
              }),
              at,
            ],
          });
          await client.query('commit');
          latencies.push(performance.now() - t0);
          s.state = to;
          s.version++;
          s.seq++;
          s.busy = false;
        }
      } finally {
        client.release();
      }
    };
    await Promise.all(Array.from({ length: CONNECTIONS }, lane));
    const sorted = Float64Array.from(latencies).sort();
    /** @param {number} p */
    const pick = (p) => Math.round((sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0) * 1000) / 1000;
    return { connections: CONNECTIONS, transactionsPerSec: Math.round(latencies.length / SECONDS), p50Ms: pick(50), p99Ms: pick(99) };
  } finally {
    await pool.end();
    await dropPostgresSchema(PG_URL, schema);
  }
}

const PROCESSES = Number(arg('processes', 2));
const rawPg = await rawPostgres();
log(`raw PostgreSQL: ${rawPg.transactionsPerSec} tx/s`);
const rows = [];
rows.push(await measure('sqlite', 1));
rows.push(await measure('postgres', 1));
if (PROCESSES >= 2) rows.push(await measure('postgres', 2));
rows.push(await measure('postgres', 1, false));
await receiver.close();

const base = /** @type {(typeof rows)[number]} */ (rows[0]);
const out = {
  connections: CONNECTIONS,
  seconds: SECONDS,
  orders: ORDERS,
  rawPostgres: rawPg,
  rows: rows.map((r) => ({
    ...r,
    transitionsVsSqlite: Math.round((r.transitionsPerSec / base.transitionsPerSec) * 100) / 100,
    deliveriesVsSqlite:
      r.deliveriesPerSec === null || base.deliveriesPerSec === null
        ? null
        : Math.round((r.deliveriesPerSec / base.deliveriesPerSec) * 100) / 100,
    ...(r.dialect === 'postgres'
      ? { transitionsVsRawPostgres: Math.round((r.transitionsPerSec / rawPg.transactionsPerSec) * 100) / 100 }
      : {}),
  })),
};
if (JSON_OUT) {
  console.log(JSON.stringify(out));
} else {
  console.log(`\nOrderflow on SQLite and PostgreSQL (${CONNECTIONS} connections, ${SECONDS}s per phase, one webhook per transition)\n`);
  console.log('store      API procs  worker  transitions/s  deliveries/s   p50 ms  p99 ms  ×SQLite (tr/dl)  non-2xx');
  for (const r of out.rows) {
    console.log(
      `${r.dialect.padEnd(10)} ${String(r.processes).padStart(9)}  ${(r.worker ? 'yes' : 'no').padStart(6)}  ${String(r.transitionsPerSec).padStart(13)}  ${String(r.deliveriesPerSec ?? '-').padStart(12)}  ${String(r.p50Ms).padStart(7)} ${String(r.p99Ms).padStart(7)}  ${`${r.transitionsVsSqlite} / ${r.deliveriesVsSqlite}`.padStart(15)}  ${String(r.non2xx).padStart(7)}`,
    );
  }
  console.log(
    `\nraw PostgreSQL 3-statement transaction over ${CONNECTIONS} connections: ${rawPg.transactionsPerSec} tx/s (p50 ${rawPg.p50Ms} ms, p99 ${rawPg.p99Ms} ms); Orderflow on PostgreSQL over HTTP: ${out.rows
      .filter((r) => r.dialect === 'postgres')
      .map((r) => `${r.transitionsVsRawPostgres}× with ${r.processes} process(es)${r.worker ? '' : ' without a worker'}`)
      .join(', ')}`,
  );
  console.log(
    '\nEach API process also runs a worker, except in the row without one (serve --no-worker: the webhooks stay queued, as the raw baseline only queues them); deliveries/s counts signed webhooks received from the first transition to the last delivery.',
  );
}
process.exit(0);
