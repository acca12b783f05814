#!/usr/bin/env node
/**
 * Orderflow benchmark: durable transitions per second of the demo workflow,
 * in-process (runtime.applyCommand) and over HTTP (autocannon), with p50/p99
 * latency, next to two baselines measured in the same run on the same file
 * system: the raw SQL transaction the runtime must at least perform (measured in
 * alternating turns with the in-process phase, so that both see the same disk)
 * (better-sqlite3, BEGIN IMMEDIATE; update order; insert history; insert outbox;
 * COMMIT; synchronous=FULL) and a bare Fastify POST. Also: 50 concurrent callers
 * in-process (inProcessConcurrent), the event-loop delay p99 of the server during
 * the HTTP phase (perf_hooks.monitorEventLoopDelay at its 10 ms resolution: a reading is
 * the time between two ticks of that timer, so an idle loop reads ~10 ms; the same server's
 * idle p99 is reported next to it), and the outbox drain (webhooks to a local receiver: deliveries/s
 * of a backlog, and commit-to-send p50/p99 while changes keep coming).
 *
 *   npm run bench                 readable table on stdout
 *   npm run bench -- --json       one JSON object (the last line of stdout)
 *   node packages/engine/bench/run.js --duration=5 --connections=50 --orders=500
 *   npm run bench -- --phases=rawSql,inProcess   only these phases (the others report `skipped: true`, their ratios null)
 *   npm run bench -- --deliveries=10000 --warm-deliveries=5000   the drain's measured and warm-up backlogs (the defaults)
 *   npm run bench -- --slices=10  the raw baseline and Orderflow in-process run in this many alternating turns
 *
 * Progress goes to stderr. Everything listens on 127.0.0.1 only. It asserts
 * nothing about time: it is a measurement, not a test.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startReceiver } from './receiver.js';

const HERE = fileURLToPath(import.meta.url);
// The server children inherit the parent's token through the environment.
const ADMIN_TOKEN = process.env.ORDERFLOW_BENCH_TOKEN ?? `bench-admin-${randomBytes(12).toString('hex')}`;

/**
 * @typedef {import('../dist/runtime/runtime.js').Runtime} Runtime
 * @typedef {import('node:child_process').ChildProcess} ChildProcess
 */

/**
 * Latencies summarised over a phase: changes (or requests) per second and p50/p99 in ms.
 * @typedef {{ opsPerSec: number, p50Ms: number, p99Ms: number, count: number }} Summary
 */
/**
 * Raw SQL baseline: the summary and the connection's `PRAGMA synchronous` (2 = FULL).
 * @typedef {Summary & { synchronous: unknown }} RawSqlResult
 */
/**
 * Orderflow in-process: the summary, the moves that failed and the store's `PRAGMA synchronous`.
 * @typedef {Summary & { failed: number, synchronous: unknown }} InProcessResult
 */
/**
 * A result measured in `slices` alternating turns (see rawSqlAndInProcess).
 * @typedef {{ slices: number }} Turns
 */
/**
 * Orderflow in-process with concurrent callers.
 * @typedef {Summary & { callers: number, failed: number }} ConcurrentResult
 */
/**
 * An autocannon run, summarised.
 * @typedef {Summary & { non2xx: number, errors: number, timeouts: number }} HttpSummary
 */
/**
 * What the Orderflow server child measured of itself (see serveOrderflow); null when no change
 * was committed since the reset.
 * @typedef {object} LoopDelay
 * @property {number} p99Ms
 * @property {number} maxMs
 * @property {number} idleP99Ms
 * @property {number | null} changesPerCommit
 * @property {number | null} cpuUsPerChange
 */
/**
 * Orderflow over HTTP: the autocannon summary and the server's event-loop delay and cost per change.
 * @typedef {object} HttpExtra
 * @property {number} eventLoopDelayP99Ms
 * @property {number} eventLoopDelayMaxMs
 * @property {number} eventLoopDelayIdleP99Ms
 * @property {number | null} changesPerCommit
 * @property {number | null} serverCpuUsPerChange
 * @typedef {HttpSummary & HttpExtra} HttpResult
 */
/**
 * The outbox drain (see drain).
 * @typedef {object} DrainResult
 * @property {number} deliveries
 * @property {number} deliveriesPerSec
 * @property {number | null} warmUpDeliveriesPerSec
 * @property {number} backlogCommits
 * @property {number} commitToSendP50Ms
 * @property {number} commitToSendP99Ms
 * @property {number} liveDeliveries
 * @property {boolean} allArrived
 */
/**
 * What a phase left out by --phases reports instead of its T: `skipped`, 0 in its rate field
 * (Rate), and none of T's other fields (which the table then prints as undefined).
 * @template T
 * @template {keyof T} Rate
 * @typedef {{ skipped: true } & Pick<T, Rate> & { [K in Exclude<keyof T, Rate>]?: undefined }} Skipped
 */
/**
 * A phase measured in turns (see rawSqlAndInProcess).
 * @template R
 * @typedef {object} Runner
 * @property {(ms: number) => Promise<void>} run Moves orders for `ms` and keeps the latencies.
 * @property {(seconds: number) => R} result Summarises everything run so far over `seconds`.
 * @property {() => Promise<void>} close Removes the files.
 */
/**
 * What a server child sends once it listens: its address and, for Orderflow, the ids of its orders.
 * @typedef {{ address: string }} BareReady
 * @typedef {{ address: string, ids: string[] }} OrderflowReady
 */
/**
 * The server child's answers to the parent's messages, by the key they carry.
 * @typedef {{ loopDelay: LoopDelay }} ServerAnswers
 */

/**
 * The value of `--name=value` (`true` for a bare `--name`), or `fallback`.
 * @template {string | number | boolean | null} F
 * @param {string} name
 * @param {F} fallback
 * @returns {string | true | F}
 */
function arg(name, fallback) {
  const hit = process.argv.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (hit === undefined) return fallback;
  return hit.includes('=') ? hit.slice(hit.indexOf('=') + 1) : true;
}

/** @param {string} msg */
const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);

/**
 * The Orderflow configuration of a benchmark instance: demo workflows, silent, loopback, port chosen by the OS.
 * @param {string} dir
 */
async function benchConfig(dir) {
  const { loadConfig } = await import('../dist/config.js');
  return loadConfig(
    {
      ORDERFLOW_DATABASE_URL: `sqlite:${join(dir, 'orderflow.db')}`,
      ORDERFLOW_DATA_DIR: dir,
      ORDERFLOW_ADMIN_TOKEN: ADMIN_TOKEN,
      ORDERFLOW_DEMO: 'true',
      LOG_LEVEL: 'silent',
      HOST: '127.0.0.1',
      PORT: '0',
    },
    dir,
  );
}

/** @type {import('@orderflow/core').Caller} */
const CALLER = { actor: { type: 'system', id: 'bench' }, roles: ['admin'] };

/**
 * Creates `n` demo orders and moves each to `shipping`, through the runtime like any other change.
 * @param {Runtime} runtime
 * @param {number} n
 */
async function prepareOrders(runtime, n) {
  /** @type {string[]} */
  const ids = [];
  for (let i = 0; i < n; i++) {
    const created = await runtime.applyCommand({
      command: {
        type: 'create',
        workflow: 'orders',
        workflowVersion: 0,
        data: {
          customer: { name: `Customer ${i}`, email: `customer${i}@example.com` },
          items: [{ sku: `SKU-${i}`, name: 'Desk lamp', qty: 1 }],
          total: 40,
          currency: 'EUR',
          deliveryEstimate: '2030-01-01',
        },
        caller: CALLER,
      },
    });
    const id = created.body.order.id;
    for (const to of ['awaiting_payment', 'packing', 'shipping']) {
      await runtime.applyCommand({ orderId: id, command: { type: 'transition', to, caller: CALLER } });
    }
    ids.push(id);
  }
  return ids;
}

/**
 * Moves order `idx` between shipping and delayed, keeping the latency of a success; false when it failed.
 * @param {Runtime} runtime
 * @param {string[]} ids
 * @param {string[]} state the state of each order, by index in `ids`
 * @param {number} idx an index in `ids`
 * @param {number[]} latencies
 */
async function timedMove(runtime, ids, state, idx, latencies) {
  const to = state[idx] === 'shipping' ? 'delayed' : 'shipping';
  const t0 = performance.now();
  try {
    await runtime.applyCommand({ orderId: /** @type {string} */ (ids[idx]), command: { type: 'transition', to, caller: CALLER } });
    latencies.push(performance.now() - t0);
    state[idx] = to;
    return true;
  } catch {
    return false;
  }
}

/**
 * @param {Float64Array} sorted ascending
 * @param {number} p
 */
function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return /** @type {number} */ (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]);
}

/**
 * @param {number[]} latenciesMs
 * @param {number} seconds
 * @returns {Summary}
 */
function summarize(latenciesMs, seconds) {
  const sorted = Float64Array.from(latenciesMs).sort();
  return {
    opsPerSec: Math.round(sorted.length / seconds),
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    count: sorted.length,
  };
}

/**
 * @param {number} x
 * @param {number} [digits]
 */
const round = (x, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

// ---------- child processes: the servers autocannon loads ----------

/**
 * Sends `msg` to the parent run.js over the IPC channel `fork` opened.
 * @param {BareReady | OrderflowReady | ServerAnswers} msg
 */
function toParent(msg) {
  if (!process.send) throw new Error('run.js --serve runs as a child of run.js, with an IPC channel');
  process.send(msg);
}

/**
 * @param {string | undefined} dir
 * @param {number} orders
 */
async function serveOrderflow(dir, orders) {
  if (dir === undefined) throw new Error('run.js --serve orderflow <dir> <orders>');
  const { createOrderflow } = await import('../dist/server.js');
  const { groupCommitStats } = await import('../dist/store/group-commit.js');
  const of = await createOrderflow(await benchConfig(dir), { startWorker: false });
  const ids = await prepareOrders(of.runtime, orders);
  const address = await of.listen();
  let commitsAtReset = { ...groupCommitStats };
  let cpuAtReset = process.cpuUsage();
  // The same histogram over one idle second first: what the machine itself adds (other processes,
  // the checkpoint thread). Its values are the time between ticks of a 10 ms timer, so an idle
  // loop reads about 10 ms; what a stall adds is the reading minus 10.
  const idle = monitorEventLoopDelay({ resolution: 10 });
  idle.enable();
  await sleep(1000);
  idle.disable();
  const idleP99Ms = round(idle.percentile(99) / 1e6, 1);
  // The parent resets the histogram after the warm-up and reads it after the measured run.
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  process.on('message', (msg) => {
    if (msg === 'loop-delay-reset') {
      delay.reset();
      commitsAtReset = { ...groupCommitStats };
      cpuAtReset = process.cpuUsage();
    }
    if (msg === 'loop-delay-reset' || msg === 'loop-delay-read') {
      const batches = groupCommitStats.batches - commitsAtReset.batches;
      const changesPerCommit = batches > 0 ? round((groupCommitStats.changes - commitsAtReset.changes) / batches, 1) : null;
      const cpu = process.cpuUsage(cpuAtReset);
      const changes = groupCommitStats.changes - commitsAtReset.changes;
      // CPU time of the server process per committed change: what bounds the rate once flushes are shared.
      const cpuUsPerChange = changes > 0 ? Math.round((cpu.user + cpu.system) / changes) : null;
      toParent({
        loopDelay: {
          p99Ms: round(delay.percentile(99) / 1e6, 1),
          maxMs: round(delay.max / 1e6, 1),
          idleP99Ms,
          changesPerCommit,
          cpuUsPerChange,
        },
      });
    }
  });
  toParent({ address, ids });
  process.on('disconnect', () => void of.close().finally(() => process.exit(0)));
}

async function serveBare() {
  const { default: Fastify } = await import('fastify');
  const app = Fastify({ logger: false });
  app.post(
    '/transitions',
    /** @param {import('fastify').FastifyRequest<{ Body: { to?: unknown } | undefined }>} req */
    async (req) => ({ ok: true, to: req.body?.to ?? null }),
  );
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  toParent({ address });
  process.on('disconnect', () => void app.close().finally(() => process.exit(0)));
}

/**
 * Starts `run.js --serve <kind>` as a child so the load generator and the server do not share an event loop.
 * @overload
 * @param {'orderflow'} kind
 * @param {string} dir
 * @param {number} orders
 * @returns {Promise<OrderflowReady & { child: ChildProcess }>}
 */
/**
 * The bare server takes neither `dir` nor `orders` (its arguments read "undefined").
 * @overload
 * @param {'bare'} kind
 * @returns {Promise<BareReady & { child: ChildProcess }>}
 */
/**
 * @param {'orderflow' | 'bare'} kind
 * @param {string} [dir]
 * @param {number} [orders]
 * @returns {Promise<(BareReady | OrderflowReady) & { child: ChildProcess }>}
 */
function startServer(kind, dir, orders) {
  return new Promise((resolve, reject) => {
    const child = fork(HERE, ['--serve', kind, String(dir), String(orders)], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: { ...process.env, ORDERFLOW_BENCH_TOKEN: ADMIN_TOKEN },
    });
    // The child's first message, sent by serveOrderflow or serveBare.
    child.once('message', (msg) => resolve({ child, .../** @type {BareReady | OrderflowReady} */ (msg) }));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the ${kind} server exited with code ${code}`)));
  });
}

/**
 * @param {ChildProcess} child
 * @returns {Promise<void>}
 */
function stopServer(child) {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', () => resolve());
    child.disconnect();
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

/**
 * @param {import('autocannon').Options} opts
 * @returns {Promise<import('autocannon').Result>}
 */
async function autocannon(opts) {
  const { default: run } = await import('autocannon');
  return new Promise((resolve, reject) => {
    run(opts, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

/**
 * Runs autocannon once unmeasured (connections opened, tokens looked up, code warmed by the JIT), then
 * measured. Requests cut off at the end of the warm-up never answer; the order pool simply skips them.
 */
/**
 * @param {import('autocannon').Options} opts
 * @param {() => Promise<unknown>} [beforeMeasuring]
 */
async function autocannonWarm(opts, beforeMeasuring = async () => undefined) {
  await autocannon({ ...opts, duration: Math.min(1, opts.duration / 2) });
  await beforeMeasuring();
  return autocannon(opts);
}

/**
 * Sends `msg` to a server child and waits for its answer carrying `key`.
 * @template {keyof ServerAnswers} K
 * @param {ChildProcess} child
 * @param {string} msg
 * @param {K} key
 * @returns {Promise<ServerAnswers[K]>}
 */
function ask(child, msg, key) {
  return new Promise((resolve) => {
    /** @param {import('node:child_process').Serializable} answer */
    const on = (answer) => {
      if (answer && typeof answer === 'object' && key in answer) {
        child.off('message', on);
        // An answer carrying `key` is the one serveOrderflow sends for it.
        resolve(/** @type {ServerAnswers} */ (answer)[key]);
      }
    };
    child.on('message', on);
    child.send(msg);
  });
}

/**
 * @param {import('autocannon').Result} result
 * @returns {HttpSummary}
 */
function httpSummary(result) {
  return {
    opsPerSec: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    count: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

// ---------- phases ----------

/**
 * Baseline 1: the bare SQL transaction on the same schema and file system, synchronous=FULL.
 * Answers a runner: `run(ms)` moves orders for that long and keeps the latencies; `result()`
 * summarises everything run so far over `seconds`; `close()` removes the files.
 * @param {number} orders
 * @returns {Promise<Runner<RawSqlResult>>}
 */
async function rawSqlRunner(orders) {
  const dir = mkdtempSync(join(tmpdir(), 'orderflow-bench-raw-'));
  // Same schema as the engine: migrate a fresh file, then write to it with better-sqlite3 directly.
  const { createSqliteStore } = await import('../dist/store/sqlite.js');
  const file = join(dir, 'raw.db');
  const store = createSqliteStore({ path: file });
  await store.migrate();
  await store.close();
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  const synchronous = db.pragma('synchronous', { simple: true });
  const now = () => new Date().toISOString();
  const insertOrder = db.prepare(
    `insert into orders (id, workflow, workflow_version, kind, external_ref, state, grp, data_json, facts_json, cancellation_json, links_json, version, visit, created_at, updated_at, state_entered_at)
     values (?, 'orders', 1, 'order', null, 'shipping', 'processing', ?, '{}', null, '[]', 1, 1, ?, ?, ?)`,
  );
  const data = JSON.stringify({
    customer: { name: 'Customer', email: 'customer@example.com' },
    items: [{ sku: 'SKU-1', name: 'Desk lamp', qty: 1 }],
    total: 40,
    currency: 'EUR',
    deliveryEstimate: '2030-01-01',
  });
  /** @type {string[]} */
  const ids = [];
  db.transaction(() => {
    for (let i = 0; i < orders; i++) {
      const id = `ord_raw${String(i).padStart(8, '0')}`;
      const t = now();
      insertOrder.run(id, data, t, t, t);
      ids.push(id);
    }
  }).immediate();
  const update = db.prepare(
    'update orders set state = ?, version = version + 1, visit = visit + 1, data_json = ?, updated_at = ?, state_entered_at = ? where id = ? and version = ?',
  );
  const history = db.prepare(
    'insert into history (order_id, seq, id, at, type, to_state, rule_id, actor_type, entry_json) values (?, ?, ?, ?, ?, ?, null, ?, ?)',
  );
  const outbox = db.prepare(
    `insert into deliveries (id, order_id, workflow, type, rule_id, action_json, envelope_json, status, attempts, next_attempt_at, lease_until, lease_token, last_error, created_at, updated_at, delivered_at)
     values (?, ?, 'orders', 'webhook', 'delay-apology', ?, ?, 'pending', 0, ?, null, null, null, ?, ?, null)`,
  );
  const begin = db.prepare('begin immediate');
  const commit = db.prepare('commit');
  const state = ids.map(() => ({ state: 'shipping', version: 1, seq: 0 }));
  /** @type {number[]} */
  const latencies = [];
  let i = 0;
  let n = 0;
  return {
    async run(ms) {
      const end = performance.now() + ms;
      while (performance.now() < end) {
        const idx = i++ % ids.length;
        const id = ids[idx];
        const s = /** @type {(typeof state)[number]} */ (state[idx]);
        const to = s.state === 'shipping' ? 'delayed' : 'shipping';
        const at = now();
        n++;
        const entry = JSON.stringify({ id: `hst_raw${n}`, at, type: 'transition', from: s.state, to, actor: CALLER.actor });
        const envelope = JSON.stringify({
          id: `evt_raw${n}`,
          type: 'order.state_changed',
          createdAt: at,
          data: { order: { id, state: to, data: JSON.parse(data) }, from: s.state, to },
        });
        const t0 = performance.now();
        begin.run();
        update.run(to, data, at, at, id, s.version);
        history.run(id, s.seq + 1, `hst_raw${n}`, at, 'transition', to, 'system', entry);
        outbox.run(`dlv_raw${n}`, id, JSON.stringify({ type: 'webhook', url: 'https://api.example.com/notify' }), envelope, at, at, at);
        commit.run();
        latencies.push(performance.now() - t0);
        s.state = to;
        s.version++;
        s.seq++;
      }
    },
    result: (seconds) => ({ ...summarize(latencies, seconds), synchronous }),
    async close() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Orderflow in-process: runtime.applyCommand, one change at a time, shipping ↔ delayed on many orders (a runner, as above).
 * @param {number} orders
 * @returns {Promise<Runner<InProcessResult>>}
 */
async function inProcessRunner(orders) {
  const dir = mkdtempSync(join(tmpdir(), 'orderflow-bench-runtime-'));
  const { createOrderflow } = await import('../dist/server.js');
  const { sqlitePragma } = await import('../dist/store/sqlite.js');
  const of = await createOrderflow(await benchConfig(dir), { startWorker: false });
  const synchronous = await sqlitePragma(of.store, 'synchronous');
  log(`  preparing ${orders} orders in shipping`);
  const ids = await prepareOrders(of.runtime, orders);
  const state = ids.map(() => 'shipping');
  /** @type {number[]} */
  const latencies = [];
  let failed = 0;
  let i = 0;
  return {
    async run(ms) {
      const end = performance.now() + ms;
      for (; performance.now() < end; i++) {
        if (!(await timedMove(of.runtime, ids, state, i % ids.length, latencies))) failed++;
      }
    },
    result: (seconds) => ({ ...summarize(latencies, seconds), failed, synchronous }),
    async close() {
      await of.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The raw baseline and Orderflow in-process, measured in turns: `slices` alternating stretches of
 * seconds / slices each, on the same file system. A disk whose flushes speed up or slow down
 * during the run (they do, on shared machines, by ±40% within minutes) then weighs on both
 * alike, and their ratio compares the two under the same conditions. Either may be left out.
 * @param {number} seconds
 * @param {number} orders
 * @param {number} slices
 * @param {{ raw: boolean, inProcess: boolean }} want
 * @returns {Promise<{ raw: (RawSqlResult & Turns) | null, runtime: (InProcessResult & Turns) | null }>}
 */
async function rawSqlAndInProcess(seconds, orders, slices, want) {
  const raw = want.raw ? await rawSqlRunner(orders) : null;
  /** @type {Runner<InProcessResult> | null} */
  let runtime = null;
  try {
    runtime = want.inProcess ? await inProcessRunner(orders) : null;
    log(`  running ${seconds} s each, in ${slices} alternating turns`);
    const ms = (seconds * 1000) / slices;
    for (let k = 0; k < slices; k++) {
      await raw?.run(ms);
      await runtime?.run(ms);
    }
    return {
      raw: raw ? { ...raw.result(seconds), slices } : null,
      runtime: runtime ? { ...runtime.result(seconds), slices } : null,
    };
  } finally {
    await raw?.close();
    await runtime?.close();
  }
}

/**
 * Orderflow in-process with `callers` concurrent callers, each moving its own share of the orders.
 * @param {number} seconds
 * @param {number} orders
 * @param {number} callers
 * @returns {Promise<ConcurrentResult>}
 */
async function inProcessConcurrent(seconds, orders, callers) {
  const dir = mkdtempSync(join(tmpdir(), 'orderflow-bench-concurrent-'));
  try {
    const { createOrderflow } = await import('../dist/server.js');
    const of = await createOrderflow(await benchConfig(dir), { startWorker: false });
    log(`  preparing ${orders} orders in shipping`);
    const ids = await prepareOrders(of.runtime, orders);
    const state = ids.map(() => 'shipping');
    /** @type {number[]} */
    const latencies = [];
    let failed = 0;
    log(`  running ${seconds} s with ${callers} callers`);
    const end = performance.now() + seconds * 1000;
    /** @param {number} c */
    const caller = async (c) => {
      // Caller c owns orders c, c + callers, c + 2·callers, ...: never two changes of one order at once.
      for (let idx = c; performance.now() < end; idx = idx + callers < ids.length ? idx + callers : c) {
        if (!(await timedMove(of.runtime, ids, state, idx, latencies))) failed++;
      }
    };
    await Promise.all(Array.from({ length: callers }, (_, c) => caller(c)));
    await of.close();
    return { ...summarize(latencies, seconds), callers, failed };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A workflow whose every move between `a` and `b` sends one webhook to `url`.
 * @param {string} url
 * @returns {import('@orderflow/core').Definition}
 */
const drainWorkflow = (url) => ({
  key: 'drain',
  name: 'Drain',
  states: [
    { key: 'a', name: 'A', group: 'new', initial: true },
    { key: 'b', name: 'B', group: 'processing' },
    { key: 'done', name: 'Done', group: 'completed' },
    { key: 'dropped', name: 'Dropped', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
  ],
  transitions: [
    { from: 'a', to: 'b' },
    { from: 'b', to: 'a' },
    { from: 'b', to: 'done' },
    { from: '*', to: 'dropped' },
  ],
  rules: [{ id: 'hook', trigger: 'state_changed', conditions: { new_state: 'b' }, actions: [{ type: 'webhook', url }] }],
});

/**
 * The outbox drain: (1) a backlog of `backlog` webhook deliveries committed while the worker is
 * stopped, then sent to a local receiver (deliveries/s); (2) for `seconds`, `callers` concurrent
 * in-process callers keep committing changes that each queue a webhook while the worker runs:
 * commit-to-send is the receiver's clock minus the event's `createdAt` (ms resolution). Before
 * (1), a warm-up backlog of `warm` deliveries is drained unmeasured (connections opened, code
 * warmed by the JIT), as autocannon's warm-up does for the HTTP phase; its rate is reported as
 * `warmUpDeliveriesPerSec`. The defaults (5,000 warm-up, 10,000 measured) make the measured drain
 * last about as long as the HTTP phase, at the rate a warm worker keeps: the worker's code is
 * optimised by the JIT only after some thousands of deliveries, and a backlog of 2,000 measured
 * mostly that warming (about 0.6 × the rate of a backlog of 10,000 on the reference machine).
 * The receiver runs on its own thread (receiver.js): on the worker's event loop it took about a
 * fifth of that loop's time and held back the worker it measured.
 * @param {number} seconds
 * @param {number} backlog
 * @param {number} callers
 * @param {number} warm
 * @returns {Promise<DrainResult>}
 */
async function drain(seconds, backlog, callers, warm) {
  const dir = mkdtempSync(join(tmpdir(), 'orderflow-bench-drain-'));
  let received = 0;
  /** @type {number[]} */
  const lags = [];
  /** @type {{ n: number, resolve: (arrived: boolean) => void } | null} */
  let waiter = null;
  // The receiver runs on a thread of its own (see receiver.js), not on the worker's event loop.
  const receiver = await startReceiver((n, measured) => {
    received += n;
    for (const lag of measured) lags.push(lag);
    if (waiter && received >= waiter.n) waiter.resolve(true);
  });
  const url = receiver.url;
  /**
   * Settles with true once `n` deliveries have arrived in all, or with false after `timeoutMs`.
   * @param {number} n
   * @param {number} timeoutMs
   * @returns {Promise<boolean>}
   */
  const arrived = (n, timeoutMs) =>
    new Promise((resolve) => {
      if (received >= n) return resolve(true);
      const timer = setTimeout(() => resolve(false), timeoutMs);
      waiter = {
        n,
        resolve: (v) => {
          clearTimeout(timer);
          waiter = null;
          resolve(v);
        },
      };
    });
  try {
    const { loadConfig } = await import('../dist/config.js');
    const { createOrderflow } = await import('../dist/server.js');
    const { createWorkflowService } = await import('../dist/workflows.js');
    const { groupCommitStats } = await import('../dist/store/group-commit.js');
    const config = loadConfig(
      {
        ORDERFLOW_DATABASE_URL: `sqlite:${join(dir, 'orderflow.db')}`,
        ORDERFLOW_DATA_DIR: dir,
        ORDERFLOW_ADMIN_TOKEN: ADMIN_TOKEN,
        ORDERFLOW_DEMO: 'false',
        ORDERFLOW_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
        ORDERFLOW_WEBHOOK_SECRET: 'whsec_YmVuY2gtd2ViaG9vay1zZWNyZXQtMDEyMzQ1Njc4OQ==',
        LOG_LEVEL: 'silent',
      },
      dir,
    );
    const of = await createOrderflow(config, { startWorker: false });
    await createWorkflowService(of.store, () => new Date().toISOString()).create(drainWorkflow(url), true, 'bench');
    /** @type {string[]} */
    const ids = [];
    for (let i = 0; i < Math.max(callers, 200); i++) {
      const created = await of.runtime.applyCommand({
        command: { type: 'create', workflow: 'drain', workflowVersion: 0, data: { i }, caller: CALLER },
      });
      ids.push(created.body.order.id);
    }
    const state = ids.map(() => 'a');
    /** @param {number} idx an index in `ids` */
    const move = async (idx) => {
      const to = state[idx] === 'a' ? 'b' : 'a';
      await of.runtime.applyCommand({ orderId: /** @type {string} */ (ids[idx]), command: { type: 'transition', to, caller: CALLER } });
      state[idx] = to;
      return to === 'b' ? 1 : 0;
    };
    let queued = 0;
    /**
     * Commits changes from `callers` concurrent callers, each moving its own orders, while
     * `going()` holds; counts the deliveries they queue in `queued`.
     * @param {() => boolean} going
     */
    const moveWhile = (going) =>
      Promise.all(
        Array.from({ length: callers }, async (_, c) => {
          for (let idx = c; going(); idx = idx + callers < ids.length ? idx + callers : c) {
            // Not `queued += await move(idx)`: that reads `queued` before the await and loses the other callers' counts.
            const got = await move(idx);
            queued += got;
          }
        }),
      );
    /**
     * Commits changes, the worker stopped, until at least `n` more deliveries are queued; answers how many were.
     * @param {number} n
     */
    const queue = async (n) => {
      const before = queued;
      await moveWhile(() => queued < before + n);
      return queued - before;
    };
    /** Starts the worker, waits until everything queued has arrived, stops it; answers the seconds it took. */
    const drainQueued = async () => {
      const t0 = performance.now();
      of.worker.start();
      await arrived(queued, 600_000);
      const took = (performance.now() - t0) / 1000;
      await of.worker.stop();
      return took;
    };
    log(`  warming up: queueing and draining ${warm} webhook deliveries (not measured)`);
    const warmed = await queue(warm);
    const warmSeconds = warm > 0 ? await drainQueued() : 0;
    log(`  queueing ${backlog} webhook deliveries`);
    const queuedBacklog = await queue(backlog);
    log('  draining the backlog');
    const commitsBefore = groupCommitStats.batches;
    const backlogSeconds = await drainQueued();
    // Claims and recorded attempts share commits: the disk flushes the backlog cost.
    const backlogCommits = groupCommitStats.batches - commitsBefore;
    log(`  ${seconds} s of changes with the worker running (${callers} callers)`);
    receiver.measureLag();
    of.worker.start();
    const end = performance.now() + seconds * 1000;
    await moveWhile(() => performance.now() < end);
    const allArrived = await arrived(queued, 30_000);
    await of.close();
    const sorted = Float64Array.from(lags).sort();
    return {
      deliveries: queuedBacklog,
      deliveriesPerSec: Math.round(queuedBacklog / backlogSeconds),
      warmUpDeliveriesPerSec: warm > 0 ? Math.round(warmed / warmSeconds) : null,
      backlogCommits,
      commitToSendP50Ms: percentile(sorted, 50),
      commitToSendP99Ms: percentile(sorted, 99),
      liveDeliveries: lags.length,
      allArrived,
    };
  } finally {
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Baseline 2: a bare Fastify POST with a small JSON body, autocannon on loopback.
 * @param {number} seconds
 * @param {number} connections
 * @returns {Promise<HttpSummary>}
 */
async function bareFastify(seconds, connections) {
  const server = await startServer('bare');
  try {
    const result = await autocannonWarm({
      url: `${server.address}/transitions`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'delayed' }),
      connections,
      duration: seconds,
    });
    return httpSummary(result);
  } finally {
    await stopServer(server.child);
  }
}

/**
 * Orderflow over HTTP: each request moves the next order of a pool between shipping and delayed.
 * @param {number} seconds
 * @param {number} connections
 * @param {number} orders
 * @returns {Promise<HttpResult>}
 */
async function overHttp(seconds, connections, orders) {
  const dir = mkdtempSync(join(tmpdir(), 'orderflow-bench-http-'));
  log(`  starting the server and preparing ${orders} orders in shipping`);
  const server = await startServer('orderflow', dir, orders);
  try {
    const ids = server.ids;
    // The state each order is known to be in, from its last answer, and the orders with a request in flight.
    const state = ids.map(() => 'shipping');
    // Looked up by the id an answer names, if it names one.
    /** @type {Map<string | undefined, number>} */
    const indexOf = new Map(ids.map((id, i) => [id, i]));
    /** @type {Set<number>} */
    const inFlight = new Set();
    let next = 0;
    /** @type {string[]} */
    const samples = [];
    log(`  running ${seconds} s with ${connections} connections`);
    const result = await autocannonWarm(
      {
        url: server.address,
        connections,
        duration: seconds,
        requests: [
          {
            method: 'POST',
            setupRequest: (req) => {
              // Never two requests for one order at once: a slow answer must not make the next move stale.
              let idx = next++ % ids.length;
              while (inFlight.has(idx)) idx = next++ % ids.length;
              inFlight.add(idx);
              const to = state[idx] === 'shipping' ? 'delayed' : 'shipping';
              return {
                ...req,
                path: `/api/v1/orders/${ids[idx]}/transitions`,
                headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
                body: JSON.stringify({ to }),
              };
            },
            // The answer names the order (a problem document in its `instance`) and, on success, its new state.
            onResponse: (status, body) => {
              /** @type {{ order?: { id: string, state: string }, instance?: unknown }} */
              let answer = {};
              try {
                answer = JSON.parse(body);
              } catch {
                // Counted by autocannon as non-2xx or an error anyway.
              }
              const id = answer.order?.id ?? String(answer.instance ?? '').split('/')[4];
              const idx = indexOf.get(id);
              if (idx !== undefined) {
                inFlight.delete(idx);
                if (status === 200 && answer.order) state[idx] = answer.order.state;
              }
              if (status !== 200 && samples.length < 3) samples.push(`${status} ${String(body).slice(0, 300)}`);
            },
          },
        ],
      },
      () => ask(server.child, 'loop-delay-reset', 'loopDelay'),
    );
    const loopDelay = await ask(server.child, 'loop-delay-read', 'loopDelay');
    for (const s of samples) log(`  a failed request: ${s}`);
    return {
      ...httpSummary(result),
      eventLoopDelayP99Ms: loopDelay.p99Ms,
      eventLoopDelayMaxMs: loopDelay.maxMs,
      eventLoopDelayIdleP99Ms: loopDelay.idleP99Ms,
      changesPerCommit: loopDelay.changesPerCommit,
      serverCpuUsPerChange: loopDelay.cpuUsPerChange,
    };
  } finally {
    await stopServer(server.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A line of /proc/mounts, split at its spaces: device, mount point, type, options, ...
 * @typedef {[string, string, string, ...string[]]} Mount
 */
/**
 * @param {string[]} m
 * @returns {m is Mount}
 */
const isMount = (m) => m.length > 2;

/**
 * The file system under `path`: the mount with the longest mount point it starts with, else statfs's type.
 * @param {string} path
 */
function fileSystemOf(path) {
  try {
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' '))
      .filter(/** @returns {m is Mount} */ (m) => isMount(m) && path.startsWith(m[1]))
      .sort((a, b) => b[1].length - a[1].length);
    if (mounts[0]) return `${mounts[0][2]} (${mounts[0][0]} on ${mounts[0][1]})`;
  } catch {
    // Not Linux.
  }
  try {
    return `type 0x${statfsSync(path).type.toString(16)}`;
  } catch {
    return 'unknown';
  }
}

async function main() {
  const seconds = Number(arg('duration', 3));
  const connections = Number(arg('connections', 50));
  const orders = Number(arg('orders', 500));
  const asJson = arg('json', false) === true;
  if (!(seconds > 0 && connections > 0 && orders >= connections))
    throw new Error('--duration > 0, --connections > 0, --orders >= connections');

  const env = {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    tmpdir: tmpdir(),
    fileSystem: fileSystemOf(tmpdir()),
  };
  log(`node ${env.node}, ${env.cpus}, files in ${env.tmpdir} (${env.fileSystem})`);
  // --phases=rawSql,inProcess runs only those (e.g. while tuning one of them); the rest report `skipped: true` (and their ratios null).
  const only = arg('phases', null);
  /** @param {string} name */
  const wanted = (name) => only === null || String(only).split(',').includes(name);
  /** @type {{ opsPerSec: number, skipped: true }} */
  const skipped = { opsPerSec: 0, skipped: true };
  log(`1-2/6 raw SQL transaction (better-sqlite3, synchronous=FULL) and Orderflow in-process (runtime.applyCommand), in turns`);
  const slices = Number(arg('slices', 10));
  const first = await rawSqlAndInProcess(seconds, orders, slices, { raw: wanted('rawSql'), inProcess: wanted('inProcess') });
  /** @type {(RawSqlResult & Turns) | Skipped<RawSqlResult & Turns, 'opsPerSec'>} */
  const raw = first.raw ?? skipped;
  /** @type {(InProcessResult & Turns) | Skipped<InProcessResult & Turns, 'opsPerSec'>} */
  const runtime = first.runtime ?? skipped;
  log(`    raw ${raw.opsPerSec} tx/s, in-process ${runtime.opsPerSec} transitions/s`);
  log(`3/6 Orderflow in-process, ${connections} concurrent callers`);
  /** @type {ConcurrentResult | Skipped<ConcurrentResult, 'opsPerSec'>} */
  const concurrent = wanted('inProcessConcurrent') ? await inProcessConcurrent(seconds, orders, connections) : skipped;
  log(`    ${concurrent.opsPerSec} transitions/s`);
  log(`4/6 bare Fastify POST (autocannon, ${connections} connections), ${seconds} s`);
  /** @type {HttpSummary | Skipped<HttpSummary, 'opsPerSec'>} */
  const bare = wanted('bareFastify') ? await bareFastify(seconds, connections) : skipped;
  log(`    ${bare.opsPerSec} req/s`);
  log('5/6 Orderflow over HTTP (POST /orders/:id/transitions)');
  /** @type {HttpResult | Skipped<HttpResult, 'opsPerSec'>} */
  const http = wanted('http') ? await overHttp(seconds, connections, orders) : skipped;
  log(
    `    ${http.opsPerSec} transitions/s (${http.non2xx} non-2xx, ${http.errors} errors), event-loop delay p99 ${http.eventLoopDelayP99Ms} ms`,
  );
  log('6/6 outbox drain (webhooks to a local receiver)');
  /** @type {DrainResult | Skipped<DrainResult, 'deliveriesPerSec'>} */
  const outbox = wanted('drain')
    ? await drain(seconds, Number(arg('deliveries', 10_000)), connections, Number(arg('warm-deliveries', 5000)))
    : { deliveriesPerSec: 0, skipped: true };
  log(`    ${outbox.deliveriesPerSec} deliveries/s; commit-to-send p50 ${outbox.commitToSendP50Ms} ms, p99 ${outbox.commitToSendP99Ms} ms`);

  /**
   * a / b to 3 digits, or null unless both are positive (a skipped phase has no latencies).
   * @param {number | undefined} a
   * @param {number | undefined} b
   */
  const ratio = (a, b) => (a !== undefined && b !== undefined && a > 0 && b > 0 ? round(a / b, 3) : null);
  const report = {
    env,
    settings: { durationSeconds: seconds, connections, orders, slices },
    phases: { rawSql: raw, inProcess: runtime, inProcessConcurrent: concurrent, bareFastify: bare, http, drain: outbox },
    ratios: {
      inProcessOverRawSql: ratio(runtime.opsPerSec, raw.opsPerSec),
      inProcessConcurrentOverRawSql: ratio(concurrent.opsPerSec, raw.opsPerSec),
      httpOverRawSql: ratio(http.opsPerSec, raw.opsPerSec),
      httpP99OverP50: ratio(http.p99Ms, http.p50Ms),
      drainOverHttp: ratio(outbox.deliveriesPerSec, http.opsPerSec),
      httpOverBareFastify: ratio(http.opsPerSec, bare.opsPerSec),
      httpOverInProcess: ratio(http.opsPerSec, runtime.opsPerSec),
    },
  };

  if (asJson) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  /** @type {[string, { opsPerSec: number, p50Ms?: number, p99Ms?: number }, string][]} */
  const rows = [
    ['raw SQL transaction (better-sqlite3, FULL)', raw, 'tx/s'],
    ['Orderflow in-process (applyCommand)', runtime, 'transitions/s'],
    [`Orderflow in-process (${connections} callers)`, concurrent, 'transitions/s'],
    [`bare Fastify POST (${connections} conns)`, bare, 'req/s'],
    [`Orderflow HTTP transition (${connections} conns)`, http, 'transitions/s'],
  ];
  /**
   * @param {string | number | undefined} s
   * @param {number} n
   */
  const pad = (s, n) => String(s).padEnd(n);
  /**
   * @param {string | number | undefined} s
   * @param {number} n
   */
  const lpad = (s, n) => String(s).padStart(n);
  const lines = [
    `Orderflow benchmark — node ${env.node}, ${env.cpus}`,
    `files in ${env.tmpdir}: ${env.fileSystem}; ${seconds} s per phase; demo workflow, shipping ↔ delayed over ${orders} orders`,
    '',
    `${pad('phase', 48)}${lpad('ops/s', 10)}${lpad('p50 ms', 10)}${lpad('p99 ms', 10)}  unit`,
    ...rows.map(([name, r, unit]) => `${pad(name, 48)}${lpad(r.opsPerSec, 10)}${lpad(r.p50Ms, 10)}${lpad(r.p99Ms, 10)}  ${unit}`),
    '',
    'ratios',
    `  in-process / raw SQL     ${report.ratios.inProcessOverRawSql}`,
    `  in-process ${connections} callers / raw SQL ${report.ratios.inProcessConcurrentOverRawSql}`,
    `  HTTP / raw SQL           ${report.ratios.httpOverRawSql}`,
    `  HTTP p99 / p50           ${report.ratios.httpP99OverP50}`,
    `  drain / HTTP             ${report.ratios.drainOverHttp}`,
    `  HTTP / in-process        ${report.ratios.httpOverInProcess}`,
    `  HTTP / bare Fastify      ${report.ratios.httpOverBareFastify}`,
    '',
    `HTTP event-loop delay p99 ${http.eventLoopDelayP99Ms} ms (max ${http.eventLoopDelayMaxMs} ms; the same server idle: p99 ${http.eventLoopDelayIdleP99Ms} ms; both include the 10 ms timer interval); ${http.changesPerCommit} changes per shared commit, ${http.serverCpuUsPerChange} µs of server CPU per change`,
    `outbox drain: ${outbox.deliveriesPerSec} deliveries/s (backlog of ${outbox.deliveries}, ${outbox.backlogCommits} commits); commit-to-send p50 ${outbox.commitToSendP50Ms} ms, p99 ${outbox.commitToSendP99Ms} ms over ${outbox.liveDeliveries} live deliveries`,
    `synchronous: raw ${raw.synchronous}, orderflow ${runtime.synchronous} (2 = FULL); HTTP non-2xx ${http.non2xx}, errors ${http.errors}, timeouts ${http.timeouts}; in-process failures ${runtime.failed}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (process.argv[2] === '--serve') {
  const [, , , kind, dir, orders] = process.argv;
  (kind === 'bare' ? serveBare() : serveOrderflow(dir, Number(orders))).catch((e) => {
    process.stderr.write(`${e.stack ?? e}\n`);
    process.exit(1);
  });
} else if (process.argv.includes('--db=postgres') || process.argv[process.argv.indexOf('--db') + 1] === 'postgres') {
  // PostgreSQL next to SQLite, with 1 and 2 API processes: see postgres.js.
  await import('./postgres.js');
} else if (process.argv.includes('--outbox')) {
  // Worker throughput (deliveries/s) and timer lag: see outbox.js.
  await import('./outbox.js');
} else {
  main().catch((e) => {
    process.stderr.write(`${e.stack ?? e}\n`);
    process.exit(1);
  });
}
