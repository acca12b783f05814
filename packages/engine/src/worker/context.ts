import type { Definition } from '@orderflow/core';
import type { EmailSender } from '../actions/email.js';
import type { TemplateRenderer } from '../actions/template.js';
import type { WebhookSender } from '../actions/webhook.js';
import type { Config } from '../config.js';
import type { Clock } from '../runtime/clock.js';
import type { RenderPool } from '../runtime/render-pool.js';
import type { Runtime } from '../runtime/runtime.js';
import * as queue from '../store/queue.js';
import type { Store } from '../store/store.js';
import type { Metrics } from './metrics.js';
import type { Notification } from './notifications.js';
import type { AutomationState } from './settings.js';

/** Named points where a test can simulate a crash (the hook throws). Never set in production. */
export type WorkerCrashPoint = 'after-claim' | 'after-send' | 'before-ack';

/** The structured logger the worker writes to (pino's Logger fits). */
export interface WorkerLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** The senders the worker delivers through. */
export interface WorkerSenders {
  email: EmailSender;
  webhook: WebhookSender;
}

/** What one `runOnce()` did. */
export interface WorkerCounts {
  /** Deliveries claimed. */
  claimed: number;
  delivered: number;
  /** Failed attempts scheduled for another try. */
  retried: number;
  /** Failed for good (not retryable); retryable by hand. */
  failed: number;
  dead: number;
  timersFired: number;
  /** Timers that fired but changed nothing (the order had moved on). */
  timersSkipped: number;
  timersFailed: number;
  /** Rows whose lease another worker had taken over; nothing was recorded for them. */
  leaseLost: number;
  /** Automation is paused globally; nothing was claimed. */
  paused: boolean;
}

export const zeroCounts = (): WorkerCounts => ({
  claimed: 0,
  delivered: 0,
  retried: 0,
  failed: 0,
  dead: 0,
  timersFired: 0,
  timersSkipped: 0,
  timersFailed: 0,
  leaseLost: 0,
  paused: false,
});

/** A lease was taken over by another worker: this one may not complete the row. */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
}

/** Raised when a test crash hook fires; propagates out of `runOnce()` like a dying process. */
export class SimulatedCrashError extends Error {
  override readonly name = 'SimulatedCrashError';
}

/** What the delivery and timer rounds share: the worker's parts, settings and hooks. */
export interface WorkerContext {
  store: Store;
  runtime: Runtime;
  clock: Clock;
  newId: (prefix: string) => string;
  config: Readonly<Config>;
  log: WorkerLogger;
  renderer: TemplateRenderer;
  renderPool?: RenderPool;
  metrics?: Metrics;
  batchSize: number;
  /** Deliveries in flight at once, in all. */
  concurrency: number;
  /** Deliveries in flight at once to one destination (endpoint, URL origin, mail server). */
  perDestination: number;
  leaseMs: number;
  renewMs: number;
  random: () => number;
  senders(): WorkerSenders;
  webhookSecret(): Promise<string>;
  loadDefinition(workflow: string, version: number): Promise<Definition | undefined>;
  /** Test crash points: throws {@link SimulatedCrashError} where a test asked for a crash. */
  crash(name: WorkerCrashPoint): void;
  /** Publishes notifications stored by a committed transaction. */
  publish(list: Notification[]): void;
  /** Asks for another pass soon (an alert was queued). */
  wake(): void;
  /** True once `stop()` was called: claimed rows not started yet are given back. */
  stopping(): boolean;
}

/** What a claim writes: a lease from now and a fresh fencing token. */
export function claimOptions(ctx: WorkerContext, automation: AutomationState, limit = ctx.batchSize): queue.ClaimOptions {
  const now = ctx.clock.now();
  return {
    now: now.toISOString(),
    leaseUntil: new Date(now.getTime() + ctx.leaseMs).toISOString(),
    token: ctx.newId('lse'),
    limit,
    automation,
    rowLocks: ctx.store.capabilities.rowLocks,
  };
}

/** Keeps the claims of `token` alive while they are worked on; returns the stop function. */
export function renewWhileBusy(ctx: WorkerContext, table: queue.QueueTable, token: string): () => void {
  const every = ctx.renewMs;
  if (every <= 0) return () => undefined;
  const timer = setInterval(
    () => {
      const until = new Date(ctx.clock.now().getTime() + ctx.leaseMs).toISOString();
      void queue
        .renewLeases(ctx.store.db, table, token, until)
        .catch((e: unknown) => ctx.log.warn({ err: e, table }, 'could not renew leases'));
    },
    Math.max(50, every),
  );
  return () => clearInterval(timer);
}
