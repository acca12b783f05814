import { type Definition, type EventEnvelope, type Order, Slug, TemplateBody, TemplatePreviewBody } from '@orderflow/core';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { type RenderedEmail, TemplateError, templateVars } from '../actions/template.js';
import { ApiError } from '../errors.js';
import { getOrder } from '../store/changes.js';
import * as repo from '../store/repo.js';
import { deleteTemplate, getTemplate, listTemplates, upsertTemplate } from '../store/templates.js';
import { assertUnused } from '../workflows.js';
import { requireRole } from './auth.js';
import type { AppDeps, OpsDeps } from './deps.js';
import { parse } from './parse.js';
import { sampleOrder } from './sample-order.js';

const keyParams = z.object({ key: Slug });

/** Email templates: stored, listed, replaced and deleted (unless a rule uses them). */
export function registerTemplateRoutes(api: FastifyInstance, deps: AppDeps): void {
  api.get('/templates', async (req) => {
    requireRole(req, 'viewer');
    return { items: await listTemplates(deps.store.db), nextCursor: null };
  });
  api.get('/templates/:key', async (req) => {
    requireRole(req, 'viewer');
    const { key } = parse(keyParams, req.params, 'path');
    const t = await getTemplate(deps.store.db, key);
    if (!t) throw new ApiError('not_found', `Template "${key}" does not exist.`);
    return t;
  });
  api.put('/templates/:key', async (req, reply) => {
    requireRole(req, 'designer');
    const { key } = parse(keyParams, req.params, 'path');
    const body = parse(TemplateBody, req.body);
    if (body.key !== undefined && body.key !== key) {
      throw new ApiError('validation_failed', 'The body key does not match the URL.', {
        errors: [{ path: 'body.key', message: `must be "${key}"` }],
      });
    }
    if (deps.validateTemplate) deps.validateTemplate(body);
    const created = await deps.store.transaction(async (tx) => {
      const existed = (await getTemplate(tx, key)) !== undefined;
      await upsertTemplate(tx, { ...body, key }, deps.clock.now().toISOString());
      return !existed;
    });
    // 201 with Location when this PUT made the template, 200 when it replaced one.
    if (created) reply.code(201).header('location', `/api/v1/templates/${key}`);
    return getTemplate(deps.store.db, key);
  });
  api.delete('/templates/:key', async (req, reply) => {
    requireRole(req, 'designer');
    const { key } = parse(keyParams, req.params, 'path');
    await deps.store.transaction(async (tx) => {
      await assertUnused(tx, 'template', key);
      if (!(await deleteTemplate(tx, key))) throw new ApiError('not_found', `Template "${key}" does not exist.`);
    });
    return reply.code(204).send();
  });
}

/** Template previews: a stored or given template rendered for an order or sample data, at a bounded rate per caller. */
export function registerTemplatePreviewRoutes(
  api: FastifyInstance,
  deps: AppDeps,
  ops: Pick<OpsDeps, 'renderer' | 'renderPool' | 'previewsPerMinute'>,
): void {
  const db = deps.store.db;
  const nowIso = () => deps.clock.now().toISOString();

  async function definitionOf(order: Order): Promise<Definition | undefined> {
    try {
      return await deps.runtime.loadVersion(order.workflow, order.workflowVersion);
    } catch {
      return undefined;
    }
  }

  // Previews render arbitrary Liquid on demand: each caller gets a bounded share.
  const previewWindow = new Map<string, { count: number; resetAt: number }>();
  const previewsPerMinute = ops.previewsPerMinute ?? 60;
  function countPreview(key: string, reply: FastifyReply): void {
    const now = Date.now();
    if (previewWindow.size > 10_000) for (const [k, w] of previewWindow) if (w.resetAt <= now) previewWindow.delete(k);
    let w = previewWindow.get(key);
    if (!w || w.resetAt <= now) {
      w = { count: 0, resetAt: now + 60_000 };
      previewWindow.set(key, w);
    }
    if (++w.count > previewsPerMinute) {
      const retry = Math.max(1, Math.ceil((w.resetAt - now) / 1000));
      reply.header('retry-after', String(retry));
      throw new ApiError('rate_limited', `More than ${previewsPerMinute} template previews per minute; retry in ${retry} s.`);
    }
  }

  api.post('/templates/:key/preview', async (req, reply) => {
    const principal = requireRole(req, 'viewer');
    countPreview(principal.tokenId, reply);
    const { key } = parse(keyParams, req.params, 'path');
    const body = parse(TemplatePreviewBody, req.body ?? {});
    const source = body.template ?? (await getTemplate(db, key));
    if (!source) throw new ApiError('not_found', `Template "${key}" does not exist.`);
    const now = nowIso();
    let envelope: EventEnvelope;
    if (body.orderId) {
      const order = await getOrder(db, body.orderId);
      if (!order) throw new ApiError('not_found', `Order ${body.orderId} does not exist.`);
      const history = await repo.listHistory(db, order.id);
      const last = [...history].reverse().find((h) => h.type === 'transition' && h.to === order.state);
      envelope = {
        id: 'evt_preview',
        type: 'order.state_changed',
        createdAt: now,
        data: { order, ...(last?.from ? { from: last.from } : {}), to: order.state },
      };
    } else {
      const sample = body.sample ?? {};
      const overlay = sample.order !== null && typeof sample.order === 'object' ? (sample.order as Partial<Order>) : undefined;
      const order = sampleOrder(now, overlay ?? {}, overlay ? undefined : (sample as Record<string, unknown>));
      envelope = {
        id: 'evt_preview',
        type: 'order.state_changed',
        createdAt: now,
        data: {
          order,
          ...(typeof sample.from === 'string' ? { from: sample.from } : { from: 'shipping' }),
          to: typeof sample.to === 'string' ? sample.to : order.state,
          ...(sample.event !== null && typeof sample.event === 'object' ? { event: sample.event as { type: string; data?: unknown } } : {}),
        },
      };
    }
    const definition = await definitionOf(envelope.data.order);
    const vars = templateVars(envelope, definition, { now });
    const template = { subject: source.subject, html: source.html, ...(source.text ? { text: source.text } : {}) };
    try {
      if (ops.renderPool) return await ops.renderPool.run<RenderedEmail>({ kind: 'email', template, vars });
      return ops.renderer.renderEmail(template, vars);
    } catch (err) {
      if (err instanceof TemplateError) {
        throw new ApiError('validation_failed', `The template cannot be rendered: ${err.message}`, {
          errors: [{ path: 'template', message: err.message }],
        });
      }
      throw err;
    }
  });
}
