import type { Definition, Delivery, EventEnvelope, OutboxEntry } from '@orderflow/core';
import type { Kysely } from 'kysely';
import { type EmailMessage, resolveRecipients } from '../actions/email.js';
import { headerValue, TemplateError, type TemplateRenderer, templateVars } from '../actions/template.js';
import { type WebhookRequest, webhookBody } from '../actions/webhook.js';
import type { RenderPool } from '../runtime/render-pool.js';
import type { DeliveryJob, DeliveryRenders, Rendered } from '../runtime/render-worker.js';
import { getEndpointRow } from '../store/endpoints.js';
import type { DB } from '../store/schema.js';
import { getTemplate } from '../store/templates.js';

/** What preparing a delivery needs. */
export interface PrepareContext {
  db: Kysely<DB>;
  renderer: TemplateRenderer;
  /** Render threads: when given, a delivery's templates render there, off the event loop. */
  renderPool?: RenderPool;
  adminEmails: readonly string[];
  /** The workflow version an order runs on (for state names in templates); undefined when unknown. */
  loadDefinition: (workflow: string, version: number) => Promise<Definition | undefined>;
  /** The global webhook secret (ORDERFLOW_WEBHOOK_SECRET or the generated one). */
  webhookSecret: () => Promise<string>;
  now: Date;
}

/** A delivery ready to send, or why it cannot be sent at all (never retryable). */
export type PreparedDelivery =
  | { type: 'email'; message: EmailMessage }
  | { type: 'webhook'; request: WebhookRequest; endpoint: string | null }
  | {
      type: 'notify';
      channel: string;
      severity: 'info' | 'warning' | 'critical';
      message: string;
      /** Set for the `admins` channel when admin addresses are configured. */
      email: EmailMessage | null;
    }
  | {
      type: 'invalid';
      error: string;
      /** `render_failed` when a template failed to render or ran past a limit. */
      code?: 'render_failed';
      endpoint?: string;
      endpointDisabled?: boolean;
    };

/**
 * The part of an outbox row preparing needs; `envelopeJson`, the envelope as stored (its
 * `JSON.stringify`), is sent as it is when a webhook's body is the envelope.
 */
export type DeliverySource = Pick<OutboxEntry, 'id' | 'action' | 'envelope'> & { envelopeJson?: string };

/** Template variables of an envelope (SPEC §3). */
export async function varsFor(ctx: PrepareContext, envelope: EventEnvelope): Promise<Record<string, unknown>> {
  const order = envelope.data.order;
  const definition = await ctx.loadDefinition(order.workflow, order.workflowVersion).catch(() => undefined);
  return templateVars(envelope, definition, { now: ctx.now });
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Renders an outbox row into the request or message it stands for. */
export async function prepareDelivery(ctx: PrepareContext, d: DeliverySource): Promise<PreparedDelivery> {
  const action = d.action;
  // A webhook that sends the envelope as it is, with no header templates, renders nothing: no variables needed.
  const rendersNothing = action.type === 'webhook' && action.body === undefined && Object.keys(action.headers ?? {}).length === 0;
  const vars = rendersNothing ? {} : await varsFor(ctx, d.envelope);
  const template = action.type === 'send_email' ? await getTemplate(ctx.db, action.template) : undefined;
  const renderer = ctx.renderPool ? await renderedOffThread(ctx.renderPool, ctx.renderer, d, vars, template) : ctx.renderer;
  const render = (source: string) => renderer.render(source, vars);
  switch (action.type) {
    case 'send_email': {
      if (!template) return { type: 'invalid', error: `email template "${action.template}" does not exist` };
      let rendered: { subject: string; html: string; text: string };
      try {
        rendered = renderer.renderEmail(
          { subject: template.subject, html: template.html, ...(template.text ? { text: template.text } : {}) },
          vars,
        );
      } catch (err) {
        return { type: 'invalid', error: `template "${action.template}": ${message(err)}`, code: 'render_failed' };
      }
      const recipients = { order: d.envelope.data.order, adminEmails: ctx.adminEmails, render };
      const to = resolveRecipients(action.to, recipients);
      if (!to.ok) return { type: 'invalid', error: `to: ${to.error}` };
      let cc: string[] = [];
      if (action.cc !== undefined && action.cc.trim() !== '') {
        const r = resolveRecipients(action.cc, recipients);
        if (!r.ok) return { type: 'invalid', error: `cc: ${r.error}` };
        cc = r.addresses;
      }
      return { type: 'email', message: { deliveryId: d.id, to: to.addresses, cc, ...rendered } };
    }
    case 'webhook': {
      let url: string;
      let secret: string;
      let headers: Record<string, string> = {};
      if (action.endpoint !== undefined) {
        const ep = await getEndpointRow(ctx.db, action.endpoint);
        if (!ep) return { type: 'invalid', error: `webhook endpoint "${action.endpoint}" does not exist` };
        if (!ep.enabled) {
          return {
            type: 'invalid',
            error: `webhook endpoint "${action.endpoint}" is disabled${ep.disabled_reason ? ` (${ep.disabled_reason})` : ''}; enable it and retry`,
            endpoint: ep.key,
            endpointDisabled: true,
          };
        }
        url = ep.url;
        secret = ep.secret;
        headers = JSON.parse(ep.headers_json) as Record<string, string>;
      } else if (action.url !== undefined) {
        url = action.url;
        secret = await ctx.webhookSecret();
      } else {
        return { type: 'invalid', error: 'the webhook action has neither url nor endpoint' };
      }
      const body =
        action.body === undefined && d.envelopeJson !== undefined
          ? { ok: true as const, body: d.envelopeJson }
          : webhookBody(d.envelope, action.body, (value) => renderer.renderJson(value, vars));
      if (!body.ok)
        return { type: 'invalid', error: body.error, code: 'render_failed', ...(action.endpoint ? { endpoint: action.endpoint } : {}) };
      // Header values of the action are Liquid templates; a line break from order data becomes a space.
      for (const [name, source] of Object.entries(action.headers ?? {})) {
        try {
          headers = { ...headers, [name]: headerValue(render(source)) };
        } catch (err) {
          return {
            type: 'invalid',
            error: `header ${name}: ${message(err)}`,
            ...(err instanceof TemplateError ? { code: 'render_failed' as const } : {}),
            ...(action.endpoint ? { endpoint: action.endpoint } : {}),
          };
        }
      }
      return {
        type: 'webhook',
        endpoint: action.endpoint ?? null,
        request: {
          deliveryId: d.id,
          url,
          method: action.method ?? 'POST',
          headers,
          body: body.body,
          secret,
          timestamp: Math.floor(ctx.now.getTime() / 1000),
        },
      };
    }
    case 'notify': {
      let text: string;
      try {
        text = render(action.message).trim();
      } catch (err) {
        return { type: 'invalid', error: `message template: ${message(err)}`, code: 'render_failed' };
      }
      const severity = action.severity ?? 'info';
      let email: EmailMessage | null = null;
      if (action.channel === 'admins' && ctx.adminEmails.length > 0) {
        const firstLine = text.split(/[\r\n]/, 1)[0] ?? '';
        const subject = `[Orderflow] ${severity === 'info' ? '' : `${severity}: `}${firstLine}`.slice(0, 200);
        email = {
          deliveryId: d.id,
          to: [...ctx.adminEmails],
          subject,
          html: `<p>${escapeHtml(text).replace(/\r?\n/g, '<br>')}</p><p>Order: ${escapeHtml(d.envelope.data.order.id)}</p>`,
          text: `${text}\n\nOrder: ${d.envelope.data.order.id}`,
        };
      }
      return { type: 'notify', channel: action.channel, severity, message: text, email };
    }
  }
}

const hasLiquid = (s: string): boolean => s.includes('{{') || s.includes('{%');

/**
 * Renders everything a delivery needs on a render thread and answers a renderer that hands
 * out those results: `prepareDelivery` then runs unchanged, without rendering on the event loop.
 */
async function renderedOffThread(
  pool: RenderPool,
  base: TemplateRenderer,
  d: DeliverySource,
  vars: Record<string, unknown>,
  template: { subject: string; html: string; text?: string | null } | undefined,
): Promise<TemplateRenderer> {
  const action = d.action;
  const job: DeliveryJob = { kind: 'delivery', vars, texts: [] };
  if (action.type === 'send_email') {
    job.texts.push(...[action.to, action.cc ?? ''].filter(hasLiquid));
    if (template) job.email = { subject: template.subject, html: template.html, ...(template.text ? { text: template.text } : {}) };
  } else if (action.type === 'webhook') {
    job.texts.push(...Object.values(action.headers ?? {}));
    if (action.body !== undefined) job.body = action.body;
  } else if (action.type === 'notify') {
    job.texts.push(action.message);
  }
  job.texts = job.texts.filter(hasLiquid);
  if (job.body !== undefined && !hasLiquid(JSON.stringify(job.body))) delete job.body;
  // Text without Liquid renders as itself: only a real template is worth the trip to a render thread.
  if (job.texts.length === 0 && job.email === undefined && job.body === undefined) return base;
  const done = await pool.run<DeliveryRenders>(job);
  const texts = new Map(job.texts.map((t, i) => [t, done.texts[i]]));
  const value = <T>(r: Rendered<T>): T => {
    if (r.ok) return r.value;
    throw new TemplateError(r.error);
  };
  return {
    render: (source, v, opts) => {
      const hit = opts?.escape ? undefined : texts.get(source);
      return hit ? value(hit) : base.render(source, v, opts);
    },
    // prepareDelivery renders one email template and one body per delivery: the ones sent above.
    renderEmail: (t, v) => (done.email ? value(done.email) : base.renderEmail(t, v)),
    renderJson: (body, v) => (done.body ? value(done.body) : base.renderJson(body, v)),
  };
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** Shown instead of the value of a header that looks like a credential. */
export const REDACTED = '[redacted]';
const SENSITIVE_HEADER = /authorization|cookie|token|secret|key|password|signature/i;

/** Header values as the API shows them: credentials replaced by {@link REDACTED}. */
export function redactHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, SENSITIVE_HEADER.test(k) ? REDACTED : v]));
}

/** A preview of a delivery as the API shows it (secrets left out). */
export async function previewDelivery(ctx: PrepareContext, d: DeliverySource): Promise<Record<string, unknown>> {
  const p = await prepareDelivery(ctx, d);
  switch (p.type) {
    case 'email':
      return {
        to: p.message.to.join(', '),
        cc: p.message.cc && p.message.cc.length > 0 ? p.message.cc.join(', ') : null,
        subject: p.message.subject,
        html: p.message.html,
        text: p.message.text,
      };
    case 'webhook':
      return {
        url: p.request.url,
        method: p.request.method,
        headers: redactHeaders(p.request.headers ?? {}),
        body: p.request.body,
        endpoint: p.endpoint,
      };
    case 'notify':
      return { channel: p.channel, severity: p.severity, message: p.message, emailTo: p.email ? p.email.to.join(', ') : null };
    case 'invalid':
      throw new Error(p.error);
  }
}

/** Who a delivery goes to and what it is about, for lists (`to`, `subject`); `error` when it cannot be worked out. */
export type DeliverySummary = NonNullable<Delivery['summary']>;

/**
 * The recipient and subject of a delivery as they render now, without the
 * body: cheap enough for every row of a list.
 */
export async function summarizeDelivery(ctx: PrepareContext, d: DeliverySource): Promise<DeliverySummary> {
  const action = d.action;
  try {
    const vars = await varsFor(ctx, d.envelope);
    const render = (source: string) => ctx.renderer.render(source, vars);
    switch (action.type) {
      case 'send_email': {
        const to = resolveRecipients(action.to, { order: d.envelope.data.order, adminEmails: ctx.adminEmails, render });
        const template = await getTemplate(ctx.db, action.template);
        const subject = template
          ? render(template.subject)
              .replace(/[\r\n]+/g, ' ')
              .trim()
          : undefined;
        return {
          to: to.ok ? to.addresses.join(', ') : action.to,
          ...(subject !== undefined ? { subject } : {}),
          ...(!to.ok ? { error: to.error } : !template ? { error: `email template "${action.template}" does not exist` } : {}),
        };
      }
      case 'webhook':
        return { to: action.endpoint !== undefined ? `endpoint ${action.endpoint}` : (action.url ?? ''), subject: d.envelope.type };
      case 'notify':
        return {
          to: `channel ${action.channel}`,
          subject:
            render(action.message)
              .trim()
              .split(/[\r\n]/, 1)[0] ?? '',
        };
    }
  } catch (err) {
    return { error: message(err) };
  }
  return {};
}
