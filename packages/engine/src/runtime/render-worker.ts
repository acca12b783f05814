/**
 * Worker thread that runs Liquid rendering away from the HTTP event loop: whole decisions
 * whose rules render Liquid (`set_data`, `create_order`), and email template previews. A slow
 * template then delays only the change that uses it, never `/healthz` or other requests.
 */
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { type Command, type DecideContext, type Definition, decide, type Order, type WorkflowVersion } from '@orderflow/core';
import { monotonicFactory } from 'ulid';
import {
  budgetedRender,
  createTemplateRenderer,
  type EmailTemplateSource,
  jsonBodyValue,
  type RenderedEmail,
} from '../actions/template.js';

/** A decision to run in the worker; the context is plain data. */
export interface DecideJob {
  kind: 'decide';
  definition: Definition;
  order: Order | null;
  command: Command;
  ctx: Omit<DecideContext, 'newId' | 'resolveWorkflow' | 'renderString' | 'pausedRules'> & {
    pausedRules: string[];
    workflows: WorkflowVersion[];
    renderBudgetMs: number;
  };
}

/** An email template to render (previews). */
export interface EmailJob {
  kind: 'email';
  template: EmailTemplateSource;
  vars: Record<string, unknown>;
}

/** Everything one delivery renders: texts (raw), an email template, a webhook body. */
export interface DeliveryJob {
  kind: 'delivery';
  vars: Record<string, unknown>;
  texts: string[];
  email?: EmailTemplateSource;
  /** A webhook body, as written in the action. */
  body?: unknown;
}

/** The result of one render of a delivery job: its value, or why it failed. */
export type Rendered<T> = { ok: true; value: T } | { ok: false; error: string };

/** What a delivery job answers. */
export interface DeliveryRenders {
  texts: Rendered<string>[];
  email?: Rendered<RenderedEmail>;
  body?: Rendered<unknown>;
}

export type RenderJob = DecideJob | EmailJob | DeliveryJob;

function attempt<T>(f: () => T): Rendered<T> {
  try {
    return { ok: true, value: f() };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

// Rendering yields the CPU to request handling: on Linux the niceness of pid 0 is this thread's own.
try {
  setPriority(10);
} catch {
  // Not permitted or not supported here: render at normal priority.
}

const renderer = createTemplateRenderer();
const nextUlid = monotonicFactory();

function run(job: RenderJob): unknown {
  if (job.kind === 'email') return renderer.renderEmail(job.template, job.vars);
  if (job.kind === 'delivery') {
    const { vars } = job;
    const out: DeliveryRenders = { texts: job.texts.map((source) => attempt(() => renderer.render(source, vars))) };
    if (job.email) {
      const template = job.email;
      out.email = attempt(() => renderer.renderEmail(template, vars));
    }
    if (job.body !== undefined) out.body = attempt(() => renderer.renderJson(jsonBodyValue(job.body), vars));
    return out;
  }
  const { pausedRules, workflows, renderBudgetMs, ...rest } = job.ctx;
  const at = Date.parse(rest.now);
  const byKey = new Map(workflows.map((w) => [w.key, w]));
  const ctx: DecideContext = {
    ...rest,
    newId: (prefix) => `${prefix}_${nextUlid(at)}`,
    pausedRules: new Set(pausedRules),
    resolveWorkflow: (key) => byKey.get(key),
    renderString: budgetedRender(renderer, renderBudgetMs),
  };
  return decide(job.definition, job.order, job.command, ctx);
}

parentPort?.on('message', (msg: { id: number; job: RenderJob }) => {
  try {
    parentPort?.postMessage({ id: msg.id, ok: true, value: run(msg.job) });
  } catch (err) {
    const error = err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) };
    parentPort?.postMessage({ id: msg.id, ok: false, error });
  }
});
