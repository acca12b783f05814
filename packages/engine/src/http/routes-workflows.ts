import {
  CreateWorkflowQuery,
  type Definition,
  GROUPS,
  MigrateWorkflowBody,
  type MigrationResult,
  ruleChanges,
  unmappedStates,
  type VersionImpact,
  validateDefinition,
  versionImpact,
  WorkflowKey,
} from '@orderflow/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../errors.js';
import * as repo from '../store/repo.js';
import { countOrdersByGroup } from '../store/stats.js';
import { listWorkflowVersions, ordersToMigrate } from '../store/workflows.js';
import { createWorkflowService, validateWithReferences } from '../workflows.js';
import { callerOf, requireRole } from './auth.js';
import type { AppDeps } from './deps.js';
import { parse } from './parse.js';

const keyParams = z.object({ key: WorkflowKey });

/** Workflows: drafts, validation, publishing, versions, the impact of a draft, and migrating orders to a version. */
export function registerWorkflowRoutes(api: FastifyInstance, deps: AppDeps): void {
  const service = createWorkflowService(deps.store, () => deps.clock.now().toISOString());

  api.get('/workflows', async (req) => {
    requireRole(req, 'viewer');
    const rows = await repo.listWorkflowRows(deps.store.db);
    const counts = await countOrdersByGroup(deps.store.db);
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
    const q = parse(CreateWorkflowQuery, req.query, 'query');
    const view = await service.create(req.body, q.publish === 'true', p.tokenId);
    return reply.code(201).header('location', `/api/v1/workflows/${view.key}`).send(view);
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
    return { items: await listWorkflowVersions(deps.store.db, key), nextCursor: null };
  });

  api.delete('/workflows/:key/draft', async (req, reply) => {
    requireRole(req, 'designer');
    const { key } = parse(keyParams, req.params, 'path');
    await service.discardDraft(key);
    return reply.code(204).send();
  });

  const ImpactBody = z
    .strictObject({ definition: z.unknown().optional(), stateMap: z.record(z.string().max(64), z.string().max(64)).optional() })
    .optional();

  api.post('/workflows/:key/impact', async (req) => {
    requireRole(req, 'viewer');
    const { key } = parse(keyParams, req.params, 'path');
    const wf = await repo.getWorkflow(deps.store.db, key);
    if (!wf) throw new ApiError('not_found', `Workflow "${key}" does not exist.`);
    // The body is a definition to compare (as the builder sends it), or { definition?, stateMap? }.
    const raw = req.body as Record<string, unknown> | null | undefined;
    const isDefinition = raw !== null && typeof raw === 'object' && 'states' in raw;
    const body = isDefinition ? { definition: raw } : parse(ImpactBody, raw ?? undefined);
    let draft: Definition | null = wf.draft;
    if (body?.definition !== undefined) {
      const checked = validateDefinition(body.definition);
      if (!checked.definition) {
        throw new ApiError('validation_failed', 'The definition does not match the schema.', {
          errors: checked.problems.filter((p) => p.severity === 'error').map((p) => ({ path: `definition.${p.path}`, message: p.message })),
        });
      }
      draft = checked.definition;
    }
    if (!draft) throw new ApiError('conflict', `Workflow "${key}" has no draft.`);
    const orders = await repo.inFlightOrders(deps.store.db, key);
    const timers = await repo.pendingTimersOfWorkflow(deps.store.db, key);
    const pinned = [...new Set(orders.map((o) => o.workflowVersion))].sort((a, b) => a - b);
    const draftVersion = Math.max(wf.publishedVersion ?? 0, ...pinned) + 1;
    const versions: VersionImpact[] = [];
    for (const version of pinned) {
      const mine = orders.filter((o) => o.workflowVersion === version);
      const ids = new Set(mine.map((o) => o.id));
      versions.push(
        versionImpact({
          version,
          definition: await deps.runtime.loadVersion(key, version),
          draft,
          orders: mine,
          timers: timers.filter((t) => ids.has(t.orderId)),
          draftVersion,
          ...(body?.stateMap ? { stateMap: body.stateMap } : {}),
        }),
      );
    }
    // The summary over every version, for readers of the older answer.
    const states = new Map<string, { state: string; count: number; change: 'removed' | 'changed' }>();
    for (const v of versions)
      for (const st of v.states) {
        const seen = states.get(st.state);
        states.set(st.state, {
          state: st.state,
          count: (seen?.count ?? 0) + st.count,
          change: seen?.change === 'removed' ? 'removed' : st.change,
        });
      }
    const current = wf.definition;
    const changes = current ? ruleChanges(current, draft) : [];
    return {
      draftVersion,
      versions,
      ordersInChangedStates: [...states.values()],
      timers: {
        count: versions.reduce((n, v) => n + v.timers.filter((t) => t.policy === 'recompute').reduce((m, t) => m + t.count, 0), 0),
        states: [...new Set(versions.flatMap((v) => v.states.map((st) => st.state)))],
      },
      rules: {
        added: changes.filter((c) => c.change === 'added').map((c) => c.ruleId),
        removed: changes.filter((c) => c.change === 'removed').map((c) => c.ruleId),
        changed: changes.filter((c) => c.change === 'changed').map((c) => c.ruleId),
      },
      note: 'Publishing never changes running orders; they stay on their version until migrated.',
    };
  });

  // Moves the matching orders to a version, one change each.
  api.post('/workflows/:key/migrate', async (req) => {
    const p = requireRole(req, 'operator');
    const { key } = parse(keyParams, req.params, 'path');
    const body = parse(MigrateWorkflowBody, req.body);
    const toDefinition = await deps.runtime.loadVersion(key, body.toVersion);
    const filter = body.filter;
    const selected = await ordersToMigrate(deps.store.db, key, {
      toVersion: body.toVersion,
      ...(filter?.state ? { state: filter.state } : {}),
      ...(filter?.group ? { group: filter.group } : {}),
      ...(filter?.fromVersion ? { fromVersion: filter.fromVersion } : {}),
      ...(filter?.ids ? { ids: filter.ids } : {}),
      limit: body.limit ?? 1000,
    });
    // Like the single-order form, refused when a state would be left unmapped: up front, for every
    // selected order at once, so that nothing moves (a dry run answers the same).
    const unmapped = unmappedStates(
      toDefinition,
      body.toVersion,
      selected.map((o) => o.state),
      body.stateMap,
    );
    if (unmapped.length > 0) {
      const states = unmapped.map((e) => e.path.slice('stateMap.'.length));
      throw new ApiError(
        'validation_failed',
        `State(s) ${states.map((s) => `"${s}"`).join(', ')} of the selected orders do not exist in version ${body.toVersion}; map them with stateMap. No order was migrated.`,
        { errors: unmapped },
      );
    }
    const ids = selected.map((o) => o.id);
    const failed: { orderId: string; code: string; message: string }[] = [];
    const orders: (MigrationResult & { orderId: string })[] = [];
    for (const orderId of ids) {
      const input = {
        orderId,
        command: {
          type: 'migrate' as const,
          toVersion: body.toVersion,
          toDefinition,
          caller: callerOf(p),
          ...(body.stateMap ? { stateMap: body.stateMap } : {}),
          ...(body.timers ? { timers: body.timers } : {}),
        },
      };
      try {
        // A dry run decides exactly as the real one does, and stores nothing.
        const migration = body.dryRun
          ? (await deps.runtime.preview(input)).migration
          : (await deps.runtime.applyCommand(input)).body.migration;
        if (migration) orders.push({ orderId, ...migration });
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        failed.push({ orderId, code: e.code, message: e.message });
      }
    }
    return { dryRun: body.dryRun === true, matched: ids.length, migrated: body.dryRun ? 0 : orders.length, failed, orders };
  });
}
