import type { AppliedTransition } from '@orderflow/core';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Clock } from '../runtime/clock.js';
import type { Runtime } from '../runtime/runtime.js';
import { groupCommitStats } from '../store/group-commit.js';
import { countDeliveriesByStatus, countPendingTimers, oldestDue } from '../store/queue.js';
import { countRuleRunsByMatched } from '../store/rule-runs.js';
import type { Store } from '../store/store.js';

/** Prometheus metrics of one Orderflow instance, on a registry of its own. */
export interface Metrics {
  registry: Registry;
  /** A delivery attempt ended (`outcome`: delivered, retry, failed, dead). */
  deliveryAttempt(type: string, outcome: string, durationMs: number): void;
  /** A delivery was delivered; `ms` since it was committed to the outbox. */
  deliveryLatency(ms: number): void;
  /** A timer fired; `ms` after its due time. */
  timerFired(outcome: 'fired' | 'skipped', lagMs: number): void;
  /** An HTTP request finished. */
  httpRequest(method: string, route: string, status: number, seconds: number): void;
  /** Text exposition for `GET /metrics`. */
  render(): Promise<{ contentType: string; body: string }>;
  /** Stops listening to the runtime. */
  close(): void;
}

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  store: Store;
  runtime?: Runtime;
  clock: Clock;
  /** Node.js process metrics (heap, event loop lag, ...). @default true */
  processMetrics?: boolean;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * Creates the metrics: transitions (from the runtime's commits), rule runs, deliveries and
 * their backlog (read from the database when scraped, so they include other processes'
 * work), delivery and timer lag, HTTP latency.
 */
export function createMetrics(opts: MetricsOptions): Metrics {
  const { store, clock } = opts;
  const registry = new Registry();
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'orderflow_' });
  const registers = [registry];

  new Counter({
    name: 'orderflow_commit_transactions_total',
    help: 'Write transactions this process committed (group commit: one may carry many changes)',
    registers,
    collect() {
      this.reset();
      this.inc(groupCommitStats.batches);
    },
  });
  new Counter({
    name: 'orderflow_commit_changes_total',
    help: 'Changes committed by this process through shared write transactions',
    registers,
    collect() {
      this.reset();
      this.inc(groupCommitStats.changes);
    },
  });
  new Counter({
    name: 'orderflow_commit_reruns_total',
    help: 'Shared write transactions rolled back and run again with a savepoint per change, because one change failed after writing (SQLite)',
    registers,
    collect() {
      this.reset();
      this.inc(groupCommitStats.reruns);
    },
  });
  new Gauge({
    name: 'orderflow_commit_largest_batch',
    help: 'Most changes one write transaction of this process carried',
    registers,
    collect() {
      this.set(groupCommitStats.largest);
    },
  });

  const transitions = new Counter({
    name: 'orderflow_transitions_total',
    help: 'State transitions committed by this process, by actor type (user, api, rule, timer, system)',
    labelNames: ['actor'] as const,
    registers,
  });
  new Counter({
    name: 'orderflow_rule_runs_total',
    help: 'Rule evaluations recorded in the rule run log, by whether the conditions matched',
    labelNames: ['matched'] as const,
    registers,
    async collect() {
      const rows = await countRuleRunsByMatched(store.db);
      this.reset();
      for (const r of rows) this.inc({ matched: r.matched ? 'true' : 'false' }, r.n);
    },
  });
  const attempts = new Counter({
    name: 'orderflow_delivery_attempts_total',
    help: 'Delivery attempts made by this process, by type and outcome (delivered, retry, failed, dead)',
    labelNames: ['type', 'outcome'] as const,
    registers,
  });
  const attemptDuration = new Histogram({
    name: 'orderflow_delivery_attempt_duration_seconds',
    help: 'Duration of one delivery attempt (send only)',
    labelNames: ['type'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  new Gauge({
    name: 'orderflow_deliveries',
    help: 'Deliveries in the outbox, by status (pending, delivered, failed, dead)',
    labelNames: ['status'] as const,
    registers,
    async collect() {
      const rows = await countDeliveriesByStatus(store.db);
      this.reset();
      for (const s of ['pending', 'delivered', 'failed', 'dead']) this.set({ status: s }, 0);
      for (const r of rows) this.set({ status: r.status }, r.n);
    },
  });
  const latency = new Histogram({
    name: 'orderflow_delivery_latency_seconds',
    help: 'Time from commit to successful delivery',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600, 86400],
    registers,
  });
  new Gauge({
    name: 'orderflow_outbox_lag_seconds',
    help: 'Age of the oldest due pending delivery (0 when the outbox is drained)',
    registers,
    async collect() {
      const now = clock.now().toISOString();
      this.set(lagSeconds(await oldestDue(store.db, 'deliveries', now), now));
    },
  });
  new Gauge({
    name: 'orderflow_timer_lag_seconds',
    help: 'How long the oldest due pending timer is overdue (0 when none is)',
    registers,
    async collect() {
      const now = clock.now().toISOString();
      this.set(lagSeconds(await oldestDue(store.db, 'timers', now), now));
    },
  });
  new Gauge({
    name: 'orderflow_timers_pending',
    help: 'Pending timers',
    registers,
    async collect() {
      this.set(await countPendingTimers(store.db));
    },
  });
  const timerLag = new Histogram({
    name: 'orderflow_timer_fire_lag_seconds',
    help: 'Time between a timer due time and its firing, by outcome (fired, skipped: the order had moved on)',
    labelNames: ['outcome'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600],
    registers,
  });
  const http = new Histogram({
    name: 'orderflow_http_request_duration_seconds',
    help: 'HTTP request latency by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });

  const onCommitted = (e: { applied?: AppliedTransition[] }) => {
    for (const a of e.applied ?? []) if (a.from !== null) transitions.inc({ actor: a.actor.type });
  };
  opts.runtime?.events.on('committed', onCommitted);

  return {
    registry,
    deliveryAttempt(type, outcome, durationMs) {
      attempts.inc({ type, outcome });
      attemptDuration.observe({ type }, durationMs / 1000);
    },
    deliveryLatency(ms) {
      latency.observe(Math.max(0, ms) / 1000);
    },
    timerFired(outcome, lagMs) {
      timerLag.observe({ outcome }, Math.max(0, lagMs) / 1000);
    },
    httpRequest(method, route, status, seconds) {
      http.observe({ method, route, status: String(status) }, seconds);
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    close() {
      opts.runtime?.events.off('committed', onCommitted);
    },
  };
}

function lagSeconds(oldest: string | null | undefined, now: string): number {
  if (!oldest) return 0;
  return Math.max(0, (Date.parse(now) - Date.parse(oldest)) / 1000);
}
