import { Slug, TemplateBody } from '@orderflow/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../errors.js';
import { deleteTemplate, getTemplate, listTemplates, upsertTemplate } from '../store/templates.js';
import { assertUnused } from '../workflows.js';
import { type AppDeps, requireRole } from './app.js';
import { parse } from './parse.js';

const keyParams = z.object({ key: Slug });

/** SPEC §5.4: email templates (preview is added by the automation runtime). */
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
  api.put('/templates/:key', async (req) => {
    requireRole(req, 'designer');
    const { key } = parse(keyParams, req.params, 'path');
    const body = parse(TemplateBody, req.body);
    if (body.key !== undefined && body.key !== key) {
      throw new ApiError('validation_failed', 'The body key does not match the URL.', {
        errors: [{ path: 'body.key', message: `must be "${key}"` }],
      });
    }
    if (deps.validateTemplate) deps.validateTemplate(body);
    await upsertTemplate(deps.store.db, { ...body, key }, deps.clock.now().toISOString());
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
