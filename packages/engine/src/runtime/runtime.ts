import { EventEmitter } from 'node:events';
import {
  type Change,
  type Command,
  type DecideContext,
  type Decision,
  type Definition,
  decide,
  type Effect,
  type HistoryEntry,
  type Order,
  type OutboxEntry,
  RenderElsewhere,
  type RuleRun,
  type Timer,
  type WorkflowVersion,
} from '@orderflow/core';
import type { Kysely } from 'kysely';
import { budgetedRender, type TemplateRenderer } from '../actions/template.js';
import { ApiError } from '../errors.js';
import {
  appendHistory,
  cancelPendingTimer,
  cancelVisitTimers,
  deleteIdempotency,
  findOrderByExternalRef,
  getIdempotency,
  getOrderWithCounters,
  historyCanHoldRuns,
  insertDeliveries,
  insertOrder,
  insertRuleRuns,
  insertTimers,
  type OrderCounters,
  putIdempotency,
  updateOrder,
  updatePendingTimer,
} from '../store/changes.js';
import { configEpoch } from '../store/config-epoch.js';
import * as repo from '../store/repo.js';
import type { DB } from '../store/schema.js';
import { isUniqueViolation, type Store } from '../store/store.js';
import { listPublishedVersions } from '../store/workflows.js';
import { getAutomation, pausedRuleKeys } from '../worker/settings.js';
import type { Clock } from './clock.js';
import type { RenderPool } from './render-pool.js';
import type { RenderJob } from './render-worker.js';

const liquidCache = new WeakMap<Definition, boolean>();
/** True when a definition's rules render Liquid while deciding (`set_data`, `create_order` values). */
function rendersLiquid(definition: Definition): boolean {
  let hit = liquidCache.get(definition);
  if (hit === undefined) {
    hit = (definition.rules ?? []).some((r) =>
      r.actions.some((a) => {
        if (a.type !== 'set_data' && a.type !== 'create_order') return false;
        const text = JSON.stringify(a.type === 'set_data' ? a.set : (a.data ?? '')) ?? '';
        return text.includes('{{') || text.includes('{%');
      }),
    );
    liquidCache.set(definition, hit);
  }
  return hit;
}

const refuseToRender = (): never => {
  throw new RenderElsewhere();
};

/** Thrown inside a transaction when the order row no longer has the version that was read. */
class ConcurrentUpdate extends Error {}

/** Thrown inside a transaction when another process changed workflows or settings since the cached snapshot. */
class StaleConfig extends Error {}

/** The loop guard's window: automated entries (rules, timeouts) into one state are counted over the last hour. */
const RULE_ENTRY_WINDOW_MS = 3_600_000;

/** The entries of `entries` newer than `since`, per state; states left without any are dropped. */
function recentRuleEntries(entries: Record<string, string[]>, since: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [state, at] of Object.entries(entries)) {
    const recent = at.filter((t) => t > since);
    if (recent.length > 0) out[state] = recent;
  }
  return out;
}

/**
 * The counters of an order after appending `entries` to its history and scheduling visit-bound
 * timers up to visit `timersVisit` (0: none).
 */
function nextCounters(c: OrderCounters, entries: HistoryEntry[], since: string, timersVisit: number): OrderCounters {
  const ruleEntries = recentRuleEntries(c.ruleEntries ?? {}, since);
  for (const e of entries) {
    // Timeout moves count towards the loop guard exactly like rule moves.
    if (e.type === 'transition' && (e.actor.type === 'rule' || e.actor.type === 'timer') && e.to !== undefined)
      ruleEntries[e.to] = [...(ruleEntries[e.to] ?? []), e.at];
  }
  return {
    historySeq: c.historySeq + entries.length,
    ruleEntries,
    timersVisit: c.timersVisit === null ? null : Math.max(c.timersVisit, timersVisit),
  };
}

/** The answer to a change. */
export type ChangeResponse = Change;

/** Options of one command application. */
export interface ApplyInput {
  /** The order; absent for `create`. */
  orderId?: string;
  command: Command;
  /** Optimistic concurrency: the version the caller last saw. */
  expectedVersion?: number;
  /**
   * An Idempotency-Key: the answer is stored under it in the same transaction and given back for
   * the same request; `status` is the caller's own success status, kept with the answer.
   */
  idempotency?: { scope: string; key: string; hash: string; status: number };
  /** Previews only: decide under this definition (e.g. a draft) instead of the order's version. */
  definition?: Definition;
  /** Extra writes in the same transaction (e.g. marking the fired timer). */
  alsoInTransaction?: (tx: Kysely<DB>) => Promise<void>;
}

/** Result of applying a command. */
export interface ApplyResult {
  body: ChangeResponse;
  replayed: boolean;
  decision?: Extract<Decision, { ok: true }>;
}

/** Runtime settings. */
export interface RuntimeOptions {
  store: Store;
  clock: Clock;
  newId: (prefix: string) => string;
  /** Renders Liquid strings in `set_data` / `create_order` values, within `renderBudgetMs` per change. */
  renderer?: TemplateRenderer;
  /** Total Liquid render time of one change, in ms. @default 250 */
  renderBudgetMs?: number;
  /** Render threads: decisions that render Liquid run there, off the event loop. */
  renderPool?: RenderPool;
  /** A plain render function instead of `renderer` (no budget). */
  renderString?: (source: string, scope: Record<string, unknown>) => string;
  /** Per-order loop guard: rule-caused entries into one state per hour. @default 20 */
  maxRuleEntriesPerHour?: number;
  /** Cascade depth bound. @default 10 */
  maxDepth?: number;
  /** Work budget per change (effects in all). @default 500 */
  maxEffects?: number;
  /** Idempotency-Keys older than this are treated as unused (the worker prunes them). */
  idempotencyTtlMs?: number;
}

/** The runtime: the only write path for orders. */
export type Runtime = ReturnType<typeof createRuntime>;

/**
 * Creates the runtime. `applyCommand` loads the order, calls `decide()`, and
 * persists the order(s), history, outbox rows, timers, rule runs and the
 * idempotency record in one transaction.
 */
export function createRuntime(opts: RuntimeOptions) {
  const { store, clock, newId } = opts;
  const events = new EventEmitter();
  events.setMaxListeners(100);
  const versionCache = new Map<string, Definition>();

  async function loadVersion(db: Kysely<DB>, key: string, version: number): Promise<Definition> {
    const cacheKey = `${key}@${version}`;
    const hit = versionCache.get(cacheKey);
    if (hit) return hit;
    const v = await repo.getWorkflowVersion(db, key, version);
    if (!v) throw new ApiError('not_found', `Workflow "${key}" version ${version} does not exist.`);
    versionCache.set(cacheKey, v.definition);
    return v.definition;
  }

  /**
   * Published workflows and paused rules, cached between changes. Reloaded (outside any write
   * transaction, so only committed data is cached) when the config epoch or the store's config
   * version moved: a publish or a settings write here, or a change by another process. Where the
   * store reads its config version cheaply inside a transaction (SQLite), a change uses the cached
   * snapshot without looking first and checks it in its transaction, under the write lock: if
   * another process committed since, the published versions and the automation setting are
   * compared there, and only a real difference sends the change back to reload and run again.
   */
  interface ConfigSnapshot {
    epoch: number;
    /** The store's config version the snapshot is known to be current at. */
    version: number;
    /** The published versions and the automation setting it was made from. */
    fingerprint: string;
    workflows: Map<string, WorkflowVersion>;
    paused: Set<string>;
  }
  let config: ConfigSnapshot | null = null;
  let configLoading: Promise<ConfigSnapshot> | null = null;

  /** What a snapshot is made from, and its fingerprint: the published versions and the automation setting. */
  async function readConfigRows(db: Kysely<DB>) {
    const published = await listPublishedVersions(db);
    const automation = await getAutomation(db);
    return { published, automation, fingerprint: JSON.stringify([published, automation]) };
  }

  /** The snapshot to decide with; `checkedInTransaction`: the caller checks it in its transaction. */
  async function currentConfig(checkedInTransaction = false): Promise<ConfigSnapshot> {
    const epoch = configEpoch();
    if (checkedInTransaction && config?.epoch === epoch) return config;
    const version = await store.configVersion();
    if (config?.epoch === epoch && config.version === version) return config;
    if (configLoading) return configLoading;
    configLoading = (async () => {
      const db = store.db;
      const workflows = new Map<string, WorkflowVersion>();
      const { published, automation, fingerprint } = await readConfigRows(db);
      for (const r of published) {
        if (r.published_version === null) continue;
        workflows.set(r.key, { key: r.key, version: r.published_version, definition: await loadVersion(db, r.key, r.published_version) });
      }
      config = { epoch, version, fingerprint, workflows, paused: pausedRuleKeys(automation) };
      return config;
    })().finally(() => {
      configLoading = null;
    });
    return configLoading;
  }

  /**
   * Inside a change's transaction: throws {@link StaleConfig} when `cfg` is no longer what is
   * committed. Stores without a cheap read here were checked before the transaction.
   */
  async function checkConfig(tx: Kysely<DB>, cfg: ConfigSnapshot): Promise<void> {
    if (!store.configVersionInTransaction) return;
    const version = await store.configVersionInTransaction(tx);
    if (version === cfg.version) return;
    // Another process committed something since; most often not to workflows or settings.
    if ((await readConfigRows(tx)).fingerprint !== cfg.fingerprint) throw new StaleConfig();
    if (cfg === config) cfg.version = version;
  }

  const needsWorkflows = (d: Definition) => (d.rules ?? []).some((r) => r.actions.some((a) => a.type === 'create_order'));

  /**
   * A decision rendered outside the transaction, for the order at `version` (`null`: a new order)
   * under the configuration snapshot `cfg`. It stands only while both are still what the change
   * reads in its transaction; otherwise the change decides afresh.
   */
  interface Decided {
    decision: Decision;
    now: string;
    version: number | null;
    cfg: ConfigSnapshot;
  }

  /**
   * Thrown inside a write transaction when the decision has to render Liquid on a render thread.
   * Waiting for the thread there would hold the store's connection, and every other request with
   * it, for up to the render budget: the change leaves the transaction, renders, and runs again.
   */
  class RenderOutside extends Error {
    constructor(
      readonly job: RenderJob,
      readonly decided: Omit<Decided, 'decision'>,
    ) {
      super('the decision renders Liquid: rendered outside the transaction');
    }
  }

  /**
   * Loads what decide() needs and runs it. Reads only. In a write transaction, a decision that
   * renders Liquid throws {@link RenderOutside} unless `render.decided` still stands or
   * `render.inside` says to render in place.
   */
  async function prepare(
    db: Kysely<DB>,
    input: ApplyInput,
    forWrite: boolean,
    cfg: ConfigSnapshot,
    render: { decided?: Decided; inside?: boolean } = {},
  ) {
    const now = clock.now().toISOString();
    let order: Order | null = null;
    let counters: OrderCounters | null = null;
    let definition: Definition;
    if (input.command.type === 'create') {
      const cached = cfg.workflows.get(input.command.workflow);
      if (cached) {
        input.command.workflowVersion = cached.version;
        definition = cached.definition;
      } else {
        const wf = await repo.getWorkflow(db, input.command.workflow);
        if (!wf) throw new ApiError('not_found', `Workflow "${input.command.workflow}" does not exist.`);
        if (wf.publishedVersion === null || !wf.definition) {
          throw new ApiError('validation_failed', `Workflow "${wf.key}" has no published version yet; publish it first.`, {
            errors: [{ path: 'workflow', message: 'has no published version' }],
          });
        }
        input.command.workflowVersion = wf.publishedVersion;
        definition = wf.definition;
        versionCache.set(`${wf.key}@${wf.publishedVersion}`, wf.definition);
      }
    } else {
      if (!input.orderId) throw new ApiError('not_found', 'Order not found.');
      const found = await getOrderWithCounters(db, input.orderId, forWrite && store.capabilities.rowLocks);
      if (!found) throw new ApiError('not_found', `Order ${input.orderId} does not exist.`);
      order = found.order;
      counters = found.counters;
      definition = await loadVersion(db, order.workflow, order.workflowVersion);
      if (input.definition && !forWrite) {
        if (input.definition.key !== order.workflow) {
          throw new ApiError('validation_failed', `The definition is for workflow "${input.definition.key}", not "${order.workflow}".`, {
            errors: [{ path: 'definition.key', message: `must be "${order.workflow}"` }],
          });
        }
        definition = input.definition;
      }
      if (input.expectedVersion !== undefined && input.expectedVersion !== order.version) {
        throw new ApiError(
          'version_conflict',
          `The order is at version ${order.version}, not ${input.expectedVersion}; reload it and try again.`,
          { currentVersion: order.version },
        );
      }
    }
    const ctx: DecideContext = {
      now,
      newId,
      maxDepth: opts.maxDepth ?? 10,
      maxEffects: opts.maxEffects ?? 500,
      maxRuleEntriesPerHour: opts.maxRuleEntriesPerHour ?? 20,
      pausedRules: cfg.paused,
    };
    const renderBudgetMs = opts.renderBudgetMs ?? 250;
    if (opts.renderer) ctx.renderString = budgetedRender(opts.renderer, renderBudgetMs);
    else if (opts.renderString) ctx.renderString = opts.renderString;
    let workflows: WorkflowVersion[] = [];
    if (needsWorkflows(definition)) {
      workflows = [...cfg.workflows.values()];
      ctx.resolveWorkflow = (key) => cfg.workflows.get(key);
    }
    const since = new Date(Date.parse(now) - RULE_ENTRY_WINDOW_MS).toISOString();
    if (order && counters) {
      // Rows from before the counters existed: the history says it once, the row keeps it from now on.
      counters.ruleEntries ??= await repo.ruleEntriesSince(db, order.id, since);
      counters.ruleEntries = recentRuleEntries(counters.ruleEntries, since);
      const automatedMoves =
        definition.states.some((st) => st.timeout) || (definition.rules ?? []).some((r) => r.actions.some((a) => a.type === 'transition'));
      if (automatedMoves) {
        ctx.ruleEntriesLastHour = Object.fromEntries(Object.entries(counters.ruleEntries).map(([state, at]) => [state, at.length]));
      }
    }
    let command = input.command;
    if (command.type === 'migrate' && order) {
      // Every pending timer gets a fate, so the decision needs them all (not only this visit's).
      command = { ...command, pending: await repo.listTimers(db, { orderId: order.id, limit: 10_000 }) };
    }
    // Liquid in rule values renders on a render thread, so a slow template never stalls the server.
    // Most decisions of such a workflow reach no Liquid at all: decide here first with a render that
    // refuses, and only a decision that does reach Liquid pays for the trip to the thread.
    if (opts.renderPool && opts.renderer && [definition, ...workflows.map((w) => w.definition)].some(rendersLiquid)) {
      const { decided } = render;
      if (decided && decided.cfg === cfg && decided.version === (order?.version ?? null)) {
        return { decision: decided.decision, now: decided.now, counters };
      }
      try {
        const decision = decide(definition, order, command, { ...ctx, renderString: refuseToRender });
        return { decision, now, counters };
      } catch (e) {
        if (!(e instanceof RenderElsewhere)) throw e;
      }
      const { newId: _newId, resolveWorkflow: _resolve, renderString: _render, pausedRules: paused, ...plain } = ctx;
      const job: RenderJob = {
        kind: 'decide',
        definition,
        order,
        command,
        ctx: { ...plain, pausedRules: [...(paused ?? [])], workflows, renderBudgetMs },
      };
      // A migration's decision depends on the pending timers read here as well: it renders in place.
      if (forWrite && !render.inside && command.type !== 'migrate') {
        throw new RenderOutside(job, { now, version: order?.version ?? null, cfg });
      }
      const decision = await opts.renderPool.run<Decision>(job);
      return { decision, now, counters };
    }
    const decision = decide(definition, order, command, ctx);
    return { decision, now, counters };
  }

  function rejectionToError(d: Extract<Decision, { ok: false }>): ApiError {
    const { code, message, ...extra } = d.rejection;
    return new ApiError(code, message, extra);
  }

  function toResponse(d: Extract<Decision, { ok: true }>, primaryId: string): ChangeResponse {
    const body: ChangeResponse = {
      order: d.order,
      applied: d.applied.map(({ orderId, ...a }) => (orderId === primaryId ? a : { ...a, orderId })),
      deliveries: d.effects.flatMap((e) =>
        e.type === 'outbox.enqueue' ? [{ id: e.delivery.id, type: e.delivery.type, status: 'pending' }] : [],
      ),
    };
    if (d.migration) body.migration = d.migration;
    return body;
  }

  /** Writes a decision's orders and effects. */
  async function persist(
    tx: Kysely<DB>,
    d: Extract<Decision, { ok: true }>,
    now: string,
    primary: { id: string; counters: OrderCounters | null },
  ): Promise<void> {
    const history = new Map<string, HistoryEntry[]>();
    // Per order, the last visit this decision schedules visit-bound timers for.
    const timersVisit = new Map<string, number>();
    for (const e of d.effects as Effect[]) {
      if (e.type === 'timer.schedule' && e.timer.scope === 'visit') {
        timersVisit.set(e.timer.orderId, Math.max(timersVisit.get(e.timer.orderId) ?? 0, e.timer.visit));
      }
      if (e.type !== 'history.append') continue;
      const list = history.get(e.orderId) ?? [];
      list.push(e.entry);
      history.set(e.orderId, list);
    }
    // The seq each order's new entries continue from; orders without known counters look it up.
    const afterSeq = new Map<string, number>();
    // Per order, the last visit that had pending visit-bound timers before this decision.
    const timersBefore = new Map<string, number | null>();
    const since = new Date(Date.parse(now) - RULE_ENTRY_WINDOW_MS).toISOString();
    for (const { order, previousVersion } of d.orders) {
      const entries = history.get(order.id) ?? [];
      const known: OrderCounters | null =
        previousVersion === 0 ? { historySeq: 0, ruleEntries: {}, timersVisit: 0 } : order.id === primary.id ? primary.counters : null;
      const counters = known ? nextCounters(known, entries, since, timersVisit.get(order.id) ?? 0) : undefined;
      if (known) afterSeq.set(order.id, known.historySeq);
      timersBefore.set(order.id, known ? known.timersVisit : null);
      if (previousVersion === 0) {
        await insertOrder(tx, order, counters);
      } else if (!(await updateOrder(tx, order, previousVersion, counters))) {
        throw new ConcurrentUpdate();
      }
    }
    const deliveries: OutboxEntry[] = [];
    const timers: Timer[] = [];
    const runs: RuleRun[] = [];
    for (const e of d.effects as Effect[]) {
      switch (e.type) {
        case 'outbox.enqueue':
          deliveries.push(e.delivery);
          break;
        case 'timer.schedule':
          timers.push(e.timer);
          break;
        case 'timer.cancel': {
          // Cancel before inserting this decision's timers: a later visit's timers must survive.
          // Skipped when the order row says no pending visit-bound timer is of this visit or later.
          const before = timersBefore.get(e.orderId);
          if (before === undefined || before === null || before >= e.visit) await cancelVisitTimers(tx, e.orderId, e.visit);
          break;
        }
        case 'timer.update':
          // The decision saw the timer pending inside this transaction: it cannot have fired meanwhile.
          if (!(await updatePendingTimer(tx, e.timerId, { dueAt: e.dueAt, state: e.state }))) throw new ConcurrentUpdate();
          break;
        case 'timer.cancel_one':
          if (!(await cancelPendingTimer(tx, e.timerId))) throw new ConcurrentUpdate();
          break;
        case 'rule.run':
          runs.push(e.run);
          break;
      }
    }
    // An order's runs go into its last new history row; the runs of orders without one, into sets.
    const runsOf = new Map<string, RuleRun[]>();
    for (const r of runs) {
      const list = runsOf.get(r.orderId);
      if (list) list.push(r);
      else runsOf.set(r.orderId, [r]);
    }
    for (const [orderId, entries] of history) {
      const own = runsOf.get(orderId);
      const held = own !== undefined && historyCanHoldRuns(own);
      await appendHistory(tx, orderId, entries, afterSeq.get(orderId), held ? own : undefined);
      if (held) runsOf.delete(orderId);
    }
    await insertDeliveries(tx, deliveries);
    await insertTimers(tx, timers, now);
    if (runsOf.size > 0) await insertRuleRuns(tx, [...runsOf.values()].flat());
  }

  /** Applies a command through decide() in one transaction. */
  async function applyCommand(input: ApplyInput): Promise<ApplyResult> {
    // Liquid rendered outside the transaction, and how often; after a few renders overtaken by
    // other changes of the order, the next one renders in place so that the change ends.
    let decided: Decided | undefined;
    let renders = 0;
    const attempt = async () => {
      const cfg = await currentConfig(store.configVersionInTransaction !== undefined);
      return store.transaction(async (tx) => {
        await checkConfig(tx, cfg);
        if (input.idempotency) {
          const rec = await getIdempotency(tx, input.idempotency.scope, input.idempotency.key);
          if (rec && opts.idempotencyTtlMs !== undefined && Date.parse(rec.created_at) < clock.now().getTime() - opts.idempotencyTtlMs) {
            // Expired but not pruned yet: the key is free again.
            await deleteIdempotency(tx, input.idempotency.scope, input.idempotency.key);
          } else if (rec) {
            if (rec.request_hash !== input.idempotency.hash) {
              throw new ApiError('idempotency_conflict', 'This Idempotency-Key was already used with a different request; use a new key.');
            }
            return { body: JSON.parse(rec.response_json) as ChangeResponse, replayed: true };
          }
        }
        const { decision, now, counters } = await prepare(tx, input, true, cfg, { ...(decided ? { decided } : {}), inside: renders >= 3 });
        if (!decision.ok) throw rejectionToError(decision);
        if (input.command.type === 'create' && input.command.externalRef) {
          const existing = await findOrderByExternalRef(tx, input.command.workflow, input.command.externalRef);
          if (existing) {
            throw new ApiError('conflict', `An order with externalRef "${input.command.externalRef}" already exists in this workflow.`, {
              orderId: existing.id,
            });
          }
        }
        const primaryId = decision.order.id;
        const body = toResponse(decision, primaryId);
        if (!decision.noop) await persist(tx, decision, now, { id: primaryId, counters });
        else await persistRunsOnly(tx, decision);
        if (input.alsoInTransaction) await input.alsoInTransaction(tx);
        if (input.idempotency) {
          await putIdempotency(tx, { ...input.idempotency, body, now });
        }
        return { body, replayed: false, decision };
      });
    };
    let result: ApplyResult | undefined;
    for (let tries = 1; result === undefined; tries++) {
      try {
        result = await attempt();
      } catch (e) {
        if (e instanceof RenderOutside && opts.renderPool) {
          // Out of the transaction: render on a thread while other changes and reads go on, then run again.
          renders++;
          decided = { ...e.decided, decision: await opts.renderPool.run<Decision>(e.job) };
          continue;
        }
        if (e instanceof StaleConfig) {
          // Decided nothing yet: reload the configuration outside the transaction and run again.
          config = null;
          if (tries < 8) continue;
          throw new ApiError('conflict', 'Workflows or settings kept changing while this request ran; try again.');
        }
        if (e instanceof ConcurrentUpdate) {
          // Another process changed the order between our read and our write. Without a
          // caller-supplied version the command is simply decided again on the fresh order.
          if (input.expectedVersion !== undefined || tries >= 8) {
            throw new ApiError('version_conflict', 'The order changed while this request ran; reload it and try again.');
          }
          continue;
        }
        // A concurrent twin with the same idempotency key committed first: replay its answer.
        if (input.idempotency && isUniqueViolation(e) && tries < 3) continue;
        if (isUniqueViolation(e) && input.command.type === 'create') {
          throw new ApiError('conflict', 'An order with this externalRef already exists in this workflow.');
        }
        throw e;
      }
    }
    if (!result.replayed && result.decision && !result.decision.noop) {
      const deliveries = result.body.deliveries.length;
      const timers = result.decision.effects.filter((e) => e.type === 'timer.schedule').length;
      events.emit('committed', { deliveries, timers, applied: result.decision.applied });
      // Workers (in other processes too) look again only when there is new work for them: a
      // delivery, or a timer that may fall due before the time they sleep until.
      if (deliveries > 0 || timers > 0) void store.wake?.().catch(() => undefined);
    }
    return result;
  }

  async function persistRunsOnly(tx: Kysely<DB>, d: Extract<Decision, { ok: true }>): Promise<void> {
    await insertRuleRuns(
      tx,
      d.effects.flatMap((e) => (e.type === 'rule.run' ? [e.run] : [])),
    );
  }

  /** Computes what a command would do, storing nothing. */
  async function preview(input: ApplyInput): Promise<Extract<Decision, { ok: true }>> {
    const { decision } = await prepare(store.db, input, false, await currentConfig());
    if (!decision.ok) throw rejectionToError(decision);
    return decision;
  }

  return {
    applyCommand,
    preview,
    events,
    loadVersion: (key: string, version: number) => loadVersion(store.db, key, version),
    clearCache: () => {
      versionCache.clear();
      config = null;
    },
  };
}
