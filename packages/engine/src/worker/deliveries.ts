import type { OutboxEntry } from '@orderflow/core';
import type { Kysely } from 'kysely';
import type { ActionOutcome } from '../actions/outcome.js';
import { destinationOf } from '../store/destination.js';
import { hasNotificationOfDelivery } from '../store/notifications.js';
import type { DeliveryRow } from '../store/queue.js';
import * as queue from '../store/queue.js';
import type { DB } from '../store/schema.js';
import type { TransactionOptions } from '../store/store.js';
import { actionFailedAtDelivery, raiseAlert } from './alerts.js';
import { claimOptions, LeaseLostError, renewWhileBusy, SimulatedCrashError, type WorkerContext, type WorkerCounts } from './context.js';
import { applyEndpointHealth } from './endpoint-health.js';
import { alertFoldKey, insertNotification, type Notification, raiseFolded } from './notifications.js';
import { type PrepareContext, type PreparedDelivery, prepareDelivery } from './prepare.js';
import type { AutomationState } from './settings.js';
import { type DeliveryVerdict, deliveryVerdict, endpointOf, utf8Prefix } from './verdict.js';

/** Runs items as slots free up: at most `limit` at once in all and `perKey` at once per key. */
export interface Dispatcher<T> {
  /** Queues items; each starts as soon as a slot of its key is free. */
  push(items: readonly T[]): void;
  /** Starts nothing more; answers the items still waiting. */
  drop(): T[];
  /**
   * Settles once nothing waits and nothing runs; after an error, once nothing runs, rejecting
   * with the first error.
   */
  idle(): Promise<void>;
}

/**
 * Creates a {@link Dispatcher} over `fn`: items of a busy key wait while items of other keys go
 * ahead, in the order they came. The first error stops starting new ones.
 */
export function createDispatcher<T>(
  keyOf: (item: T) => string,
  limit: number,
  perKey: number,
  fn: (item: T) => Promise<void>,
): Dispatcher<T> {
  let waiting: { item: T; key: string }[] = [];
  const running = new Map<string, number>();
  let active = 0;
  let failure: { error: unknown } | null = null;
  let stopped = false;
  let idlers: { resolve: () => void; reject: (e: unknown) => void }[] = [];

  const settle = (): void => {
    if (active > 0 || (waiting.length > 0 && failure === null && !stopped)) return;
    const list = idlers;
    idlers = [];
    for (const w of list) {
      if (failure !== null) w.reject(failure.error);
      else w.resolve();
    }
  };
  const pump = (): void => {
    for (let i = 0; failure === null && !stopped && i < waiting.length && active < limit; ) {
      const next = waiting[i] as { item: T; key: string };
      const n = running.get(next.key) ?? 0;
      if (n >= perKey) {
        i++;
        continue;
      }
      waiting.splice(i, 1);
      active++;
      running.set(next.key, n + 1);
      fn(next.item)
        .catch((error: unknown) => {
          failure ??= { error };
        })
        .finally(() => {
          active--;
          running.set(next.key, (running.get(next.key) ?? 1) - 1);
          pump();
        });
    }
    settle();
  };
  return {
    push(items) {
      for (const item of items) waiting.push({ item, key: keyOf(item) });
      pump();
    },
    drop() {
      stopped = true;
      const left = waiting.map((w) => w.item);
      waiting = [];
      settle();
      return left;
    },
    idle() {
      return new Promise<void>((resolve, reject) => {
        idlers.push({ resolve, reject });
        settle();
      });
    },
  };
}

/**
 * Runs `fn` over `items`, at most `limit` at once in all and `perKey` at once per `keyOf` key:
 * items of a busy key wait while items of other keys go ahead. The first error stops starting
 * new ones; it is rethrown once the running ones are done.
 */
export function dispatch<T>(
  items: readonly T[],
  keyOf: (item: T) => string,
  limit: number,
  perKey: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const d = createDispatcher(keyOf, limit, perKey, fn);
  d.push(items);
  return d.idle();
}

/** Stores the notification of a notify delivery (once, also across retries); publishing is the caller's. */
async function storeNotification(
  ctx: WorkerContext,
  row: DeliveryRow,
  token: string,
  p: Extract<PreparedDelivery, { type: 'notify' }>,
): Promise<{ stored: Notification | null; folded: boolean }> {
  return ctx.store.transaction(async (tx) => {
    if (!(await queue.holdsDelivery(tx, row.id, token))) throw new LeaseLostError(`lease of ${row.id} was taken over`);
    // A retry (the admin email failed) must not store the notification twice.
    if (await hasNotificationOfDelivery(tx, row.id)) return { stored: null, folded: false };
    const n = {
      id: ctx.newId('ntf'),
      channel: p.channel,
      severity: p.severity,
      message: p.message,
      orderId: row.order_id,
      deliveryId: row.id,
      createdAt: ctx.clock.now().toISOString(),
    };
    const key = alertFoldKey(JSON.parse(row.envelope_json) as OutboxEntry['envelope']);
    if (key) {
      const r = await raiseFolded(tx, n, key);
      return { stored: r.notification, folded: r.folded };
    }
    return { stored: await insertNotification(tx, n), folded: false };
  });
}

async function send(ctx: WorkerContext, row: DeliveryRow, token: string, p: PreparedDelivery): Promise<ActionOutcome> {
  switch (p.type) {
    case 'invalid':
      return { ok: false, retryable: false, error: p.error, durationMs: 0 };
    case 'email':
      return ctx.senders().email.send(p.message);
    case 'webhook':
      return ctx.senders().webhook.send(p.request);
    case 'notify': {
      const { stored, folded } = await storeNotification(ctx, row, token, p);
      if (stored) ctx.publish([stored]);
      // A repeat of an open alert only counts; the admins were emailed the first time.
      if (!p.email || folded) return { ok: true, durationMs: 0 };
      return ctx.senders().email.send(p.email);
    }
  }
}

function describe(p: PreparedDelivery, row: DeliveryRow): string {
  switch (p.type) {
    case 'email':
      return `email to ${p.message.to.join(', ')}`;
    case 'webhook':
      return `webhook to ${p.request.url}`;
    case 'notify':
      return `notification to ${p.channel}`;
    case 'invalid':
      return row.type;
  }
}

/** One finished attempt, waiting to be recorded. */
export interface Attempt {
  row: DeliveryRow;
  token: string;
  attempt: number;
  startedAt: Date;
  prepared: PreparedDelivery;
  outcome: ActionOutcome;
}

/** A claimed delivery waiting for its turn: the row, the claim's token, its action and destination. */
interface Job {
  row: DeliveryRow;
  token: string;
  action: OutboxEntry['action'];
  destination: string;
}

/** Renders and sends one claimed delivery; answers the attempt to record (null when the lease was lost). */
async function attemptDelivery(ctx: WorkerContext, job: Job, counts: WorkerCounts): Promise<Attempt | null> {
  const { row, token } = job;
  const attempt = Number(row.attempts) + 1;
  const startedAt = ctx.clock.now();
  const pctx: PrepareContext = {
    db: ctx.store.db,
    renderer: ctx.renderer,
    ...(ctx.renderPool ? { renderPool: ctx.renderPool } : {}),
    adminEmails: ctx.config.adminEmails,
    loadDefinition: ctx.loadDefinition,
    webhookSecret: ctx.webhookSecret,
    now: startedAt,
  };
  let prepared: PreparedDelivery;
  let outcome: ActionOutcome;
  try {
    let envelope: OutboxEntry['envelope'] | undefined;
    prepared = await prepareDelivery(pctx, {
      id: row.id,
      action: job.action,
      // Parsed only if something reads it: a webhook that sends the envelope sends the stored text.
      get envelope() {
        envelope ??= JSON.parse(row.envelope_json) as OutboxEntry['envelope'];
        return envelope;
      },
      envelopeJson: row.envelope_json,
    });
    outcome = await send(ctx, row, token, prepared);
  } catch (e) {
    if (e instanceof LeaseLostError) {
      counts.leaseLost++;
      ctx.log.warn({ deliveryId: row.id, orderId: row.order_id }, 'delivery lease was taken over; leaving it to the new owner');
      return null;
    }
    // Infrastructure trouble (database, renderer crash): try again later.
    prepared = { type: 'invalid', error: String(e) };
    outcome = { ok: false, retryable: true, error: `internal error: ${e instanceof Error ? e.message : String(e)}`, durationMs: 0 };
  }
  ctx.crash('after-send');
  return { row, token, attempt, startedAt, prepared, outcome };
}

/** What recording one attempt wrote, for the work after the commit. */
interface Recorded {
  attempt: Attempt;
  /** False when the lease was taken over: nothing was written for this attempt. */
  held: boolean;
  verdict: DeliveryVerdict;
  /** Notifications stored directly, published after the commit. */
  direct: Notification[];
  alerted: boolean;
  at: Date;
}

/**
 * Writes finished attempts inside `tx`: the deliveries' new status and the attempt rows (batched,
 * see {@link queue.completeDeliveries}), then, attempt by attempt, the endpoints' health and alerts.
 */
async function recordAttempts(ctx: WorkerContext, tx: Kysely<DB>, list: readonly Attempt[]): Promise<Recorded[]> {
  const now = ctx.clock.now();
  const at = now.toISOString();
  const verdicts = list.map((a) =>
    deliveryVerdict({
      outcome: a.outcome,
      attempt: a.attempt,
      endpoint: endpointOf(a.prepared),
      nextAttemptAt: a.row.next_attempt_at,
      now,
      retry: { baseMs: ctx.config.retryBaseMs, maxAttempts: ctx.config.retryMaxAttempts, random: ctx.random },
    }),
  );
  const completions = list.map(
    (a, i): queue.DeliveryCompletion => ({
      id: a.row.id,
      token: a.token,
      status: (verdicts[i] as DeliveryVerdict).status,
      attempt: a.attempt,
      nextAttemptAt: (verdicts[i] as DeliveryVerdict).nextAttemptAt,
      error: (verdicts[i] as DeliveryVerdict).error,
      at,
      attemptRow: {
        id: ctx.newId('att'),
        startedAt: a.startedAt.toISOString(),
        durationMs: Math.max(0, Math.round(a.outcome.durationMs)),
        outcome: (verdicts[i] as DeliveryVerdict).outcome,
        statusCode: a.outcome.status ?? null,
        responseBody: a.outcome.responseBody === undefined ? null : utf8Prefix(a.outcome.responseBody, 1024),
      },
    }),
  );
  const held = await queue.completeDeliveries(tx, completions);
  // Endpoints whose last change in this batch was a reset: another reset would change nothing.
  const reset = new Set<string>();
  const out: Recorded[] = [];
  for (const [i, a] of list.entries()) {
    const verdict = verdicts[i] as DeliveryVerdict;
    const direct: Notification[] = [];
    if (!held.has(completions[i] as queue.DeliveryCompletion)) {
      out.push({ attempt: a, held: false, verdict, direct, alerted: false, at: now });
      continue;
    }
    const ep = verdict.endpoint;
    let alerted = false;
    if (ep !== null && !(ep.effect === 'reset' && reset.has(ep.key))) {
      alerted = await applyEndpointHealth(ctx, tx, a.row, verdict, a.outcome.status, direct);
      if (ep.effect === 'reset') reset.add(ep.key);
      else reset.delete(ep.key);
    }
    if (verdict.status === 'dead') {
      alerted = true;
      await raiseAlert(
        ctx,
        tx,
        a.row,
        'delivery.dead',
        `Delivery ${a.row.id} (${describe(a.prepared, a.row)}) for order ${a.row.order_id} is dead after ${a.attempt} attempts: ${verdict.error}`,
        direct,
        ep?.key ?? null,
      );
    }
    if (verdict.status === 'failed' && a.prepared.type === 'invalid' && !a.prepared.endpointDisabled) {
      alerted = true;
      await actionFailedAtDelivery(ctx, tx, a.row, a.prepared, direct);
    }
    out.push({ attempt: a, held: true, verdict, direct, alerted, at: now });
  }
  return out;
}

/** After the commit: counts, metrics, the log line, notifications. */
function afterCommit(ctx: WorkerContext, r: Recorded, counts: WorkerCounts): void {
  const { row, attempt, outcome } = r.attempt;
  if (!r.held) {
    counts.leaseLost++;
    ctx.log.warn({ deliveryId: row.id, orderId: row.order_id }, 'delivery lease was taken over; the attempt is left to the new owner');
    return;
  }
  const { verdict } = r;
  ctx.publish(r.direct);
  ctx.metrics?.deliveryAttempt(row.type, verdict.outcome, outcome.durationMs);
  const fields = {
    deliveryId: row.id,
    orderId: row.order_id,
    type: row.type,
    attempt,
    outcome: verdict.outcome,
    ...(outcome.status !== undefined ? { status: outcome.status } : {}),
    durationMs: outcome.durationMs,
    ...(verdict.error !== null ? { error: verdict.error } : {}),
    ...(verdict.status === 'pending' ? { nextAttemptAt: verdict.nextAttemptAt } : {}),
  };
  switch (verdict.outcome) {
    case 'delivered':
      counts.delivered++;
      ctx.metrics?.deliveryLatency(r.at.getTime() - Date.parse(row.created_at));
      ctx.log.info(fields, 'delivered');
      break;
    case 'retry':
      counts.retried++;
      ctx.log.warn(fields, 'delivery attempt failed; retrying later');
      break;
    case 'failed':
      counts.failed++;
      ctx.log.warn(fields, 'delivery failed');
      break;
    case 'dead':
      counts.dead++;
      ctx.log.error(fields, 'delivery is dead');
      break;
  }
  if (r.alerted) ctx.wake();
}

/** Lets a completing transaction claim the next deliveries too (one commit for both). */
export interface Claimer {
  /** The claim to make now, or null for none. */
  next(): queue.ClaimOptions | null;
  /** What that claim found, after the commit; null when the transaction failed and claimed nothing. */
  claimed(o: queue.ClaimOptions, rows: DeliveryRow[] | null): void;
  /** A committed attempt scheduled its delivery for another try at `at` (ISO text). */
  retryAt?(at: string): void;
  /** Everything given to the completer so far is written (or failed): it is not busy any more. */
  idle?(): void;
}

/** Records finished attempts; see {@link createCompleter}. */
export interface Completer {
  /** Settles once the attempt is recorded and committed. */
  record(a: Attempt): Promise<void>;
  /** True while attempts wait or are being written. */
  busy(): boolean;
}

/**
 * The pipeline's claims and completions answer no one waiting: their commits may be made durable
 * off the event loop, which keeps sending meanwhile (see {@link TransactionOptions.background}).
 */
const BACKGROUND: TransactionOptions = { background: true };

/**
 * Records finished attempts in batches: attempts that finish while a batch is being written
 * wait and share the next transaction, so one commit acknowledges many deliveries. A delivery
 * is acknowledged only by that commit; a crash before it leaves the row leased and it is sent
 * again after the lease (at least once). If a batch fails, its attempts are written one by one,
 * so one attempt that cannot be written does not hold back the others. The `claimer` may add
 * a claim of the next deliveries to a batch's transaction.
 */
export function createCompleter(ctx: WorkerContext, counts: WorkerCounts, claimer?: Claimer): Completer {
  type Item = { a: Attempt; resolve: () => void; reject: (e: unknown) => void };
  let waiting: Item[] = [];
  let writing = false;

  const write = async (items: Item[], claim: queue.ClaimOptions | null): Promise<void> => {
    let done: { recorded: Recorded[]; rows: DeliveryRow[] };
    try {
      done = await ctx.store.transaction(async (tx) => {
        const recorded = await recordAttempts(
          ctx,
          tx,
          items.map((item) => item.a),
        );
        ctx.crash('before-ack');
        return { recorded, rows: claim ? await queue.claimDue(tx, 'deliveries', claim) : [] };
      }, BACKGROUND);
    } catch (e) {
      if (claim) claimer?.claimed(claim, null);
      throw e;
    }
    if (claim) claimer?.claimed(claim, done.rows);
    for (const r of done.recorded) {
      afterCommit(ctx, r, counts);
      if (r.held && r.verdict.status === 'pending') claimer?.retryAt?.(r.verdict.nextAttemptAt);
    }
  };

  const flush = async (items: Item[]): Promise<void> => {
    try {
      await write(items, claimer?.next() ?? null);
      for (const item of items) item.resolve();
    } catch (e) {
      if (items.length === 1 || e instanceof SimulatedCrashError) {
        for (const item of items) item.reject(e);
        return;
      }
      for (const item of items) {
        await write([item], null).then(item.resolve, item.reject);
      }
    }
  };

  const kick = (): void => {
    if (writing || waiting.length === 0) return;
    writing = true;
    // setImmediate: attempts that finished in this turn of the event loop join the batch.
    setImmediate(() => {
      const items = waiting;
      waiting = [];
      void flush(items).finally(() => {
        writing = false;
        kick();
        if (!writing) claimer?.idle?.();
      });
    });
  };

  return {
    record: (a) =>
      new Promise<void>((resolve, reject) => {
        waiting.push({ a, resolve, reject });
        kick();
      }),
    busy: () => writing || waiting.length > 0,
  };
}

/** Claims one call of {@link DeliveryPipeline.claim} makes at most, so timers get their turn. */
const BATCHES_PER_ROUND = 32;

/** Hooks of {@link createDeliveryPipeline}. */
export interface PipelineHooks {
  /** A recorded attempt scheduled a retry at `at` (ISO text): the caller may want to look again then. */
  retryAt?(at: string): void;
}

/**
 * The deliveries of one worker pass, claimed and sent through one dispatcher and recorded by one
 * completer, however many times the pass claims: the global and per-destination limits hold over
 * everything the pass holds, and claiming never waits for sends in flight.
 */
export interface DeliveryPipeline {
  /**
   * Claims due deliveries and hands them to the dispatcher, without waiting for them to be sent.
   * Stops when a claim comes back short (nothing more is due but the rows of the destinations it
   * passed over), after {@link BATCHES_PER_ROUND} claims, or when there is no room for half a
   * batch; in the last case the completing transactions go on claiming as sends free room. Answers
   * how many deliveries it claimed, leaving out those of destinations held back when their claim
   * was made: those refills go on in the completing transactions as the destinations' sends finish,
   * whether or not the caller claims again, as claims do when room frees.
   */
  claim(automation: AutomationState): Promise<number>;
  /** True while deliveries are claimed and not yet recorded (or given up), or a claim is being made. */
  busy(): boolean;
  /** True once a claim failed or a crash was simulated: the pass should stop and `finish()`. */
  failed(): boolean;
  /**
   * Calls `f` (once) as soon as the pipeline is not busy any more, or failed; answers the function
   * that cancels the call.
   */
  onSettled(f: () => void): () => void;
  /** Stops claiming because of `error` (a simulated crash starts nothing more). */
  fail(error: unknown): void;
  /**
   * Claims nothing more and waits until everything claimed is sent and recorded (when the worker
   * is stopping, deliveries not started yet are given back instead); rethrows the first failure.
   */
  finish(): Promise<void>;
}

/**
 * Creates the {@link DeliveryPipeline} of one pass. It sends at most `concurrency` deliveries at
 * once and `perDestination` at once to one destination, and keeps at most `concurrency +
 * batchSize` claimed and not sent yet, of which at most `perDestination + min(perDestination,
 * batchSize)` (the quota) for one destination: a claim passes over the rows of a destination at
 * that bound, so a backlog for one slow destination cannot fill the pipeline while deliveries to
 * others fall due behind it.
 *
 * A destination is *open* while it has room for at least half a batch (or for its slots' worth,
 * if that is fewer) under its quota, and *closed* otherwise; a claim takes nothing of a closed
 * destination. So a destination that reached its quota is claimed for again only once its sends
 * made room for half a batch, never a few rows at a time as each send finishes.
 *
 * `claim()` wants claims: they go on, while there is room for half a batch in all, until one
 * comes back short — everything due was taken except the rows of the destinations it passed over
 * (closed, or filled to the quota), which are then *held back* — or the cap of claims. From then
 * on a claim is made only when a held-back destination is open again, and one made so that comes
 * back full holds back the destinations it took (more of them may be due). Nothing else was due,
 * so no claim looks for other rows while those destinations sit at their quota (a claim that
 * passes over a backlog reads past it); rows queued or falling due since then are looked for by
 * the next `claim()`, which the worker makes when woken, at the next due time or poll, or after a
 * round that found work. These refills are not work a round found: `claim()` does not count them,
 * so they do not start round after round, each with a claim that finds the destination closed.
 * With one destination, claims thus come as in a pipeline without quotas: about one per
 * completing transaction, each of at least half a batch.
 *
 * A claim runs inside the transaction that records finished attempts when one is due (one commit
 * for both), on its own otherwise. A send frees its slot when the answer is in. The leases of a
 * claim are renewed until every delivery of it is recorded.
 */
export function createDeliveryPipeline(ctx: WorkerContext, counts: WorkerCounts, hooks: PipelineHooks = {}): DeliveryPipeline {
  const capacity = ctx.concurrency + ctx.batchSize;
  const threshold = Math.max(1, ctx.batchSize >> 1);
  /** Most claimed and not sent yet to one destination: its slots, and as many again waiting (at most a batch). */
  const quota = ctx.perDestination + Math.min(ctx.perDestination, ctx.batchSize);
  /**
   * Room under its quota a destination needs to be claimed for (open): half a batch, or its slots'
   * worth if fewer. It opens again while it still holds at least its slots' worth (`quota - least
   * >= perDestination`), so its refill is claimed before its sends run out.
   */
  const least = Math.min(threshold, ctx.perDestination);
  let automation: AutomationState | null = null;
  /** Claimed and not sent yet (waiting for a slot, or being sent). */
  let unsent = 0;
  /** {@link unsent}, per destination. */
  const held = new Map<string, number>();
  /**
   * Held back: destinations whose rows may still be due while nothing else is (as far as the
   * claims since the last short one know). Claims are made for them once one is open again.
   */
  let heldBack = new Set<string>();
  let failure: { error: unknown } | null = null;
  /** A claim is being made (on its own or in a completing transaction). */
  let claiming = false;
  /** Claims of anything due are wanted: set by `claim()`, cleared by a short claim or the cap of claims. */
  let want = false;
  let finishing = false;
  let batches = 0;
  /** Deliveries claimed of destinations that were not held back (see `claim()`). */
  let claimed = 0;
  /** Sends running (a delivery leaves this count once its attempt is handed to the completer). */
  let sending = 0;
  /** Claims with deliveries not recorded yet: their leases are renewed until then. */
  const claims = new Map<string, { left: number; stopRenewing: () => void }>();
  const recording = new Set<Promise<void>>();
  let waiters: (() => void)[] = [];
  const settledListeners = new Set<() => void>();
  const changed = (): void => {
    pump();
    const list = waiters;
    waiters = [];
    for (const f of list) f();
    if (settledListeners.size > 0 && (failure !== null || !busy())) {
      const all = [...settledListeners];
      settledListeners.clear();
      for (const f of all) f();
    }
  };
  const nextChange = (): Promise<void> =>
    new Promise<void>((resolve) => {
      waiters.push(resolve);
    });
  const isCrash = (): boolean => failure !== null && failure.error instanceof SimulatedCrashError;
  const fail = (error: unknown): void => {
    if (failure === null) {
      failure = { error };
      want = false;
      // After a crash nothing more starts: the rows not started keep their lease until it runs out.
      if (isCrash()) sender.drop();
    }
    changed();
  };
  const sent = (job: Job): void => {
    unsent--;
    const n = (held.get(job.destination) ?? 1) - 1;
    if (n > 0) held.set(job.destination, n);
    else held.delete(job.destination);
    // If it is held back and open again, `changed()` claims.
    changed();
  };
  /** The delivery is recorded (or given up): its claim may stop renewing. */
  const done = (job: Job): void => {
    const claim = claims.get(job.token);
    if (claim && --claim.left === 0) {
      claim.stopRenewing();
      claims.delete(job.token);
    }
    changed();
  };
  const room = (): boolean => capacity - unsent >= threshold;
  const open = (destination: string): boolean => quota - (held.get(destination) ?? 0) >= least;
  /** Claims are wanted, or a held-back destination is open again. */
  const wanted = (): boolean => {
    if (want) return true;
    for (const d of heldBack) if (open(d)) return true;
    return false;
  };
  const canClaim = (): boolean =>
    failure === null && !finishing && automation !== null && !claiming && !ctx.stopping() && room() && wanted();
  const startClaim = (): queue.ClaimOptions => {
    claiming = true;
    batches++;
    return {
      ...claimOptions(ctx, automation as AutomationState, Math.min(ctx.batchSize, capacity - unsent)),
      destinations: { quota, least, held: new Map(held) },
    };
  };
  /** What a claim took, per destination. */
  const tookOf = (jobs: readonly Job[]): Map<string, number> => {
    const n = new Map<string, number>();
    for (const job of jobs) n.set(job.destination, (n.get(job.destination) ?? 0) + 1);
    return n;
  };
  /** The destinations a claim passed over: closed when it started, or filled to the quota by it. */
  const passedOver = (o: queue.ClaimOptions, took: ReadonlyMap<string, number>): Set<string> => {
    const before = o.destinations?.held ?? new Map<string, number>();
    const out = new Set<string>();
    for (const [d, n] of before) if (quota - n < least) out.add(d);
    for (const [d, n] of took) if ((before.get(d) ?? 0) + n >= quota) out.add(d);
    return out;
  };
  /** Takes what a claim found into the pipeline. */
  const take = (o: queue.ClaimOptions, rows: DeliveryRow[] | null): void => {
    claiming = false;
    const jobs: Job[] = (rows ?? []).map((row) => {
      const action = JSON.parse(row.action_json) as OutboxEntry['action'];
      return { row, token: o.token, action, destination: destinationOf(action) };
    });
    if (jobs.length > 0) {
      // `heldBack` is still what it was when the claim was made.
      for (const job of jobs) if (!heldBack.has(job.destination)) claimed++;
      counts.claimed += jobs.length;
      unsent += jobs.length;
      for (const job of jobs) held.set(job.destination, (held.get(job.destination) ?? 0) + 1);
      claims.set(o.token, { left: jobs.length, stopRenewing: renewWhileBusy(ctx, 'deliveries', o.token) });
    }
    if (rows !== null) {
      if (rows.length < o.limit) {
        // Everything due was taken but the rows of the destinations it passed over.
        want = false;
        heldBack = passedOver(o, tookOf(jobs));
      } else {
        if (want && batches >= BATCHES_PER_ROUND) want = false;
        // Full, once claims are not wanted any more: more of what it took may be due; the
        // destinations it took are held back, so they are claimed for again as they have room.
        if (!want) for (const d of tookOf(jobs).keys()) heldBack.add(d);
      }
    }
    try {
      if (jobs.length > 0) ctx.crash('after-claim');
    } catch (e) {
      fail(e);
      return;
    }
    if (jobs.length > 0) sender.push(jobs);
    changed();
  };
  /** Claims on its own only when no completing transaction is coming to carry the claim. */
  function pump(): void {
    if (!canClaim() || complete.busy()) return;
    const o = startClaim();
    ctx.store
      .transaction((tx) => queue.claimDue(tx, 'deliveries', o), BACKGROUND)
      .then(
        (rows) => take(o, rows),
        (e: unknown) => {
          // Failed first, so taking the empty claim starts no other.
          fail(e);
          take(o, null);
        },
      );
  }

  const complete = createCompleter(ctx, counts, {
    next: () => (canClaim() ? startClaim() : null),
    claimed: take,
    retryAt: (at) => hooks.retryAt?.(at),
    idle: changed,
  });

  const sender = createDispatcher<Job>(
    (job) => job.destination,
    ctx.concurrency,
    ctx.perDestination,
    async (job) => {
      sending++;
      try {
        if (ctx.stopping()) {
          await queue.releaseClaim(ctx.store.db, 'deliveries', job.row.id, job.token).catch(() => undefined);
          done(job);
          return sent(job);
        }
        let a: Attempt | null;
        try {
          a = await attemptDelivery(ctx, job, counts);
        } catch (e) {
          // A simulated crash: the process is gone, its leases run out.
          if (e instanceof SimulatedCrashError) return fail(e);
          ctx.log.error({ deliveryId: job.row.id, orderId: job.row.order_id, err: e }, 'delivery processing failed');
          done(job);
          return sent(job);
        }
        if (a === null) {
          done(job);
          return sent(job);
        }
        const p = complete.record(a).then(
          () => done(job),
          (e: unknown) => {
            if (e instanceof SimulatedCrashError) return fail(e);
            // The lease runs out and the row is tried again; nothing is lost.
            ctx.log.error({ deliveryId: job.row.id, orderId: job.row.order_id, err: e }, 'delivery processing failed');
            done(job);
          },
        );
        recording.add(p);
        void p.finally(() => {
          recording.delete(p);
          changed();
        });
        sent(job);
        // The slot frees on the next turn: by then the HTTP client has put the connection back in
        // its pool, so the next send to this destination reuses it instead of opening another.
        await new Promise<void>((resolve) => setImmediate(resolve));
      } finally {
        sending--;
        changed();
      }
    },
  );

  /** Nothing is being sent, recorded or claimed (deliveries dropped after a crash are not waited for). */
  function quiet(): boolean {
    return sending === 0 && recording.size === 0 && !claiming && !complete.busy();
  }
  function busy(): boolean {
    return !quiet() || (!isCrash() && claims.size > 0);
  }

  return {
    async claim(a) {
      automation = a;
      want = true;
      batches = 0;
      const before = claimed;
      pump();
      while (failure === null && want && !finishing && !ctx.stopping()) {
        // No room: the sends free it, and the completing transactions claim then.
        if (!claiming && !room()) break;
        await nextChange();
      }
      return claimed - before;
    },
    busy,
    failed: () => failure !== null,
    onSettled(f) {
      if (failure !== null || !busy()) {
        f();
        return () => undefined;
      }
      settledListeners.add(f);
      return () => settledListeners.delete(f);
    },
    fail,
    async finish() {
      finishing = true;
      want = false;
      for (;;) {
        // Without a crash every delivery handed to the dispatcher is sent (or given back when stopping).
        if (!isCrash()) await sender.idle();
        if (quiet() && (isCrash() || claims.size === 0)) break;
        await nextChange();
      }
      for (const claim of claims.values()) claim.stopRenewing();
      claims.clear();
      if (failure !== null) throw (failure as { error: unknown }).error;
    },
  };
}
