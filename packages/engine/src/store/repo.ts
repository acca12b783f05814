import type { Definition, DeliveryAttempt, HistoryEntry, Order, OutboxEntry, Timer, Delivery as WireDelivery } from '@orderflow/core';
import type { Kysely, Selectable } from 'kysely';
import type { DB } from './schema.js';
import type { StoreCapabilities } from './store.js';

type Db = Kysely<DB>;

import { rowToOrder } from './changes.js';

const p = <T>(s: string | null): T => (s === null ? (null as T) : (JSON.parse(s) as T));

/** Filters of `GET /orders`. */
export interface OrderFilter {
  workflow?: string;
  state?: string;
  group?: string;
  kind?: string;
  externalRef?: string;
  q?: string;
  createdAfter?: string;
  createdBefore?: string;
  limit: number;
  /** Opaque cursor: `<createdAt>|<id>` of the last item of the previous page. */
  cursor?: { createdAt: string; id: string };
}

export async function listOrders(db: Db, capabilities: StoreCapabilities, f: OrderFilter): Promise<Order[]> {
  let q = db.selectFrom('orders').selectAll();
  if (f.workflow) q = q.where('workflow', '=', f.workflow);
  if (f.state) q = q.where('state', '=', f.state);
  if (f.group) q = q.where('grp', '=', f.group);
  if (f.kind) q = q.where('kind', '=', f.kind);
  if (f.externalRef) q = q.where('external_ref', '=', f.externalRef);
  if (f.createdAfter) q = q.where('created_at', '>', f.createdAfter);
  if (f.createdBefore) q = q.where('created_at', '<', f.createdBefore);
  if (f.q) {
    const pattern = `%${f.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    // SQLite's LIKE is case-insensitive for ASCII; PostgreSQL needs ILIKE.
    const op = capabilities.caseInsensitiveLike;
    q = q.where((eb) =>
      eb.or([eb(eb.ref('data_json'), op, pattern), eb(eb.ref('external_ref'), op, pattern), eb('id', '=', f.q as string)]),
    );
  }
  if (f.cursor) {
    const { createdAt, id } = f.cursor;
    q = q.where((eb) => eb.or([eb('created_at', '<', createdAt), eb.and([eb('created_at', '=', createdAt), eb('id', '<', id)])]));
  }
  const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(f.limit).execute();
  return rows.map(rowToOrder);
}

// ---------- history ----------

export async function listHistory(db: Db, orderId: string): Promise<HistoryEntry[]> {
  const rows = await db.selectFrom('history').select('entry_json').where('order_id', '=', orderId).orderBy('seq').execute();
  return rows.map((r) => p<HistoryEntry>(r.entry_json));
}

/** One page of an order's history, oldest first, after the entry numbered `afterSeq`. */
export async function listHistoryPage(
  db: Db,
  orderId: string,
  f: { afterSeq?: number; limit: number },
): Promise<(HistoryEntry & { seq: number })[]> {
  let q = db.selectFrom('history').select(['seq', 'entry_json']).where('order_id', '=', orderId);
  if (f.afterSeq !== undefined) q = q.where('seq', '>', f.afterSeq);
  const rows = await q.orderBy('seq').limit(f.limit).execute();
  return rows.map((r) => ({ ...p<HistoryEntry>(r.entry_json), seq: Number(r.seq) }));
}

/** When rules moved the order into each state since `since` (the per-order loop guard), from the history. */
export async function ruleEntriesSince(db: Db, orderId: string, since: string): Promise<Record<string, string[]>> {
  const rows = await db
    .selectFrom('history')
    .select(['to_state', 'at'])
    .where('order_id', '=', orderId)
    .where('type', '=', 'transition')
    // Timeout moves count towards the loop guard exactly like rule moves.
    .where('actor_type', 'in', ['rule', 'timer'])
    .where('at', '>', since)
    .orderBy('seq')
    .execute();
  const out: Record<string, string[]> = {};
  for (const r of rows) {
    const state = r.to_state ?? '';
    out[state] = [...(out[state] ?? []), r.at];
  }
  return out;
}

// ---------- outbox deliveries ----------

/** A delivery as the API shows it (the contract's), with its action and envelope typed. */
export type Delivery = Omit<WireDelivery, 'action' | 'envelope' | 'summary'> & {
  action: OutboxEntry['action'];
  envelope: OutboxEntry['envelope'];
};

/** One recorded attempt of a delivery. */
export type { DeliveryAttempt };

export function rowToDelivery(r: Selectable<DB['deliveries']>): Delivery {
  return {
    id: r.id,
    orderId: r.order_id,
    workflow: r.workflow,
    type: r.type as Delivery['type'],
    status: r.status as Delivery['status'],
    attempts: Number(r.attempts),
    nextAttemptAt: r.status === 'pending' ? r.next_attempt_at : null,
    lastError: r.last_error,
    ruleId: r.rule_id,
    action: p(r.action_json),
    envelope: p(r.envelope_json),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    deliveredAt: r.delivered_at,
  };
}

export async function getDelivery(db: Db, id: string): Promise<Delivery | undefined> {
  const r = await db.selectFrom('deliveries').selectAll().where('id', '=', id).executeTakeFirst();
  return r ? rowToDelivery(r) : undefined;
}

export async function listDeliveryAttempts(db: Db, id: string): Promise<DeliveryAttempt[]> {
  const rows = await db.selectFrom('delivery_attempts').selectAll().where('delivery_id', '=', id).orderBy('attempt').execute();
  return rows.map((r) => ({
    attempt: Number(r.attempt),
    at: r.at,
    durationMs: Number(r.duration_ms),
    outcome: r.outcome as DeliveryAttempt['outcome'],
    status: r.status_code === null ? null : Number(r.status_code),
    responseBody: r.response_body,
    error: r.error,
  }));
}

/** Filters of `GET /deliveries`. */
export interface DeliveryFilter {
  status?: string;
  type?: string;
  orderId?: string;
  limit: number;
  /** id of the last item of the previous page (ids sort by creation). */
  cursor?: string;
}

export async function listDeliveries(db: Db, f: DeliveryFilter): Promise<Delivery[]> {
  let q = db.selectFrom('deliveries').selectAll();
  if (f.status) q = q.where('status', '=', f.status);
  if (f.type) q = q.where('type', '=', f.type);
  if (f.orderId) q = q.where('order_id', '=', f.orderId);
  if (f.cursor) q = q.where('id', '<', f.cursor);
  const rows = await q.orderBy('id', 'desc').limit(f.limit).execute();
  return rows.map(rowToDelivery);
}

// ---------- timers ----------

export function rowToTimer(r: Selectable<DB['timers']>): Timer & { status: string } {
  const t: Timer & { status: string } = {
    id: r.id,
    orderId: r.order_id,
    kind: r.kind as Timer['kind'],
    dueAt: r.due_at,
    state: r.state,
    visit: Number(r.visit),
    scope: r.scope as Timer['scope'],
    status: r.status,
  };
  if (r.rule_id !== null) t.ruleId = r.rule_id;
  if (r.action_index !== null) t.actionIndex = Number(r.action_index);
  if (r.payload_json !== null) t.payload = p(r.payload_json);
  return t;
}

export async function listTimers(
  db: Db,
  f: { orderId?: string; dueBefore?: string; status?: string; limit: number },
): Promise<(Timer & { status: string })[]> {
  let q = db.selectFrom('timers').selectAll();
  q = q.where('status', '=', f.status ?? 'pending');
  if (f.orderId) q = q.where('order_id', '=', f.orderId);
  if (f.dueBefore) q = q.where('due_at', '<=', f.dueBefore);
  const rows = await q.orderBy('due_at').orderBy('id').limit(f.limit).execute();
  return rows.map(rowToTimer);
}

// ---------- rule runs ----------

export { listRuleRuns } from './rule-runs.js';

// ---------- idempotency ----------

/** Forgets Idempotency-Keys stored before `before`; returns how many. */
export async function pruneIdempotency(db: Db, before: string, limit = 1000): Promise<number> {
  // In slices, so one pass never holds the write lock for long.
  const old = await db.selectFrom('idempotency_keys').select(['scope', 'key']).where('created_at', '<', before).limit(limit).execute();
  let n = 0;
  for (const r of old) {
    const d = await db
      .deleteFrom('idempotency_keys')
      .where('scope', '=', r.scope)
      .where('key', '=', r.key)
      .where('created_at', '<', before)
      .executeTakeFirst();
    n += Number(d.numDeletedRows);
  }
  return n;
}

// ---------- workflows ----------

/** A workflow row with its published definition. */
export interface WorkflowRecord {
  key: string;
  name: string;
  publishedVersion: number | null;
  definition: Definition | null;
  draft: Definition | null;
  draftUpdatedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export async function getWorkflow(db: Db, key: string): Promise<WorkflowRecord | undefined> {
  const r = await db.selectFrom('workflows').selectAll().where('key', '=', key).executeTakeFirst();
  if (!r) return undefined;
  const version = r.published_version === null ? null : Number(r.published_version);
  const published = version === null ? null : await getWorkflowVersion(db, key, version);
  return {
    key: r.key,
    name: r.name,
    publishedVersion: version,
    definition: published?.definition ?? null,
    draft: p(r.draft_json),
    draftUpdatedAt: r.draft_updated_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export async function listWorkflowRows(db: Db) {
  return db.selectFrom('workflows').select(['key', 'name', 'published_version', 'draft_json']).orderBy('key').execute();
}

export async function getWorkflowVersion(
  db: Db,
  key: string,
  version: number,
): Promise<{ definition: Definition; publishedAt: string; publishedBy: string } | undefined> {
  const r = await db
    .selectFrom('workflow_versions')
    .selectAll()
    .where('workflow', '=', key)
    .where('version', '=', version)
    .executeTakeFirst();
  return r ? { definition: p(r.definition_json), publishedAt: r.published_at, publishedBy: r.published_by } : undefined;
}

/** Orders of a workflow that are neither completed nor cancelled. */
export async function inFlightOrders(db: Db, key: string): Promise<Order[]> {
  const rows = await db
    .selectFrom('orders')
    .selectAll()
    .where('workflow', '=', key)
    .where('grp', 'not in', ['completed', 'cancelled'])
    .orderBy('id')
    .execute();
  return rows.map(rowToOrder);
}

/** Pending timers of a workflow's orders. */
export async function pendingTimersOfWorkflow(db: Db, key: string): Promise<Timer[]> {
  const rows = await db
    .selectFrom('timers')
    .innerJoin('orders', 'orders.id', 'timers.order_id')
    .selectAll('timers')
    .where('orders.workflow', '=', key)
    .where('timers.status', '=', 'pending')
    .execute();
  return rows.map((r) => {
    const { status: _status, ...timer } = rowToTimer(r);
    return timer;
  });
}
