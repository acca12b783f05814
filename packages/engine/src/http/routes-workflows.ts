import { type Definition, GROUPS } from '@orderflow/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../errors.js';
import * as repo from '../store/repo.js';
import { createWorkflowService, validateWithReferences } from '../workflows.js';
import { type AppDeps, requireRole } from './app.js';
import { parse } from './parse.js';

const keyParams = z.object({ key: z.string().min(1).max(64) });

/** SPEC §5.1: workflows, drafts, validation, publishing, versions and impact. */
export function registerWorkflowRoutes(api: FastifyInstance, deps: AppDeps): void {
  const service = createWorkflowService(deps.store, () => deps.clock.now().toISOString());

  api.get('/workflows', async (req) => {
    requireRole(req, 'viewer');
    const rows = await repo.listWorkflowRows(deps.store.db);
    const counts = await repo.countOrdersByGroup(deps.store.db);
    return {
      items: rows.map((r) => {
        const byGroup = Object.fromEntries(GROUPS.map((g) => [g, 0])) as Record<string, number>;
        for (const c of counts) if (c.workflow === r.key) byGroup[c.grp] = (byGroup[c.grp] ?? 0) + c.n;
        return {
          key: r.key,
          name: r.name,
          publishedVersion: r.published_version === null ? null : Number(r.published_version),
          hasDraft: r.draft_json !== null,
          counts: byGroup,
        };
      }),
      nextCursor: null,
    };
  });

  api.post('/workflows', async (req, reply) => {
    const p = requireRole(req, 'designer');
    const q = parse(z.object({ publish: z.enum(['true', 'false']).optional() }), req.query, 'query');
    const view = await service.create(req.body, q.publish === 'true', p.tokenId);
    return reply.code(201).send(view);
  });

  api.get('/workflows/:key', async (req) => {
    requireRole(req, 'viewer');
    const { key } = parse(keyParams, req.params, 'path');
    const q = parse(
      z.object({ version: z.coerce.number().int().min(1).optional(), draft: z.enum(['true', 'false']).optional() }),
      req.query,
      'query',
    );
    const view = await service.view(key);
    if (q.version !== undefined) {
      const v = await repo.getWorkflowVersion(deps.store.db, key, q.version);
      if (!v) throw new ApiError('not_found', `Workflow "${key}" has no version ${q.version}.`);
      return { ...view, definition: v.definition, version: q.version };
    }
    if (q.draft === 'true' && !view.draft) throw new ApiError('not_found', `Workflow "${key}" has no draft.`);
    return view;
  });

  api.put('/workflows/:key/draft', async (req) => {
    requireRole(req, 'designer');
    const { key } = parse(keyParams, req.params, 'path');
    return service.saveDraft(key, req.body);
  });

  api.post('/workflows/:key/validate', async (req) => {
    requireRole(req, 'viewer');
    parse(keyParams, req.params, 'path');
    const result = await validateWithReferences(deps.store.db, req.body);
    return { ok: result.ok, problems: result.problems };
  });

  api.post('/workflows/:key/publish', async (req) => {
    const p = requireRole(req, 'designer');
    const { key } = parse(keyParams, req.params, 'path');
    return service.publish(key, p.tokenId);
  });

  api.get('/workflows/:key/versions', async (req) => {
    requireRole(req, 'viewer');
    const { key } = parse(keyParams, req.params, 'path');
    if (!(await repo.getWorkflow(deps.store.db, key))) throw new ApiError('not_found', `Workflow "${key}" does not exist.`);
    return { items: await repo.listWorkflowVersions(deps.store.db, key), nextCursor: null };
  });

  api.post('/workflows/:key/impact', async (req) => {
    requireRole(req, 'viewer');
    const { key } = parse(keyParams, req.params, 'path');
    const wf = await repo.getWorkflow(deps.store.db, key);
    if (!wf) throw new ApiError('not_found', `Workflow "${key}" does not exist.`);
    const draft: Definition | null = wf.draft;
    const current = wf.definition;
    if (!draft) throw new ApiError('conflict', `Workflow "${key}" has no draft.`);
    const counts = (await repo.countOrdersByGroup(deps.store.db, key)).filter((c) => c.grp !== 'cancelled' && c.grp !== 'completed');
    const ordersInChangedStates: { state: string; count: number; change: 'removed' | 'changed' }[] = [];
    for (const c of counts) {
      const before = current?.states.find((s) => s.key === c.state);
      const after = draft.states.find((s) => s.key === c.state);
      if (!after) ordersInChangedStates.push({ state: c.state, count: c.n, change: 'removed' });
      else if (JSON.stringify(before) !== JSON.stringify(after))
        ordersInChangedStates.push({ state: c.state, count: c.n, change: 'changed' });
    }
    const idsOf = (d: Definition | null) => new Set((d?.rules ?? []).map((r, i) => r.id ?? `rule-${i + 1}`));
    const beforeRules = idsOf(current);
    const afterRules = idsOf(draft);
    const retimed = draft.states.filter((s) => {
      const before = current?.states.find((b) => b.key === s.key);
      return JSON.stringify(before?.timeout) !== JSON.stringify(s.timeout);
    });
    let timers = 0;
    if (retimed.length > 0) {
      const rows = await deps.store.db
        .selectFrom('timers')
        .innerJoin('orders', 'orders.id', 'timers.order_id')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('orders.workflow', '=', key)
        .where('timers.status', '=', 'pending')
        .where('timers.kind', '=', 'timeout')
        .where(
          'timers.state',
          'in',
          retimed.map((s) => s.key),
        )
        .executeTakeFirst();
      timers = Number(rows?.n ?? 0);
    }
    return {
      ordersInChangedStates,
      timers: { count: timers, states: retimed.map((s) => s.key) },
      rules: { added: [...afterRules].filter((r) => !beforeRules.has(r)), removed: [...beforeRules].filter((r) => !afterRules.has(r)) },
      note: 'Publishing never changes running orders; they stay on their version until migrated.',
    };
  });
}
