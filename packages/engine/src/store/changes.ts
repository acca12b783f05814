import type { HistoryEntry, Order, OutboxEntry, RuleRun, Timer } from '@orderflow/core';
import { CompiledQuery, type Kysely, type QueryResult, type Selectable } from 'kysely';
import { LATER, LATER_ONE } from './changes-postgres.js';
import { destinationOf } from './destination.js';
import { directRunner } from './direct.js';
import type { DB } from './schema.js';

/**
 * The statements of one change: what every transition, creation and timer runs inside its
 * transaction. They are written out once as SQL text (no query builder on the hot path), and the
 * dialect leaves prepare each distinct text once (SQLite keeps the statement, PostgreSQL names it).
 * Everything else in the store goes through Kysely.
 */

type Db = Kysely<DB>;
const j = (v: unknown): string => JSON.stringify(v);
const p = <T>(s: string | null): T => (s === null ? (null as T) : (JSON.parse(s) as T));

/**
 * Bound parameters one statement may carry. SQLite allows 32766 and PostgreSQL 65535; one
 * multi-row insert past either fails the whole change, so bigger inserts are split.
 */
const MAX_PARAMETERS = 30_000;

/** Splits rows into multi-row inserts that stay under both dialects' parameter limits. */
export function insertBatches<T>(rows: readonly T[], columns: number): T[][] {
  if (rows.length === 0) return [];
  const size = Math.max(1, Math.min(1000, Math.floor(MAX_PARAMETERS / Math.max(1, columns))));
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

// ---------- placeholders ----------

/**
 * How the connection behind `db` numbers its parameters: `?` (SQLite) or `$1, $2…` (PostgreSQL).
 * Learnt once per Kysely adapter by compiling a tiny query, so no dialect name is checked here.
 */
const numbered = new WeakMap<object, boolean>();
function usesNumberedParameters(db: Db): boolean {
  const adapter = db.getExecutor().adapter;
  let hit = numbered.get(adapter);
  if (hit === undefined) {
    hit = db.selectFrom('orders').select('id').where('id', '=', '').compile().sql.includes('$1');
    numbered.set(adapter, hit);
  }
  return hit;
}

/**
 * A write whose result the change does not wait for (`later`), or that must change exactly one
 * row (`one`). The PostgreSQL leaf holds such writes and sends a change's writes together (see
 * changes-postgres.ts); the numbered text carries the mark, SQLite's text is left as it is.
 */
type Later = 'later' | 'one';

/** SQL texts with `?` placeholders, rewritten once for dialects that number them. */
const texts = new Map<string, { plain: string; numbered: string; later: string; one: string }>();
function textFor(db: Db, sql: string, later?: Later): string {
  let t = texts.get(sql);
  if (t === undefined) {
    let n = 0;
    const numbered = sql.replace(/\?/g, () => `$${++n}`);
    t = { plain: sql, numbered, later: LATER + numbered, one: LATER_ONE + numbered };
    // Multi-row inserts of unusual sizes are not worth keeping.
    if (texts.size < 2000) texts.set(sql, t);
  }
  if (!usesNumberedParameters(db)) return t.plain;
  return later === undefined ? t.numbered : t[later];
}

/**
 * Runs one statement written with `?` placeholders: at once on the connection when `db` is a
 * transaction with a direct runner (SQLite), else as raw SQL (numbered for PostgreSQL).
 */
export function exec<R>(db: Db, sql: string, params: unknown[], later?: Later): Promise<QueryResult<R>> {
  const direct = directRunner(db);
  if (direct) {
    try {
      return Promise.resolve(direct(sql, params) as QueryResult<R>);
    } catch (e) {
      return Promise.reject(e);
    }
  }
  return db.executeQuery<R>(CompiledQuery.raw(textFor(db, sql, later), params));
}

/** `(?, ?, …), (?, ?, …)` for `rows` rows of `columns` values. */
const valueLists = new Map<string, string>();
function values(rows: number, columns: number): string {
  const key = `${rows}x${columns}`;
  let v = valueLists.get(key);
  if (v === undefined) {
    const one = `(${Array.from({ length: columns }, () => '?').join(', ')})`;
    v = Array.from({ length: rows }, () => one).join(', ');
    if (valueLists.size < 500) valueLists.set(key, v);
  }
  return v;
}

/**
 * The text of an insert of `rows` rows into `table`: made once per table, column list and row
 * count, so each call hands the statement cache the same string (whose hash is kept) instead of a
 * new one. Keyed by the column list itself (each caller passes its own constant).
 */
const insertTexts = new WeakMap<readonly string[], Map<string, string>>();
function insertText(table: string, columns: readonly string[], rows: number): string {
  let byRows = insertTexts.get(columns);
  if (byRows === undefined) {
    byRows = new Map();
    insertTexts.set(columns, byRows);
  }
  const key = `${table}:${rows}`;
  let text = byRows.get(key);
  if (text === undefined) {
    text = `insert into ${table} (${columns.join(', ')}) values ${values(rows, columns.length)}`;
    if (byRows.size < 100) byRows.set(key, text);
  }
  return text;
}

/** The rows' values one after the other (a plain loop: `Array.prototype.flat` is several times slower). */
function flatten(rows: unknown[][], columns: number): unknown[] {
  const out = new Array<unknown>(rows.length * columns);
  let k = 0;
  for (const row of rows) for (const v of row) out[k++] = v;
  return out;
}

/** Inserts `rows` (arrays of values in `columns` order) in as few statements as the limits allow. */
export async function insertRows(db: Db, table: string, columns: readonly string[], rows: unknown[][]): Promise<void> {
  if (rows.length === 1) {
    await exec(db, insertText(table, columns, 1), rows[0] as unknown[], 'later');
    return;
  }
  for (const batch of insertBatches(rows, columns.length)) {
    await exec(db, insertText(table, columns, batch.length), flatten(batch, columns.length), 'later');
  }
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

/**
 * The columns a change may alter. An order's id, workflow, kind, external reference and creation
 * time never change after it is created, and an UPDATE that does not name them leaves their
 * indexes alone (SQLite rewrites every index on a column the SET names, changed or not).
 */
const MUTABLE_ORDER_COLUMNS = [
  'workflow_version',
  'state',
  'grp',
  'data_json',
  'facts_json',
  'cancellation_json',
  'links_json',
  'version',
  'visit',
  'updated_at',
  'state_entered_at',
] as const;
const COUNTER_COLUMNS = ['history_seq', 'rule_entries_json', 'timers_visit'] as const;
const FIXED_ORDER_COLUMNS = ['id', 'workflow', 'kind', 'external_ref', 'created_at'] as const;

function mutableValues(o: Order): unknown[] {
  return [
    o.workflowVersion,
    o.state,
    o.group,
    j(o.data),
    j(o.facts),
    o.cancellation === null ? null : j(o.cancellation),
    j(o.links),
    o.version,
    o.visit,
    o.updatedAt,
    o.stateEnteredAt,
  ];
}

const counterValues = (c: OrderCounters | undefined): unknown[] => [
  c?.historySeq ?? 0,
  c?.ruleEntries ? j(c.ruleEntries) : null,
  c?.timersVisit ?? null,
];

export async function getOrder(db: Db, id: string): Promise<Order | undefined> {
  const r = (await exec<Selectable<DB['orders']>>(db, 'select * from orders where id = ?', [id])).rows[0];
  return r ? rowToOrder(r) : undefined;
}

/**
 * What a change keeps on the order row besides the order: the seq of its last history entry;
 * per state, when rules moved it there within the last hour (the loop guard); and the last visit
 * that may have pending visit-bound timers. They are read with the order and written with it, so
 * a change needs no history query, and leaving a visit without timers touches no timer row.
 */
export interface OrderCounters {
  historySeq: number;
  /** `null` on rows written before the counters existed: the guard then counts the history once. */
  ruleEntries: Record<string, string[]> | null;
  /** No pending visit-bound timer belongs to a later visit (0: none ever); `null`: not known. */
  timersVisit: number | null;
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
  const sql = lock ? 'select * from orders where id = ? for update' : 'select * from orders where id = ?';
  const r = (await exec<Selectable<DB['orders']>>(db, sql, [id])).rows[0];
  if (!r) return undefined;
  const counters = {
    historySeq: Number(r.history_seq),
    ruleEntries: p<Record<string, string[]> | null>(r.rule_entries_json),
    timersVisit: r.timers_visit === null || r.timers_visit === undefined ? null : Number(r.timers_visit),
  };
  return { order: rowToOrder(r), counters };
}

export async function findOrderByExternalRef(db: Db, workflow: string, externalRef: string): Promise<Order | undefined> {
  const r = (
    await exec<Selectable<DB['orders']>>(db, 'select * from orders where workflow = ? and external_ref = ?', [workflow, externalRef])
  ).rows[0];
  return r ? rowToOrder(r) : undefined;
}

const INSERT_ORDER = `insert into orders (${[...FIXED_ORDER_COLUMNS, ...MUTABLE_ORDER_COLUMNS, ...COUNTER_COLUMNS].join(', ')}) values (${[
  ...FIXED_ORDER_COLUMNS,
  ...MUTABLE_ORDER_COLUMNS,
  ...COUNTER_COLUMNS,
]
  .map(() => '?')
  .join(', ')})`;

export async function insertOrder(db: Db, o: Order, counters?: OrderCounters): Promise<void> {
  await exec(
    db,
    INSERT_ORDER,
    [o.id, o.workflow, o.kind, o.externalRef, o.createdAt, ...mutableValues(o), ...counterValues(counters)],
    'later',
  );
}

const assignments = (columns: readonly string[]) => columns.map((c) => `${c} = ?`).join(', ');
const UPDATE_ORDER = `update orders set ${assignments([...MUTABLE_ORDER_COLUMNS, ...COUNTER_COLUMNS])} where id = ? and version = ?`;
const UPDATE_ORDER_KEEP_COUNTERS = `update orders set ${assignments(MUTABLE_ORDER_COLUMNS)} where id = ? and version = ?`;

/**
 * Updates an order only if it still has `previousVersion`; false when someone else changed it first.
 * With `counters`, they are written too (the caller appends the history with the seq they imply).
 */
export async function updateOrder(db: Db, o: Order, previousVersion: number, counters?: OrderCounters): Promise<boolean> {
  const r = counters
    ? await exec(db, UPDATE_ORDER, [...mutableValues(o), ...counterValues(counters), o.id, previousVersion], 'one')
    : await exec(db, UPDATE_ORDER_KEEP_COUNTERS, [...mutableValues(o), o.id, previousVersion], 'one');
  return Number(r.numAffectedRows ?? 0) === 1;
}

// ---------- history ----------

const HISTORY_COLUMNS = ['order_id', 'seq', 'id', 'at', 'type', 'to_state', 'rule_id', 'actor_type', 'entry_json'];
/** The same, and the rule runs the last entry carries (0009_history_rule_runs). */
const HISTORY_RUN_COLUMNS = [
  ...HISTORY_COLUMNS,
  'runs_key',
  'runs_first',
  'runs_workflow',
  'runs_rule_ids',
  'runs_count',
  'runs_matched',
  'runs_json',
];

/**
 * Appends history entries after `afterSeq` (the order row's `history_seq`, which the caller
 * writes with the order). Without it, the last seq is looked up and the row's counter set, and
 * entries without a version get the order's current one. `runs`, the rule runs the same change
 * made for this order (all of one workflow; see {@link historyCanHoldRuns}), are stored in the
 * last entry's row.
 */
export async function appendHistory(
  db: Db,
  orderId: string,
  entries: HistoryEntry[],
  afterSeq?: number,
  runs: RuleRun[] = [],
): Promise<HistoryEntry[]> {
  if (entries.length === 0) return [];
  let seq = afterSeq ?? -1;
  let version: number | undefined;
  if (afterSeq === undefined) {
    const last = await exec<{ m: number | string | null; v: number | string | null }>(
      db,
      'select (select max(seq) from history where order_id = ?) as m, (select version from orders where id = ?) as v',
      [orderId, orderId],
    );
    seq = Number(last.rows[0]?.m ?? 0);
    const v = last.rows[0]?.v;
    if (v !== null && v !== undefined) version = Number(v);
    await exec(db, 'update orders set history_seq = ? where id = ?', [seq + entries.length, orderId]);
  }
  // Entries written outside a decision (the worker's) carry the order's version as it stands.
  const stored = entries.map((e) => ({ ...e, ...(e.version === undefined && version !== undefined ? { version } : {}), seq: ++seq }));
  const rows = stored.map((e) => [orderId, e.seq, e.id, e.at, e.type, e.to ?? null, e.ruleId ?? null, e.actor.type, j(e)]);
  if (runs.length === 0) {
    await insertRows(db, 'history', HISTORY_COLUMNS, rows);
    return stored;
  }
  const last = stored[stored.length - 1] as (typeof stored)[number];
  const set = ruleRunSet(runs, last.at);
  const held = [set.last, set.first, (runs[0] as RuleRun).workflow, set.ruleIds, runs.length, set.matched, set.json];
  const none = held.map(() => null);
  const withRuns = rows.map((row, k) => [...row, ...(k === rows.length - 1 ? held : none)]);
  await insertRows(db, 'history', HISTORY_RUN_COLUMNS, withRuns);
  return stored;
}

// ---------- outbox ----------

const DELIVERY_COLUMNS = [
  'id',
  'order_id',
  'workflow',
  'type',
  'rule_id',
  'action_json',
  'envelope_json',
  'status',
  'attempts',
  'next_attempt_at',
  'lease_until',
  'lease_token',
  'last_error',
  'created_at',
  'updated_at',
  'delivered_at',
  'destination',
];

/** Enqueues deliveries: pending, due at once. */
export async function insertDeliveries(db: Db, entries: OutboxEntry[]): Promise<void> {
  await insertRows(
    db,
    'deliveries',
    DELIVERY_COLUMNS,
    entries.map((d) => [
      d.id,
      d.orderId,
      d.workflow,
      d.type,
      d.ruleId,
      j(d.action),
      j(d.envelope),
      'pending',
      0,
      d.createdAt,
      null,
      null,
      null,
      d.createdAt,
      d.createdAt,
      null,
      destinationOf(d.action),
    ]),
  );
}

// ---------- timers ----------

const TIMER_COLUMNS = [
  'id',
  'order_id',
  'kind',
  'due_at',
  'state',
  'visit',
  'scope',
  'rule_id',
  'action_index',
  'payload_json',
  'status',
  'lease_until',
  'lease_token',
  'created_at',
  'fired_at',
];

export async function insertTimers(db: Db, timers: Timer[], now: string): Promise<void> {
  await insertRows(
    db,
    'timers',
    TIMER_COLUMNS,
    timers.map((t) => [
      t.id,
      t.orderId,
      t.kind,
      t.dueAt,
      t.state,
      t.visit,
      t.scope,
      t.ruleId ?? null,
      t.actionIndex ?? null,
      t.payload === undefined ? null : j(t.payload),
      'pending',
      null,
      null,
      now,
      null,
    ]),
  );
}

/** One timer row, as stored. */
export async function getTimerRow(db: Db, id: string): Promise<Selectable<DB['timers']> | undefined> {
  return (await exec<Selectable<DB['timers']>>(db, 'select * from timers where id = ?', [id])).rows[0];
}

/** Cancels the pending visit-bound timers of one state visit (the order left it). */
export async function cancelVisitTimers(db: Db, orderId: string, visit: number): Promise<void> {
  await exec(
    db,
    "update timers set status = 'cancelled' where order_id = ? and visit = ? and scope = 'visit' and status = 'pending'",
    [orderId, visit],
    'later',
  );
}

/**
 * Changes one pending timer's due time and state. Clearing the lease fences out a
 * worker that claimed it meanwhile. False when it is no longer pending.
 */
export async function updatePendingTimer(db: Db, id: string, set: { dueAt: string; state?: string }): Promise<boolean> {
  const r =
    set.state === undefined
      ? await exec(db, "update timers set due_at = ?, lease_until = null, lease_token = null where id = ? and status = 'pending'", [
          set.dueAt,
          id,
        ])
      : await exec(
          db,
          "update timers set due_at = ?, state = ?, lease_until = null, lease_token = null where id = ? and status = 'pending'",
          [set.dueAt, set.state, id],
        );
  return Number(r.numAffectedRows ?? 0) > 0;
}

/** Cancels one pending timer, fencing out a worker that claimed it. False when it is no longer pending. */
export async function cancelPendingTimer(db: Db, id: string): Promise<boolean> {
  const r = await exec(
    db,
    "update timers set status = 'cancelled', lease_until = null, lease_token = null where id = ? and status = 'pending'",
    [id],
  );
  return Number(r.numAffectedRows ?? 0) > 0;
}

// ---------- rule runs ----------

const RULE_RUN_SET_COLUMNS = ['last_id', 'first_id', 'order_id', 'workflow', 'at', 'rule_ids', 'runs', 'matched', 'runs_json'];

/**
 * Whether one history row can hold `runs` (those of one change for one order): they must share
 * one workflow, the row's `runs_workflow`.
 */
export function historyCanHoldRuns(runs: readonly RuleRun[]): boolean {
  const head = runs[0];
  return head !== undefined && runs.every((r) => r.workflow === head.workflow);
}

/**
 * The stored form of the runs one change made for one order, in order: the greatest and least run
 * id (`last`, the set's key, and `first`), the rule ids (`,a,b,`), how many matched, and the runs'
 * JSON without what the columns hold (each run's `at` only where it is not `at`). `setToRuleRuns`
 * (in rule-runs.ts) puts them back.
 */
function ruleRunSet(set: readonly RuleRun[], at: string): { last: string; first: string; ruleIds: string; matched: number; json: string } {
  const head = set[0] as RuleRun;
  let first = head.id;
  let last = head.id;
  let matched = 0;
  let ruleIds = ',';
  // One JSON.stringify over plain objects whose keys come in the stored order: about a quarter
  // faster, and a quarter less garbage, than printing each piece and concatenating.
  const stored = new Array<StoredRunOut>(set.length);
  for (let i = 0; i < set.length; i++) {
    const r = set[i] as RuleRun;
    if (r.id < first) first = r.id;
    if (r.id > last) last = r.id;
    if (r.matched) matched++;
    if (!ruleIds.includes(`,${r.ruleId},`)) ruleIds += `${r.ruleId},`;
    stored[i] =
      r.at === at
        ? { id: r.id, ruleId: r.ruleId, trigger: r.trigger, matched: r.matched, conditions: r.conditions, actions: r.actions }
        : { id: r.id, ruleId: r.ruleId, trigger: r.trigger, at: r.at, matched: r.matched, conditions: r.conditions, actions: r.actions };
  }
  return { last, first, ruleIds, matched, json: j(stored) };
}

/** A run as stored in a set's JSON (see {@link ruleRunSet}). */
type StoredRunOut = Pick<RuleRun, 'id' | 'ruleId' | 'trigger' | 'matched' | 'conditions' | 'actions'> & { at?: string };

/**
 * Stores the rule runs of one change that no history row holds (a change that appends history
 * stores its order's runs there, see {@link appendHistory}): one `rule_run_sets` row per order
 * (and workflow) holding its runs in order, so a change writes one row and its two index entries
 * however many rules it evaluated.
 */
export async function insertRuleRuns(db: Db, runs: RuleRun[]): Promise<void> {
  if (runs.length === 0) return;
  const sets = new Map<string, RuleRun[]>();
  for (const r of runs) {
    const key = `${r.orderId}\u0000${r.workflow}`;
    const set = sets.get(key);
    if (set) set.push(r);
    else sets.set(key, [r]);
  }
  const rows: unknown[][] = [];
  for (const set of sets.values()) {
    const head = set[0] as RuleRun;
    const s = ruleRunSet(set, head.at);
    rows.push([s.last, s.first, head.orderId, head.workflow, head.at, s.ruleIds, set.length, s.matched, s.json]);
  }
  await insertRows(db, 'rule_run_sets', RULE_RUN_SET_COLUMNS, rows);
}

// ---------- idempotency ----------

export async function getIdempotency(db: Db, scope: string, key: string): Promise<Selectable<DB['idempotency_keys']> | undefined> {
  return (await exec<Selectable<DB['idempotency_keys']>>(db, 'select * from idempotency_keys where scope = ? and "key" = ?', [scope, key]))
    .rows[0];
}

export async function deleteIdempotency(db: Db, scope: string, key: string): Promise<void> {
  await exec(db, 'delete from idempotency_keys where scope = ? and "key" = ?', [scope, key]);
}

export async function putIdempotency(
  db: Db,
  rec: { scope: string; key: string; hash: string; status: number; body: unknown; now: string },
): Promise<void> {
  await exec(
    db,
    'insert into idempotency_keys (scope, "key", request_hash, response_status, response_json, created_at) values (?, ?, ?, ?, ?, ?)',
    [rec.scope, rec.key, rec.hash, rec.status, j(rec.body), rec.now],
    'later',
  );
}
