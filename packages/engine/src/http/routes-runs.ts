import { RunQuery } from '@orderflow/core';
import type { FastifyInstance } from 'fastify';
import * as repo from '../store/repo.js';
import { requireRole } from './auth.js';
import type { AppDeps } from './deps.js';
import { decodeCursor, pageOf, parse } from './parse.js';

/** Rule runs: what each rule evaluation decided, newest first. */
export function registerRunRoutes(api: FastifyInstance, deps: AppDeps): void {
  const db = deps.store.db;

  api.get('/runs', async (req) => {
    requireRole(req, 'viewer');
    const q = parse(RunQuery, req.query, 'query');
    const cursor = q.cursor ? decodeCursor(q.cursor, 1)[0] : undefined;
    // `workflow:rule` (as the kill switch names a rule) or the bare rule id (in any workflow).
    const colon = q.rule?.indexOf(':') ?? -1;
    const rule =
      q.rule === undefined ? undefined : colon < 0 ? { rule: q.rule } : { workflow: q.rule.slice(0, colon), rule: q.rule.slice(colon + 1) };
    const rows = await repo.listRuleRuns(db, {
      ...(q.orderId ? { orderId: q.orderId } : {}),
      ...rule,
      ...(cursor ? { cursor } : {}),
      limit: q.limit + 1,
    });
    return pageOf(rows, q.limit, (last) => [last.id]);
  });
}
