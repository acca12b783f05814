import type { OutboxEntry } from '@orderflow/core';
import type { FastifyInstance } from 'fastify';
import type { TemplateRenderer } from '../actions/template.js';
import type { Config } from '../config.js';
import type { Clock } from '../runtime/clock.js';
import type { RenderPool } from '../runtime/render-pool.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Store } from '../store/store.js';
import type { Metrics } from '../worker/metrics.js';
import type { NotificationBus } from '../worker/notifications.js';
import type { Worker, WorkerSenders } from '../worker/worker.js';

/** Everything the HTTP layer needs; nothing here listens on a port. */
export interface AppDeps {
  store: Store;
  runtime: Runtime;
  config: Readonly<Config>;
  clock: Clock;
  newId: (prefix: string) => string;
  /** Extra route registrations (worker-backed operations routes). */
  plugins?: ((app: FastifyInstance, deps: AppDeps) => void | Promise<void>)[];
  /** Directory of the built web UI. */
  webDir?: string;
  /** Renders an outbox entry for previews (emails, webhook bodies). */
  renderDelivery?: (d: OutboxEntry) => Promise<unknown>;
  /** The recipient and subject of a stored delivery, for lists. */
  summarizeDelivery?: (d: Pick<OutboxEntry, 'id' | 'action' | 'envelope'>) => Promise<unknown>;
  /** Checks a template's syntax before it is stored; throws ApiError. */
  validateTemplate?: (t: { subject: string; html: string; text?: string | null }) => void;
  logger?: boolean | Record<string, unknown>;
}

/** What the operations routes need besides the app's own dependencies. */
export interface OpsDeps {
  notifications: NotificationBus;
  renderer: TemplateRenderer;
  /** Render threads for template previews (rendering stays in this thread without them). */
  renderPool?: RenderPool;
  /** Template previews per token (or address) and minute. @default 60 */
  previewsPerMinute?: number;
  /** The webhook sender for `POST /endpoints/:key/test`. */
  senders: () => Pick<WorkerSenders, 'webhook'>;
  /** The in-process worker, woken when work is made due (retry, resume, reschedule). */
  worker?: Worker;
  metrics?: Metrics;
  /** How often the notification stream looks for notifications stored by other processes. @default 1000 */
  streamPollMs?: number;
  /** Heartbeat comment interval of the notification stream. @default 15000 */
  heartbeatMs?: number;
}
