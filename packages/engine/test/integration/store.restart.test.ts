// SQLite only: it reopens the same database file and checks SQLite's PRAGMA synchronous and journal mode.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sqlitePragma } from '../../src/store/sqlite.js';
import { createTestOrderflow, demoOrder, json, type TestOrderflow } from '../helpers/orderflow.js';

let dir: string;
let instance: TestOrderflow | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'orderflow-restart-'));
});
afterEach(async () => {
  await instance?.close();
  instance = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** Every row of the tables a restart must keep, in a stable order. */
async function snapshot(t: TestOrderflow) {
  const db = t.of.store.db;
  return {
    orders: await db.selectFrom('orders').selectAll().orderBy('id').execute(),
    history: await db.selectFrom('history').selectAll().orderBy('order_id').orderBy('seq').execute(),
    deliveries: await db.selectFrom('deliveries').selectAll().orderBy('id').execute(),
    timers: await db.selectFrom('timers').selectAll().orderBy('id').execute(),
    idempotency: await db.selectFrom('idempotency_keys').selectAll().orderBy('key').execute(),
    workflowVersions: await db.selectFrom('workflow_versions').selectAll().orderBy('workflow').orderBy('version').execute(),
  };
}

/** What the API answers for every order and its history. */
async function apiView(t: TestOrderflow, ids: string[]) {
  const out: Record<string, unknown> = {};
  for (const id of ids) {
    const order = await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${id}` });
    const history = await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${id}/history` });
    expect(order.statusCode).toBe(200);
    expect(history.statusCode).toBe(200);
    out[id] = { order: json(order), etag: order.headers.etag, history: json(history).items };
  }
  return out;
}

describe('restarting on the same SQLite file', () => {
  it('finds every order and every history row intact, and reopens with synchronous=FULL', async () => {
    instance = await createTestOrderflow({ dir, keepDir: true });
    const paths = [
      [],
      ['awaiting_payment'],
      ['awaiting_payment', 'packing', 'shipping', 'delayed', 'shipping'],
      ['awaiting_payment', 'customer_cancelled'],
      ['awaiting_payment', 'packing', 'shipping', 'lost_in_transit'],
    ];
    const ids: string[] = [];
    for (const path of paths) ids.push((await demoOrder(instance, path)).id);
    const delivered = await demoOrder(instance, ['awaiting_payment', 'packing', 'shipping']);
    await instance.request('operator', { method: 'POST', url: `/api/v1/orders/${delivered.id}/facts`, body: { fact: 'delivered' } });
    await instance.request('operator', { method: 'PATCH', url: `/api/v1/orders/${delivered.id}/data`, body: { note: 'left at the door' } });
    const moved = await instance.request('operator', {
      method: 'POST',
      url: `/api/v1/orders/${delivered.id}/transitions`,
      body: { to: 'delivered' },
    });
    expect(moved.statusCode, moved.body).toBe(200);
    ids.push(delivered.id);
    // Idempotency records are scoped per token; the admin token is the same one after the restart.
    const keyed = await instance.request('admin', {
      method: 'POST',
      url: '/api/v1/orders',
      body: { workflow: 'orders', data: { n: 1 } },
      headers: { 'idempotency-key': 'restart-1' },
    });
    expect(keyed.statusCode).toBe(201);

    const before = await snapshot(instance);
    const apiBefore = await apiView(instance, ids);
    // The lost package created a linked replacement order in the same transaction.
    expect(before.orders.length).toBeGreaterThanOrEqual(8 + ids.length + 2);
    expect(before.history.length).toBeGreaterThan(30);
    expect(await sqlitePragma(instance.of.store, 'synchronous')).toBe(2);
    await instance.close();
    instance = undefined;

    // A plain connection reopens this WAL file at NORMAL (1): the store must set FULL itself.
    const plain = new Database(join(dir, 'orderflow.db'), { readonly: true });
    expect(plain.pragma('synchronous', { simple: true })).toBe(1);
    plain.close();

    instance = await createTestOrderflow({ dir, keepDir: true });
    expect(instance.file).toBe(join(dir, 'orderflow.db'));
    expect(await sqlitePragma(instance.of.store, 'synchronous')).toBe(2);
    expect(await sqlitePragma(instance.of.store, 'journal_mode')).toBe('wal');
    expect(await sqlitePragma(instance.of.store, 'integrity_check')).toBe('ok');

    const after = await snapshot(instance);
    expect(after).toEqual(before);
    // Not seeded twice.
    expect(after.orders.filter((o) => o.external_ref?.startsWith('DEMO-'))).toHaveLength(8);
    expect(await apiView(instance, ids)).toEqual(apiBefore);

    // The idempotency record survived: the same key replays the stored answer.
    const replay = await instance.request('admin', {
      method: 'POST',
      url: '/api/v1/orders',
      body: { workflow: 'orders', data: { n: 1 } },
      headers: { 'idempotency-key': 'restart-1' },
    });
    expect(replay.statusCode).toBe(201);
    expect(json(replay)).toEqual(json(keyed));

    // The reopened store is writable and versions continue without a gap.
    const [first] = ids;
    const next = await instance.request('operator', {
      method: 'POST',
      url: `/api/v1/orders/${first}/transitions`,
      body: { to: 'awaiting_payment' },
    });
    expect(next.statusCode, next.body).toBe(200);
    expect(json(next).order.version).toBe((apiBefore[first as string] as { order: { version: number } }).order.version + 1);
  });
});
