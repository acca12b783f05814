#!/usr/bin/env node
/**
 * Orderflow outbox and timer benchmark: how fast the worker drains a backlog of webhook
 * deliveries to a local receiver (deliveries/s, signed, over HTTP on 127.0.0.1), and how
 * late timers fire after their due time while the worker runs (p50/p99/max).
 *
 *   node packages/engine/bench/outbox.js                 readable lines on stdout
 *   node packages/engine/bench/outbox.js --json          one JSON object (the last line)
 *   node packages/engine/bench/outbox.js --deliveries=2000 --timers=500
 *
 * Needs the build (`npm run build`). Everything listens on 127.0.0.1 only. It asserts
 * nothing: it is a measurement, not a test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const { loadConfig } = await import('../dist/config.js');
const { createOrderflow } = await import('../dist/server.js');
const { createWorkflowService } = await import('../dist/workflows.js');

/**
 * The value of `--name=value` (`true` for a bare `--name`), or `fallback`.
 * @param {string} name
 * @param {string | number | boolean} fallback
 * @returns {string | number | boolean}
 */
function arg(name, fallback) {
  const hit = process.argv.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (!hit) return fallback;
  return hit.includes('=') ? hit.slice(hit.indexOf('=') + 1) : true;
}
const DELIVERIES = Number(arg('deliveries', 2000));
const TIMERS = Number(arg('timers', 500));
const JSON_OUT = arg('json', false) === true;
/** @param {string} m */
const progress = (m) => process.stderr.write(`${m}\n`);
/**
 * @param {number[]} xs
 * @param {number} p
 */
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};

const receiver = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200).end('ok'));
});
await new Promise((r) => receiver.listen(0, '127.0.0.1', () => r(undefined)));
const hook = `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (receiver.address()).port}/hook`;

const dir = mkdtempSync(join(tmpdir(), 'orderflow-bench-outbox-'));
const env = {
  ORDERFLOW_DATABASE_URL: `sqlite:${join(dir, 'orderflow.db')}`,
  ORDERFLOW_DATA_DIR: dir,
  ORDERFLOW_DEMO: 'false',
  ORDERFLOW_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
  ORDERFLOW_WEBHOOK_SECRET: 'whsec_YmVuY2gtd2ViaG9vay1zZWNyZXQtMDEyMzQ1Njc4OQ==',
  LOG_LEVEL: 'silent',
};
const of = await createOrderflow(loadConfig(env, dir), { startWorker: false });
/** @type {import('@orderflow/core').Caller} */
const caller = { actor: { type: 'system', id: 'bench' }, roles: ['admin'] };
const service = createWorkflowService(of.store, () => new Date().toISOString());
await service.create(
  {
    key: 'bench',
    name: 'Bench',
    states: [
      { key: 'placed', name: 'Placed', group: 'new', initial: true },
      { key: 'working', name: 'Working', group: 'processing' },
      { key: 'waiting', name: 'Waiting', group: 'processing', timeout: { after: '1s', to: 'late' } },
      { key: 'late', name: 'Late', group: 'processing' },
      { key: 'done', name: 'Done', group: 'completed' },
      { key: 'gone', name: 'Gone', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
    ],
    transitions: [
      { from: 'placed', to: 'working' },
      { from: 'placed', to: 'waiting' },
      { from: 'late', to: 'done' },
      { from: '*', to: 'gone' },
    ],
    rules: [{ id: 'hook', trigger: 'state_changed', conditions: { new_state: 'working' }, actions: [{ type: 'webhook', url: hook }] }],
  },
  true,
  'bench',
);

try {
  // 1. Outbox drain: a backlog committed while the worker is stopped, then drained.
  progress(`queueing ${DELIVERIES} webhook deliveries...`);
  for (let i = 0; i < DELIVERIES; i++) {
    const created = await of.runtime.applyCommand({
      command: { type: 'create', workflow: 'bench', workflowVersion: 0, data: { i }, caller },
    });
    await of.runtime.applyCommand({ orderId: created.body.order.id, command: { type: 'transition', to: 'working', caller } });
  }
  const pendingCount = async () =>
    Number(
      (
        await of.store.db
          .selectFrom('deliveries')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('status', '=', 'pending')
          .executeTakeFirstOrThrow()
      ).n,
    );
  progress('draining...');
  const t0 = performance.now();
  of.worker.start();
  while ((await pendingCount()) > 0) await sleep(10);
  const drainMs = performance.now() - t0;
  const rate = DELIVERIES / (drainMs / 1000);

  // 2. Timer lag: timers falling due over about a second while the worker runs.
  progress(`scheduling ${TIMERS} timers (1 s timeouts)...`);
  for (let i = 0; i < TIMERS; i++) {
    const created = await of.runtime.applyCommand({
      command: { type: 'create', workflow: 'bench', workflowVersion: 0, data: { i }, caller },
    });
    await of.runtime.applyCommand({ orderId: created.body.order.id, command: { type: 'transition', to: 'waiting', caller } });
  }
  const deadline = Date.now() + 60_000;
  for (;;) {
    const left = Number(
      (
        await of.store.db
          .selectFrom('timers')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('status', '=', 'pending')
          .executeTakeFirstOrThrow()
      ).n,
    );
    if (left === 0 || Date.now() > deadline) break;
    await sleep(20);
  }
  const rows = await of.store.db.selectFrom('timers').select(['due_at', 'fired_at']).where('status', '=', 'fired').execute();
  // A fired timer has its fired_at.
  const lags = rows.flatMap((r) => (r.fired_at === null ? [] : [Date.parse(r.fired_at) - Date.parse(r.due_at)]));
  const result = {
    outbox: { deliveries: DELIVERIES, drainMs: Math.round(drainMs), deliveriesPerSecond: Math.round(rate) },
    timers: { timers: TIMERS, fired: rows.length, lagMs: { p50: pct(lags, 50), p99: pct(lags, 99), max: Math.max(0, ...lags) } },
  };
  if (JSON_OUT) console.log(JSON.stringify(result));
  else {
    console.log(
      `outbox drain: ${DELIVERIES} signed webhooks to 127.0.0.1 in ${(drainMs / 1000).toFixed(2)} s = ${Math.round(rate)} deliveries/s`,
    );
    console.log(
      `timer lag:    ${rows.length}/${TIMERS} timers fired; lag after due time p50 ${result.timers.lagMs.p50} ms, p99 ${result.timers.lagMs.p99} ms, max ${result.timers.lagMs.max} ms`,
    );
  }
} finally {
  await of.close();
  receiver.closeAllConnections();
  receiver.close();
  rmSync(dir, { recursive: true, force: true });
}
