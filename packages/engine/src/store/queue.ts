import type { AutomationState } from '@orderflow/core';
import type { Kysely, Selectable, SelectQueryBuilder } from 'kysely';
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

/**
 * Leaves out of a claim the rows that paused workflows and rules hold. Deliveries name their
 * workflow; timers are matched through their order.
 */
export function holdPaused<Q extends SelectQueryBuilder<DB, 'deliveries', Selectable<DB['deliveries']>>>(
  q: Q,
  table: QueueTable,
  s: AutomationState,
): Q {
  const pairs = s.rules.map((r) => {
    const at = r.indexOf(':');
    return { workflow: r.slice(0, at), rule: r.slice(at + 1) };
  });
  if (s.workflows.length === 0 && pairs.length === 0) return q;
  return q.where((eb) => {
    const ofWorkflows = (workflows: string[]) =>
      table === 'deliveries'
        ? eb('workflow', 'in', workflows)
        : eb('order_id', 'in', eb.selectFrom('orders').select('orders.id').where('orders.workflow', 'in', workflows));
    const held = [
      ...(s.workflows.length > 0 ? [ofWorkflows(s.workflows)] : []),
      // `is not null` first: a NULL inside NOT(...) would hold rows that belong to no rule.
      ...pairs.map((p) => eb.and([eb('rule_id', 'is not', null), eb('rule_id', '=', p.rule), ofWorkflows([p.workflow])])),
    ];
    return eb.not(eb.or(held));
  }) as Q;
}

/** `list` padded with its last item to a power-of-two length, so few statement texts stay prepared. */
function padded(list: readonly string[]): string[] {
  const out = [...list];
  while ((out.length & (out.length - 1)) !== 0) out.push(out[out.length - 1] as string);
  return out;
}

/**
 * Due, pending, unleased rows of `table`, oldest due first, passing over the destinations in `skip`
 * (looking no further than the first `window` due rows when it does).
 */
function dueRows(tx: Kysely<DB>, table: QueueTable, o: ClaimOptions, limit: number, skip: readonly string[], window = PASS_OVER_WINDOW) {
  // The casts only name one of the two tables for the query builder's types.
  const due = (table === 'deliveries' ? 'next_attempt_at' : 'due_at') as 'next_attempt_at';
  let q = tx
    .selectFrom(table as 'deliveries')
    .selectAll()
    .where('status', '=', 'pending')
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', o.now)]));
  q = holdPaused(q, table, o.automation);
  if (skip.length === 0) {
    q = q.where(due, '<=', o.now);
  } else {
    q = q.where((eb) => eb.or([eb('destination', 'is', null), eb('destination', 'not in', padded(skip))]));
    // Only the first `window` rows in due order: up to the due time of the last of them, read from
    // the index (never later than now). It is the only upper bound, so the index range ends there.
    const last = tx
      .selectFrom('deliveries as w')
      .select('w.next_attempt_at')
      .where('w.status', '=', 'pending')
      .where('w.next_attempt_at', '<=', o.now)
      .orderBy('w.next_attempt_at')
      .limit(1)
      .offset(Math.max(1, window) - 1);
    q = q.where((eb) => eb(due, '<=', eb.fn.coalesce(last, eb.val(o.now))));
  }
  q = q.orderBy(due).orderBy('id').limit(limit);
  if (o.rowLocks) q = q.forUpdate().skipLocked();
  return q;
}

/** Rows in due order (RETURNING keeps none). */
function byDue<R extends DeliveryRow | TimerRow>(table: QueueTable, rows: R[]): R[] {
  const due = (table === 'deliveries' ? 'next_attempt_at' : 'due_at') as 'next_attempt_at';
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
  if (d === undefined) return byDue(table, await lease(tx, table, o, dueRows(tx, table, o, o.limit, []).clearSelect().select('id')));
  const skip: string[] = [];
  const least = Math.max(1, Math.min(d.least ?? 1, d.quota));
  // A destination not held yet may take the whole claim, or one held may be taken past its quota.
  let tight = d.quota < o.limit;
  for (const [destination, n] of d.held) {
    if (d.quota - n < least) skip.push(destination);
    else if (d.quota - n < o.limit) tight = true;
  }
  if (!tight) return byDue(table, await lease(tx, table, o, dueRows(tx, table, o, o.limit, skip, d.window).clearSelect().select('id')));
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
    const due = await dueRows(tx, 'deliveries', o, limit, skip, d.window).clearSelect().select(['id', 'destination']).execute();
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
    if (ids.length > 0) out.push(...(await lease(tx, 'deliveries', o, padded(ids))));
    // Read everything that was due, or took it all: nothing more to find.
    if (!passedOver || due.length < limit) break;
  }
  return out;
}

/** Sets the claim's lease and token on the rows `ids` names; answers them. */
function lease(
  tx: Kysely<DB>,
  table: QueueTable,
  o: ClaimOptions,
  ids: readonly string[] | SelectQueryBuilder<DB, 'deliveries', { id: string }>,
): Promise<DeliveryRow[]> {
  // A row named twice (padding) is updated once.
  return tx
    .updateTable(table as 'deliveries')
    .set({ lease_until: o.leaseUntil, lease_token: o.token })
    .where('id', 'in', ids)
    .returningAll()
    .execute();
}

/** Extends the lease of every row still held under `token`. */
export async function renewLeases(db: Kysely<DB>, table: QueueTable, token: string, until: string): Promise<void> {
  await db
    .updateTable(table)
    .set({ lease_until: until })
    // Claimed rows are pending: the status narrows the scan to the small pending part of the table.
    .where('status', '=', 'pending')
    .where('lease_token', '=', token)
    .execute();
}

/** Gives a claimed row back (its lease ends now), if `token` still holds it. */
export async function releaseClaim(db: Kysely<DB>, table: QueueTable, id: string, token: string): Promise<void> {
  await db.updateTable(table).set({ lease_until: null, lease_token: null }).where('id', '=', id).where('lease_token', '=', token).execute();
}

/** True when `token` still holds the delivery. */
export async function holdsDelivery(db: Kysely<DB>, id: string, token: string): Promise<boolean> {
  const own = await db.selectFrom('deliveries').select('id').where('id', '=', id).where('lease_token', '=', token).executeTakeFirst();
  return own !== undefined;
}

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
      const ids = part.map((c) => c.id);
      while ((ids.length & (ids.length - 1)) !== 0) ids.push(ids[ids.length - 1] as string);
      const rows = await tx
        .updateTable('deliveries')
        .set({
          status: 'delivered',
          attempts: attempt,
          lease_until: null,
          lease_token: null,
          last_error: null,
          updated_at: at,
          delivered_at: at,
        })
        .where('id', 'in', ids)
        .where('lease_token', '=', token)
        .returning('id')
        .execute();
      // One claim holds a delivery once: within a group, the id names the completion.
      const byId = new Map(part.map((c) => [c.id, c]));
      for (const r of rows) held.add(byId.get(r.id) as DeliveryCompletion);
    }
  }
  for (const c of list) {
    if (c.status === 'delivered') continue;
    const u = await tx
      .updateTable('deliveries')
      .set({
        status: c.status,
        attempts: c.attempt,
        next_attempt_at: c.nextAttemptAt,
        lease_until: null,
        lease_token: null,
        last_error: c.error,
        updated_at: c.at,
      })
      .where('id', '=', c.id)
      .where('lease_token', '=', c.token)
      .executeTakeFirst();
    if (Number(u.numUpdatedRows) === 1) held.add(c);
  }
  const attempts = list.filter((c) => held.has(c));
  for (const part of chunks(attempts)) {
    await tx
      .insertInto('delivery_attempts')
      .values(
        part.map((c) => ({
          id: c.attemptRow.id,
          delivery_id: c.id,
          attempt: c.attempt,
          at: c.attemptRow.startedAt,
          duration_ms: c.attemptRow.durationMs,
          outcome: c.attemptRow.outcome,
          status_code: c.attemptRow.statusCode,
          response_body: c.attemptRow.responseBody,
          error: c.error,
        })),
      )
      .execute();
  }
  return held;
}

/** Marks a claimed timer fired or failed. Returns false when `token` no longer holds it. */
export async function completeTimer(
  tx: Kysely<DB>,
  id: string,
  token: string,
  status: 'fired' | 'failed',
  firedAt: string,
): Promise<boolean> {
  const u = await tx
    .updateTable('timers')
    .set({ status, fired_at: firedAt, lease_until: null, lease_token: null })
    .where('id', '=', id)
    .where('lease_token', '=', token)
    .executeTakeFirst();
  return Number(u.numUpdatedRows) === 1;
}

/** The earliest due time of a pending delivery and of a pending timer (null where none is pending). */
export async function nextDueTimes(db: Kysely<DB>): Promise<{ delivery: string | null; timer: string | null }> {
  const [d, t] = await Promise.all([
    db
      .selectFrom('deliveries')
      .select((eb) => eb.fn.min('next_attempt_at').as('at'))
      .where('status', '=', 'pending')
      .executeTakeFirst(),
    db
      .selectFrom('timers')
      .select((eb) => eb.fn.min('due_at').as('at'))
      .where('status', '=', 'pending')
      .executeTakeFirst(),
  ]);
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  return { delivery: text(d?.at), timer: text(t?.at) };
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
