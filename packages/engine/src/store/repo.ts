import type {
  Definition,
  DeliveryAttempt,
  HistoryEntry,
  Order,
  OutboxEntry,
  RuleRun,
  Timer,
  Delivery as WireDelivery,
} from '@orderflow/core';
import type { Insertable, Kysely, Selectable } from 'kysely';
import { bumpConfigEpoch } from './config-epoch.js';
import type { DB } from './schema.js';
import type { DialectName, StoreCapabilities } from './store.js';

type Db = Kysely<DB>;
const j = (v: unknown): string => JSON.stringify(v);
const p = <T>(s: string | null): T => (s === null ? (null as T) : (JSON.parse(s) as T));

/**
 * Bound parameters one statement may carry. SQLite allows 32766 and PostgreSQL 65535; one
 * multi-row insert past either fails the whole change, so bigger inserts are split.
 */
const MAX_PARAMETERS = 30_000;

/** Splits rows into multi-row inserts that stay under both dialects' parameter limits. */
export function insertBatches<T extends object>(rows: readonly T[]): T[][] {
  if (rows.length === 0) return [];
  const columns = Math.max(1, Object.keys(rows[0] as object).length);
  const size = Math.max(1, Math.min(1000, Math.floor(MAX_PARAMETERS / columns)));
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

// ---------- orders ----------

/** Maps an orders row to the domain order. */
export function rowToOrder(r: Selectable<DB['orders']>): Order {
  return {
    id: r.id,
    workflow: r.workflow,
    workflowVersion: Number(r.workflow_version),
    kind: r.kind,
    externalRef: r.external_ref,
    state: r.state,
    group: r.grp as Order['group'],
    data: p(r.data_json),
    facts: p(r.facts_json),
    cancellation: p(r.cancellation_json),
    links: p(r.links_json),
    version: Number(r.version),
    visit: Number(r.visit),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    stateEnteredAt: r.state_entered_at,
  };
}

function orderToRow(o: Order): Insertable<DB['orders']> {
  return {
    id: o.id,
    workflow: o.workflow,
    workflow_version: o.workflowVersion,
    kind: o.kind,
    external_ref: o.externalRef,
    state: o.state,
    grp: o.group,
    data_json: j(o.data),
    facts_json: j(o.facts),
    cancellation_json: o.cancellation === null ? null : j(o.cancellation),
    links_json: j(o.links),
    version: o.version,
    visit: o.visit,
    created_at: o.createdAt,
    updated_at: o.updatedAt,
    state_entered_at: o.stateEnteredAt,
  };
}

export async function getOrder(db: Db, id: string): Promise<Order | undefined> {
  const r = await db.selectFrom('orders').selectAll().where('id', '=', id).executeTakeFirst();
  return r ? rowToOrder(r) : undefined;
}

/**
 * What a change keeps on the order row besides the order: the seq of its last history entry
 * and, per state, when rules moved it there within the last hour (the loop guard). Both are
 * read with the order and written with it, so a change needs no history query.
 */
export interface OrderCounters {
  historySeq: number;
  /** `null` on rows written before the counters existed: the guard then counts the history once. */
  ruleEntries: Record<string, string[]> | null;
}

/** An order read for writing, with its counters. */
export interface OrderForWrite {
  order: Order;
  counters: OrderCounters;
}

/**
 * Reads an order with its counters. With `lock` (inside a write transaction, where the dialect
 * has row locks: PostgreSQL `FOR UPDATE`) concurrent writers of one order queue instead of
 * conflicting; SQLite's `BEGIN IMMEDIATE` already serialises writers.
 */
export async function getOrderWithCounters(db: Db, id: string, lock: boolean): Promise<OrderForWrite | undefined> {
  let q = db.selectFrom('orders').selectAll().where('id', '=', id);
  if (lock) q = q.forUpdate();
  const r = await q.executeTakeFirst();
  return r ? { order: rowToOrder(r), counters: { historySeq: Number(r.history_seq), ruleEntries: p(r.rule_entries_json) } } : undefined;
}

export async function findOrderByExternalRef(db: Db, workflow: string, externalRef: string): Promise<Order | undefined> {
  const r = await db
    .selectFrom('orders')
    .selectAll()
    .where('workflow', '=', workflow)
    .where('external_ref', '=', externalRef)
    .executeTakeFirst();
  return r ? rowToOrder(r) : undefined;
}

const countersToRow = (c: OrderCounters) => ({
  history_seq: c.historySeq,
  rule_entries_json: c.ruleEntries === null ? null : j(c.ruleEntries),
});

export async function insertOrder(db: Db, o: Order, counters?: OrderCounters): Promise<void> {
  await db
    .insertInto('orders')
    .values({ ...orderToRow(o), ...(counters ? countersToRow(counters) : {}) })
    .execute();
}

/**
 * Updates an order only if it still has `previousVersion`; false when someone else changed it first.
 * With `counters`, they are written too (the caller appends the history with the seq they imply).
 */
export async function updateOrder(db: Db, o: Order, previousVersion: number, counters?: OrderCounters): Promise<boolean> {
  const { id: _id, ...row } = orderToRow(o);
  const r = await db
    .updateTable('orders')
    .set({ ...row, ...(counters ? countersToRow(counters) : {}) })
    .where('id', '=', o.id)
    .where('version', '=', previousVersion)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

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

export async function listOrders(db: Db, dialect: DialectName | StoreCapabilities, f: OrderFilter): Promise<Order[]> {
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
    const op = typeof dialect === 'string' ? (dialect === 'postgres' ? 'ilike' : 'like') : dialect.caseInsensitiveLike;
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

export async function countOrdersByGroup(
  db: Db,
  workflow?: string,
): Promise<{ workflow: string; grp: string; state: string; n: number }[]> {
  let q = db.selectFrom('orders').select((eb) => ['workflow', 'grp', 'state', eb.fn.countAll<number>().as('n')]);
  if (workflow) q = q.where('workflow', '=', workflow);
  const rows = await q.groupBy(['workflow', 'grp', 'state']).execute();
  return rows.map((r) => ({ ...r, n: Number(r.n) }));
}

// ---------- history ----------

/**
 * Appends history entries after `afterSeq` (the order row's `history_seq`, which the caller
 * writes with the order). Without it, the last seq is looked up and the row's counter set.
 */
export async function appendHistory(db: Db, orderId: string, entries: HistoryEntry[], afterSeq?: number): Promise<HistoryEntry[]> {
  if (entries.length === 0) return [];
  let seq = afterSeq ?? -1;
  if (afterSeq === undefined) {
    const last = await db
      .selectFrom('history')
      .select((eb) => eb.fn.max('seq').as('m'))
      .where('order_id', '=', orderId)
      .executeTakeFirst();
    seq = Number(last?.m ?? 0);
    await db
      .updateTable('orders')
      .set({ history_seq: seq + entries.length })
      .where('id', '=', orderId)
      .execute();
  }
  const stored = entries.map((e) => ({ ...e, seq: ++seq }));
  const rows = stored.map((e) => ({
    order_id: orderId,
    seq: e.seq,
    id: e.id,
    at: e.at,
    type: e.type,
    to_state: e.to ?? null,
    rule_id: e.ruleId ?? null,
    actor_type: e.actor.type,
    entry_json: j(e),
  }));
  for (const batch of insertBatches(rows)) await db.insertInto('history').values(batch).execute();
  return stored;
}

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

export async function insertDeliveries(db: Db, entries: OutboxEntry[]): Promise<void> {
  const rows = entries.map((d) => ({
    id: d.id,
    order_id: d.orderId,
    workflow: d.workflow,
    type: d.type,
    rule_id: d.ruleId,
    action_json: j(d.action),
    envelope_json: j(d.envelope),
    status: 'pending',
    attempts: 0,
    next_attempt_at: d.createdAt,
    lease_until: null,
    lease_token: null,
    last_error: null,
    created_at: d.createdAt,
    updated_at: d.createdAt,
    delivered_at: null,
  }));
  for (const batch of insertBatches(rows)) await db.insertInto('deliveries').values(batch).execute();
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

export async function insertTimers(db: Db, timers: Timer[], now: string): Promise<void> {
  const rows = timers.map((t) => ({
    id: t.id,
    order_id: t.orderId,
    kind: t.kind,
    due_at: t.dueAt,
    state: t.state,
    visit: t.visit,
    scope: t.scope,
    rule_id: t.ruleId ?? null,
    action_index: t.actionIndex ?? null,
    payload_json: t.payload === undefined ? null : j(t.payload),
    status: 'pending',
    lease_until: null,
    lease_token: null,
    created_at: now,
    fired_at: null,
  }));
  for (const batch of insertBatches(rows)) await db.insertInto('timers').values(batch).execute();
}

/** Cancels the pending visit-bound timers of one state visit (the order left it). */
export async function cancelVisitTimers(db: Db, orderId: string, visit: number): Promise<void> {
  await db
    .updateTable('timers')
    .set({ status: 'cancelled' })
    .where('order_id', '=', orderId)
    .where('visit', '=', visit)
    .where('scope', '=', 'visit')
    .where('status', '=', 'pending')
    .execute();
}

/**
 * Changes one pending timer's due time and state. Clearing the lease fences out a
 * worker that claimed it meanwhile. False when it is no longer pending.
 */
export async function updatePendingTimer(db: Db, id: string, set: { dueAt: string; state?: string }): Promise<boolean> {
  const r = await db
    .updateTable('timers')
    .set({ due_at: set.dueAt, ...(set.state !== undefined ? { state: set.state } : {}), lease_until: null, lease_token: null })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Cancels one pending timer, fencing out a worker that claimed it. False when it is no longer pending. */
export async function cancelPendingTimer(db: Db, id: string): Promise<boolean> {
  const r = await db
    .updateTable('timers')
    .set({ status: 'cancelled', lease_until: null, lease_token: null })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
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

export async function insertRuleRuns(db: Db, runs: RuleRun[]): Promise<void> {
  const rows = runs.map((r) => ({
    id: r.id,
    order_id: r.orderId,
    workflow: r.workflow,
    rule_id: r.ruleId,
    trigger: r.trigger,
    at: r.at,
    matched: r.matched ? 1 : 0,
    run_json: j(r),
  }));
  for (const batch of insertBatches(rows)) await db.insertInto('rule_runs').values(batch).execute();
}

export async function listRuleRuns(db: Db, f: { orderId?: string; rule?: string; limit: number; cursor?: string }): Promise<RuleRun[]> {
  let q = db.selectFrom('rule_runs').select('run_json');
  if (f.orderId) q = q.where('order_id', '=', f.orderId);
  if (f.rule) q = q.where('rule_id', '=', f.rule);
  if (f.cursor) q = q.where('id', '<', f.cursor);
  const rows = await q.orderBy('id', 'desc').limit(f.limit).execute();
  return rows.map((r) => p<RuleRun>(r.run_json));
}

// ---------- idempotency ----------

export async function getIdempotency(db: Db, scope: string, key: string) {
  return db.selectFrom('idempotency_keys').selectAll().where('scope', '=', scope).where('key', '=', key).executeTakeFirst();
}

export async function deleteIdempotency(db: Db, scope: string, key: string): Promise<void> {
  await db.deleteFrom('idempotency_keys').where('scope', '=', scope).where('key', '=', key).execute();
}

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

export async function putIdempotency(
  db: Db,
  rec: { scope: string; key: string; hash: string; status: number; body: unknown; now: string },
): Promise<void> {
  await db
    .insertInto('idempotency_keys')
    .values({
      scope: rec.scope,
      key: rec.key,
      request_hash: rec.hash,
      response_status: rec.status,
      response_json: j(rec.body),
      created_at: rec.now,
    })
    .execute();
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

/** Published versions, newest first, with who published them (the token's name when it has one) and their orders. */
export async function listWorkflowVersions(db: Db, key: string) {
  const rows = await db
    .selectFrom('workflow_versions')
    .leftJoin('tokens', 'tokens.id', 'workflow_versions.published_by')
    .select([
      'workflow_versions.version',
      'workflow_versions.published_at',
      'workflow_versions.published_by',
      'tokens.name as publisher_name',
    ])
    .where('workflow_versions.workflow', '=', key)
    .orderBy('workflow_versions.version', 'desc')
    .execute();
  const counts = await db
    .selectFrom('orders')
    .select(['workflow_version', 'grp', (eb) => eb.fn.countAll<number>().as('n')])
    .where('workflow', '=', key)
    .groupBy(['workflow_version', 'grp'])
    .execute();
  return rows.map((r) => {
    const mine = counts.filter((c) => Number(c.workflow_version) === Number(r.version));
    const total = mine.reduce((sum, c) => sum + Number(c.n), 0);
    const inFlight = mine.filter((c) => c.grp !== 'completed' && c.grp !== 'cancelled').reduce((sum, c) => sum + Number(c.n), 0);
    return {
      version: Number(r.version),
      publishedAt: r.published_at,
      publishedBy: r.published_by,
      publisherName: r.publisher_name ?? (r.published_by === 'system' ? 'system' : null),
      orders: { total, inFlight },
    };
  });
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

export async function insertWorkflow(db: Db, key: string, name: string, draft: Definition, now: string): Promise<void> {
  await db
    .insertInto('workflows')
    .values({ key, name, draft_json: j(draft), draft_updated_at: now, published_version: null, created_at: now, updated_at: now })
    .execute();
}

export async function saveDraft(db: Db, key: string, draft: Definition | null, now: string): Promise<void> {
  const set: Partial<DB['workflows']> = { draft_json: draft === null ? null : j(draft), draft_updated_at: now, updated_at: now };
  if (draft) set.name = draft.name;
  await db.updateTable('workflows').set(set).where('key', '=', key).execute();
}

export async function publishVersion(db: Db, key: string, definition: Definition, by: string, now: string): Promise<number> {
  const last = await db
    .selectFrom('workflow_versions')
    .select((eb) => eb.fn.max('version').as('m'))
    .where('workflow', '=', key)
    .executeTakeFirst();
  const version = Number(last?.m ?? 0) + 1;
  await db
    .insertInto('workflow_versions')
    .values({ workflow: key, version, definition_json: j(definition), published_at: now, published_by: by })
    .execute();
  await db
    .updateTable('workflows')
    .set({ published_version: version, name: definition.name, draft_json: null, draft_updated_at: null, updated_at: now })
    .where('key', '=', key)
    .execute();
  bumpConfigEpoch();
  return version;
}

// ---------- tokens ----------

export async function insertToken(
  db: Db,
  t: { id: string; hash: string; role: string; name: string | null; now: string; expiresAt?: string | null },
): Promise<void> {
  await db
    .insertInto('tokens')
    .values({
      id: t.id,
      hash: t.hash,
      role: t.role,
      name: t.name,
      created_at: t.now,
      revoked_at: null,
      last_used_at: null,
      expires_at: t.expiresAt ?? null,
    })
    .execute();
}

export async function findTokenByHash(db: Db, hash: string) {
  return db.selectFrom('tokens').selectAll().where('hash', '=', hash).where('revoked_at', 'is', null).executeTakeFirst();
}

export async function touchToken(db: Db, id: string, now: string): Promise<void> {
  await db.updateTable('tokens').set({ last_used_at: now }).where('id', '=', id).execute();
}

/** A token as the API lists it: never its secret or hash. */
export interface TokenRecord {
  id: string;
  name: string | null;
  role: string;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
}

export async function listTokens(db: Db, f: { limit: number; after?: string }): Promise<TokenRecord[]> {
  let q = db.selectFrom('tokens').selectAll().where('revoked_at', 'is', null);
  if (f.after) q = q.where('id', '>', f.after);
  const rows = await q.orderBy('id').limit(f.limit).execute();
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    role: r.role,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    expiresAt: r.expires_at,
  }));
}

// ---------- templates ----------

/** An email template as stored. */
export interface TemplateRecord {
  key: string;
  subject: string;
  html: string;
  text: string | null;
  description: string | null;
  updatedAt: string;
}

export async function listTemplates(db: Db): Promise<TemplateRecord[]> {
  const rows = await db.selectFrom('templates').selectAll().orderBy('key').execute();
  return rows.map((r) => ({
    key: r.key,
    subject: r.subject,
    html: r.html,
    text: r.text,
    description: r.description,
    updatedAt: r.updated_at,
  }));
}

export async function getTemplate(db: Db, key: string): Promise<TemplateRecord | undefined> {
  const r = await db.selectFrom('templates').selectAll().where('key', '=', key).executeTakeFirst();
  return r
    ? { key: r.key, subject: r.subject, html: r.html, text: r.text, description: r.description, updatedAt: r.updated_at }
    : undefined;
}

export async function upsertTemplate(
  db: Db,
  t: { key: string; subject: string; html: string; text?: string | null; description?: string | null },
  now: string,
): Promise<void> {
  const values = {
    key: t.key,
    subject: t.subject,
    html: t.html,
    text: t.text ?? null,
    description: t.description ?? null,
    updated_at: now,
  };
  await db
    .insertInto('templates')
    .values(values)
    .onConflict((oc) =>
      oc
        .column('key')
        .doUpdateSet({ subject: values.subject, html: values.html, text: values.text, description: values.description, updated_at: now }),
    )
    .execute();
}

export async function deleteTemplate(db: Db, key: string): Promise<boolean> {
  const r = await db.deleteFrom('templates').where('key', '=', key).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

// ---------- settings ----------

export async function getSetting<T>(db: Db, key: string): Promise<T | undefined> {
  const r = await db.selectFrom('settings').select('value_json').where('key', '=', key).executeTakeFirst();
  return r ? p<T>(r.value_json) : undefined;
}

export async function putSetting(db: Db, key: string, value: unknown): Promise<void> {
  await db
    .insertInto('settings')
    .values({ key, value_json: j(value) })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value_json: j(value) }))
    .execute();
  bumpConfigEpoch();
}
