import type { AutomationState } from '@orderflow/core';
import type { Kysely, QueryResult, Selectable } from 'kysely';
import { exec, insertRows } from './changes.js';
import type { DB } from './schema.js';

/**
 * The job queue of the outbox and the timers: claim, renew, release and complete. Both tables
 * share the claim columns (`status`, `lease_until`, `lease_token`, `rule_id`, `id`); a claim sets a
 * lease and a fresh fencing token, and every completion matches the token, so a worker whose
 * lease was taken over cannot complete the row. All time is bound as a parameter.
 */

/** The two queues. */
export type QueueTable = 'deliveries' | 'timers';

export type DeliveryRow = Selectable<DB['deliveries']>;
export type TimerRow = Selectable<DB['timers']>;

/** What {@link claimDue} needs. */
export interface ClaimOptions {
  /** Now, as ISO text: rows due at or before it whose lease ran out are claimed. */
  now: string;
  /** The lease end written on the claimed rows. */
  leaseUntil: string;
  /** The fencing token written on the claimed rows. */
  token: string;
  limit: number;
  /** Paused workflows and rules hold their rows back. */
  automation: AutomationState;
  /** `FOR UPDATE SKIP LOCKED` (the store's `capabilities.rowLocks`). */
  rowLocks: boolean;
  /** Deliveries only: bounds what the claim takes per destination (see {@link DestinationQuota}). */
  destinations?: DestinationQuota;
}

/**
 * What a claimer holds per destination, and how much it may hold: a claim of deliveries passes
 * over the rows of a destination once `held` plus what the claim took reaches `quota`, and takes
 * rows due after them instead. A destination whose room (`quota` minus `held`) is less than
 * `least` is passed over from the start, so a claim never takes fewer than `least` rows of a
 * destination unless fewer are due. Rows without a `destination` (queued before it was recorded)
 * are never held back.
 */
export interface DestinationQuota {
  /** Most deliveries of one destination the claimer may hold claimed and not yet sent. */
  quota: number;
  /**
   * Fewest rows a claim takes of one destination: it passes over a destination with less room
   * than this (capped at `quota`, so one not held is never passed over). @default 1
   */
  least?: number;
  /** What it holds already (claimed and not yet sent), per destination. */
  held: ReadonlyMap<string, number>;
  /** How far, in due order, a claim looks past destinations it passes over. @default {@link PASS_OVER_WINDOW} */
  window?: number;
}

/**
 * How many due deliveries, oldest first, a claim that passes over destinations looks through for
 * rows of others. It bounds the work of one claim: without it, a backlog of a destination at its
 * quota (100,000 rows for a receiver that is down) would be read past, row by row, on every claim,
 * holding SQLite's one connection for as long. Rows due behind more than this many rows of
 * destinations at their quota wait until those are sent (as all rows did behind a full pipeline).
 */
export const PASS_OVER_WINDOW = 1000;

/** A statement's text and its parameters, in order. */
interface Statement {
  sql: string;
  params: unknown[];
}

/**
 * Statement texts by shape (table, list lengths, options): each shape is written out once, so
 * every call hands the dialect the same string and the statement stays prepared.
 */
const shapes = new Map<string, string>();
function shaped(key: string, make: () => string): string {
  let text = shapes.get(key);
  if (text === undefined) {
    text = make();
    // Unusual list lengths are not worth keeping.
    if (shapes.size < 1000) shapes.set(key, text);
  }
  return text;
}

/** `?, ?, …` for `n` values. */
const marks = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

/** The column a queue orders and picks its due rows by. */
const dueColumn = (table: QueueTable): string => (table === 'deliveries' ? 'next_attempt_at' : 'due_at');

/** `list` padded with its last item to a power-of-two length, so few statement texts stay prepared. */
function padded(list: readonly string[]): string[] {
  const out = [...list];
  while ((out.length & (out.length - 1)) !== 0) out.push(out[out.length - 1] as string);
  return out;
}

/**
 * The condition that leaves out of a claim the rows that paused workflows and rules hold (empty
 * when nothing is paused), and its parameters. Deliveries name their workflow; timers are matched
 * through their order.
 */
function holdPaused(table: QueueTable, s: AutomationState): { key: string; sql: (() => string) | null; params: unknown[] } {
  if (s.workflows.length === 0 && s.rules.length === 0) return { key: '', sql: null, params: [] };
  const pairs = s.rules.map((r) => {
    const at = r.indexOf(':');
    return { workflow: r.slice(0, at), rule: r.slice(at + 1) };
  });
  const ofWorkflows = (n: number) =>
    table === 'deliveries'
      ? `workflow in (${marks(n)})`
      : `order_id in (select orders.id from orders where orders.workflow in (${marks(n)}))`;
  const sql = () => {
    const held = [
      ...(s.workflows.length > 0 ? [ofWorkflows(s.workflows.length)] : []),
      // `is not null` first: a NULL inside NOT(...) would hold rows that belong to no rule.
      ...pairs.map(() => `(rule_id is not null and rule_id = ? and ${ofWorkflows(1)})`),
    ];
    return ` and not (${held.join(' or ')})`;
  };
  return { key: `${s.workflows.length}/${pairs.length}`, sql, params: [...s.workflows, ...pairs.flatMap((p) => [p.rule, p.workflow])] };
}

/**
 * Due, pending, unleased rows of `table` (their `columns`), oldest due first, passing over the
 * destinations in `skip` (looking no further than the first `window` due rows when it does).
 */
function dueRows(
  table: QueueTable,
  columns: 'id' | 'id, destination',
  o: ClaimOptions,
  limit: number,
  skip: readonly string[],
  window = PASS_OVER_WINDOW,
): Statement {
  const due = dueColumn(table);
  const paused = holdPaused(table, o.automation);
  const skipped = skip.length === 0 ? [] : padded(skip);
  const sql = shaped(`due:${table}:${columns}:${paused.key}:${skipped.length}:${o.rowLocks}`, () => {
    let text = `select ${columns} from ${table} where status = 'pending' and (lease_until is null or lease_until <= ?)`;
    text += paused.sql?.() ?? '';
    if (skipped.length === 0) {
      text += ` and ${due} <= ?`;
    } else {
      // Only the first `window` rows in due order: up to the due time of the last of them, read from
      // the index (never later than now). It is the only upper bound, so the index range ends there.
      text +=
        ` and (destination is null or destination not in (${marks(skipped.length)}))` +
        ` and ${due} <= coalesce((select w.next_attempt_at from deliveries as w where w.status = 'pending'` +
        ' and w.next_attempt_at <= ? order by w.next_attempt_at limit 1 offset ?), ?)';
    }
    text += ` order by ${due}, id limit ?`;
    if (o.rowLocks) text += ' for update skip locked';
    return text;
  });
  const params: unknown[] = [o.now, ...paused.params];
  if (skipped.length === 0) params.push(o.now);
  else params.push(...skipped, o.now, Math.max(1, window) - 1, o.now);
  params.push(limit);
  return { sql, params };
}

/** Rows in due order (RETURNING keeps none). */
function byDue<R extends DeliveryRow | TimerRow>(table: QueueTable, rows: R[]): R[] {
  const due = dueColumn(table) as 'next_attempt_at';
  const at = (r: R) => (r as DeliveryRow)[due];
  return rows.sort((a, b) => (at(a) < at(b) ? -1 : at(a) > at(b) ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Rounds of picking at most one claim of deliveries makes (each holds back at least one more destination). */
const PICK_ROUNDS = 4;

/**
 * Claims due pending rows of `table` inside `tx` (the caller's write transaction), oldest due
 * first: one statement sets the lease on the rows a subquery picks and returns them. A claim of
 * deliveries with {@link ClaimOptions.destinations} passes over the rows of destinations with less
 * room than `least` and of those it fills to their quota: in the same one statement while the
 * claim cannot take a destination past its quota, else by reading the due rows' destinations
 * first and leasing the ones within the quota.
 */
export async function claimDue(tx: Kysely<DB>, table: 'deliveries', o: ClaimOptions): Promise<DeliveryRow[]>;
export async function claimDue(tx: Kysely<DB>, table: 'timers', o: ClaimOptions): Promise<TimerRow[]>;
export async function claimDue(tx: Kysely<DB>, table: QueueTable, o: ClaimOptions): Promise<DeliveryRow[] | TimerRow[]> {
  const d = table === 'deliveries' ? o.destinations : undefined;
  if (d === undefined) return byDue(table, await leaseDue(tx, table, o, dueRows(table, 'id', o, o.limit, [])));
  const skip: string[] = [];
  const least = Math.max(1, Math.min(d.least ?? 1, d.quota));
  // A destination not held yet may take the whole claim, or one held may be taken past its quota.
  let tight = d.quota < o.limit;
  for (const [destination, n] of d.held) {
    if (d.quota - n < least) skip.push(destination);
    else if (d.quota - n < o.limit) tight = true;
  }
  if (!tight) return byDue(table, await leaseDue(tx, table, o, dueRows(table, 'id', o, o.limit, skip, d.window)));
  return byDue(table, await pickByDestination(tx, o, d, skip));
}

/**
 * Claims deliveries within their destinations' quota: reads the due rows' destinations, leases
 * those within the quota, and when it passed over a destination that reached its quota, reads
 * again without it (the leased rows are no longer due), for at most {@link PICK_ROUNDS} rounds.
 */
async function pickByDestination(tx: Kysely<DB>, o: ClaimOptions, d: DestinationQuota, skip: string[]): Promise<DeliveryRow[]> {
  const taken = new Map<string, number>();
  const out: DeliveryRow[] = [];
  for (let round = 0; round < PICK_ROUNDS && out.length < o.limit; round++) {
    const limit = o.limit - out.length;
    const q = dueRows('deliveries', 'id, destination', o, limit, skip, d.window);
    const due = (await exec<{ id: string; destination: string | null }>(tx, q.sql, q.params)).rows;
    const ids: string[] = [];
    let passedOver = false;
    for (const r of due) {
      if (r.destination === null) {
        ids.push(r.id);
        continue;
      }
      const took = taken.get(r.destination) ?? 0;
      if ((d.held.get(r.destination) ?? 0) + took < d.quota) {
        ids.push(r.id);
        taken.set(r.destination, took + 1);
        continue;
      }
      passedOver = true;
      if (!skip.includes(r.destination)) skip.push(r.destination);
    }
    if (ids.length > 0) out.push(...(await leaseIds(tx, o, padded(ids))));
    // Read everything that was due, or took it all: nothing more to find.
    if (!passedOver || due.length < limit) break;
  }
  return out;
}

/** Sets the claim's lease and token on the rows the select `ids` picks (their ids); answers them. */
async function leaseDue(tx: Kysely<DB>, table: QueueTable, o: ClaimOptions, ids: Statement): Promise<DeliveryRow[]> {
  const sql = shaped(
    `lease:${table}:${ids.sql}`,
    () => `update ${table} set lease_until = ?, lease_token = ? where id in (${ids.sql}) returning *`,
  );
  return (await exec<DeliveryRow>(tx, sql, [o.leaseUntil, o.token, ...ids.params])).rows;
}

/** Sets the claim's lease and token on the deliveries `ids` names (a row named twice is updated once); answers them. */
async function leaseIds(tx: Kysely<DB>, o: ClaimOptions, ids: readonly string[]): Promise<DeliveryRow[]> {
  const sql = shaped(
    `lease-ids:${ids.length}`,
    () => `update deliveries set lease_until = ?, lease_token = ? where id in (${marks(ids.length)}) returning *`,
  );
  return (await exec<DeliveryRow>(tx, sql, [o.leaseUntil, o.token, ...ids])).rows;
}

const RENEW = {
  deliveries: "update deliveries set lease_until = ? where status = 'pending' and lease_token = ?",
  timers: "update timers set lease_until = ? where status = 'pending' and lease_token = ?",
};

/** Extends the lease of every row still held under `token`. */
export async function renewLeases(db: Kysely<DB>, table: QueueTable, token: string, until: string): Promise<void> {
  // Claimed rows are pending: the status narrows the scan to the small pending part of the table.
  await exec(db, RENEW[table], [until, token]);
}

const RELEASE = {
  deliveries: 'update deliveries set lease_until = null, lease_token = null where id = ? and lease_token = ?',
  timers: 'update timers set lease_until = null, lease_token = null where id = ? and lease_token = ?',
};

/** Gives a claimed row back (its lease ends now), if `token` still holds it. */
export async function releaseClaim(db: Kysely<DB>, table: QueueTable, id: string, token: string): Promise<void> {
  await exec(db, RELEASE[table], [id, token]);
}

const HOLDS = 'select id from deliveries where id = ? and lease_token = ?';

/** True when `token` still holds the delivery. */
export async function holdsDelivery(db: Kysely<DB>, id: string, token: string): Promise<boolean> {
  return (await exec(db, HOLDS, [id, token])).rows.length > 0;
}

/** Rows one statement changed. */
const changed = (r: QueryResult<unknown>): number => Number(r.numAffectedRows ?? 0);

/** One delivery attempt's result, as {@link completeDeliveries} records it. */
export interface DeliveryCompletion {
  id: string;
  token: string;
  status: 'delivered' | 'pending' | 'failed' | 'dead';
  attempt: number;
  nextAttemptAt: string;
  error: string | null;
  /** Now, as ISO text: `updated_at`, and `delivered_at` when delivered. */
  at: string;
  /** The attempt row (`delivery_attempts`). */
  attemptRow: {
    id: string;
    startedAt: string;
    durationMs: number;
    outcome: 'delivered' | 'retry' | 'failed' | 'dead';
    statusCode: number | null;
    responseBody: string | null;
  };
}

/**
 * Most rows one completion statement names. Statements over a list come in power-of-two sizes
 * only, so a handful of texts stay prepared whatever the batch size.
 */
const CHUNK = 64;

/** `items` cut into chunks whose sizes are powers of two, at most {@link CHUNK}. */
function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  let at = 0;
  while (at < items.length) {
    let size = CHUNK;
    while (size > items.length - at) size >>= 1;
    out.push(items.slice(at, at + size));
    at += size;
  }
  return out;
}

/** The delivered update of `n` ids (a power of two). */
const deliveredText = (n: number): string =>
  shaped(
    `delivered:${n}`,
    () =>
      "update deliveries set status = 'delivered', attempts = ?, lease_until = null, lease_token = null, last_error = null," +
      ` updated_at = ?, delivered_at = ? where id in (${marks(n)}) and lease_token = ? returning id`,
  );

const COMPLETE_ONE =
  'update deliveries set status = ?, attempts = ?, next_attempt_at = ?, lease_until = null, lease_token = null,' +
  ' last_error = ?, updated_at = ? where id = ? and lease_token = ?';

const ATTEMPT_COLUMNS = ['id', 'delivery_id', 'attempt', 'at', 'duration_ms', 'outcome', 'status_code', 'response_body', 'error'] as const;

/**
 * Records attempts: each delivery's new status and its attempt row. Answers the completions it
 * recorded; one whose `token` no longer holds its delivery is left out, and nothing is written
 * for it. Deliveries delivered on the same claim and attempt are updated by one statement (the
 * common case); the others, whose error and next attempt differ, one by one. The attempt rows
 * are inserted together (in power-of-two chunks).
 */
export async function completeDeliveries(tx: Kysely<DB>, list: readonly DeliveryCompletion[]): Promise<Set<DeliveryCompletion>> {
  const held = new Set<DeliveryCompletion>();
  const delivered = new Map<string, DeliveryCompletion[]>();
  for (const c of list) {
    if (c.status !== 'delivered') continue;
    const key = `${c.token}\u0000${c.attempt}\u0000${c.at}`;
    const group = delivered.get(key);
    if (group) group.push(c);
    else delivered.set(key, [c]);
  }
  for (const group of delivered.values()) {
    const { token, attempt, at } = group[0] as DeliveryCompletion;
    for (let from = 0; from < group.length; from += CHUNK) {
      const part = group.slice(from, from + CHUNK);
      // Padded to a power of two with its last id; a row named twice is updated once.
      const ids = padded(part.map((c) => c.id));
      const rows = (await exec<{ id: string }>(tx, deliveredText(ids.length), [attempt, at, at, ...ids, token])).rows;
      // One claim holds a delivery once: within a group, the id names the completion.
      const byId = new Map(part.map((c) => [c.id, c]));
      for (const r of rows) held.add(byId.get(r.id) as DeliveryCompletion);
    }
  }
  for (const c of list) {
    if (c.status === 'delivered') continue;
    const u = await exec(tx, COMPLETE_ONE, [c.status, c.attempt, c.nextAttemptAt, c.error, c.at, c.id, c.token]);
    if (changed(u) === 1) held.add(c);
  }
  const attempts = list.filter((c) => held.has(c));
  for (const part of chunks(attempts)) {
    await insertRows(
      tx,
      'delivery_attempts',
      ATTEMPT_COLUMNS,
      part.map((c) => [
        c.attemptRow.id,
        c.id,
        c.attempt,
        c.attemptRow.startedAt,
        c.attemptRow.durationMs,
        c.attemptRow.outcome,
        c.attemptRow.statusCode,
        c.attemptRow.responseBody,
        c.error,
      ]),
    );
  }
  return held;
}

const COMPLETE_TIMER =
  'update timers set status = ?, fired_at = ?, lease_until = null, lease_token = null where id = ? and lease_token = ?';

/** Marks a claimed timer fired or failed. Returns false when `token` no longer holds it. */
export async function completeTimer(
  tx: Kysely<DB>,
  id: string,
  token: string,
  status: 'fired' | 'failed',
  firedAt: string,
): Promise<boolean> {
  return changed(await exec(tx, COMPLETE_TIMER, [status, firedAt, id, token])) === 1;
}

const NEXT_DUE =
  "select (select min(next_attempt_at) from deliveries where status = 'pending') as delivery," +
  " (select min(due_at) from timers where status = 'pending') as timer";

/** The earliest due time of a pending delivery and of a pending timer (null where none is pending). */
export async function nextDueTimes(db: Kysely<DB>): Promise<{ delivery: string | null; timer: string | null }> {
  const r = (await exec<{ delivery: unknown; timer: unknown }>(db, NEXT_DUE, [])).rows[0];
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  return { delivery: text(r?.delivery), timer: text(r?.timer) };
}

// ---------- backlog, for metrics ----------

/** Deliveries per status. */
export async function countDeliveriesByStatus(db: Kysely<DB>): Promise<{ status: string; n: number }[]> {
  const rows = await db
    .selectFrom('deliveries')
    .select((eb) => ['status', eb.fn.countAll<number>().as('n')])
    .groupBy('status')
    .execute();
  return rows.map((r) => ({ status: r.status, n: Number(r.n) }));
}

/** The due time of the oldest pending row of `table` that is due at `now` (null when none is). */
export async function oldestDue(db: Kysely<DB>, table: QueueTable, now: string): Promise<string | null> {
  const due = (table === 'deliveries' ? 'next_attempt_at' : 'due_at') as 'next_attempt_at';
  const r = await db
    .selectFrom(table as 'deliveries')
    .select((eb) => eb.fn.min(due).as('oldest'))
    .where('status', '=', 'pending')
    .where(due, '<=', now)
    .executeTakeFirst();
  return typeof r?.oldest === 'string' ? r.oldest : null;
}

/** Pending timers. */
export async function countPendingTimers(db: Kysely<DB>): Promise<number> {
  const r = await db
    .selectFrom('timers')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('status', '=', 'pending')
    .executeTakeFirst();
  return Number(r?.n ?? 0);
}
