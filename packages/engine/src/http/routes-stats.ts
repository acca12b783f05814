import { GROUPS, type Group, WorkflowKey } from '@orderflow/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../errors.js';
import { recentFailures } from '../store/deliveries.js';
import * as repo from '../store/repo.js';
import { cancellations, countOrdersByGroup, stateEntries } from '../store/stats.js';
import { requireRole } from './auth.js';
import type { AppDeps } from './deps.js';
import { parse } from './parse.js';

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : Math.round(((s[mid - 1] as number) + (s[mid] as number)) / 2);
}

/** Stats: orders per group and state, cancellation reasons, median time in state, recent failures. */
export function registerStatsRoutes(api: FastifyInstance, deps: AppDeps): void {
  const db = deps.store.db;

  api.get('/stats', async (req) => {
    requireRole(req, 'viewer');
    const q = parse(z.object({ workflow: WorkflowKey.optional() }), req.query, 'query');
    // An unknown workflow is 404, as on every other route, not a page of zeros.
    if (q.workflow !== undefined && !(await repo.getWorkflow(db, q.workflow))) {
      throw new ApiError('not_found', `Workflow "${q.workflow}" does not exist.`);
    }
    const counts = await countOrdersByGroup(db, q.workflow);
    const groups = Object.fromEntries(GROUPS.map((g) => [g, 0])) as Record<Group, number>;
    const states = new Map<string, { state: string; group: Group; count: number; workflow?: string }>();
    for (const c of counts) {
      groups[c.grp as Group] = (groups[c.grp as Group] ?? 0) + c.n;
      const k = q.workflow ? c.state : `${c.workflow}:${c.state}`;
      const s = states.get(k) ?? { state: c.state, group: c.grp as Group, count: 0, ...(q.workflow ? {} : { workflow: c.workflow }) };
      s.count += c.n;
      states.set(k, s);
    }

    const reasons = new Map<string, { initiator: string; code: string; count: number }>();
    for (const json of await cancellations(db, q.workflow)) {
      const c = JSON.parse(json) as { initiator?: string; code?: string } | null;
      if (!c?.initiator || !c.code) continue;
      const k = `${c.initiator}:${c.code}`;
      const e = reasons.get(k) ?? { initiator: c.initiator, code: c.code, count: 0 };
      e.count++;
      reasons.set(k, e);
    }

    // Time in state: from each state entry to the next one, over completed visits.
    const entries = await stateEntries(db, { ...(q.workflow ? { workflow: q.workflow } : {}), limit: 200_000 });
    const durations = new Map<string, number[]>();
    for (let i = 1; i < entries.length; i++) {
      const prev = entries[i - 1];
      const cur = entries[i];
      if (!prev || !cur || prev.orderId !== cur.orderId || !prev.to) continue;
      const ms = Date.parse(cur.at) - Date.parse(prev.at);
      if (!Number.isFinite(ms) || ms < 0) continue;
      const list = durations.get(prev.to) ?? [];
      list.push(ms);
      durations.set(prev.to, list);
    }

    // A delivery still pending after failed attempts is failing too, not fine.
    const failures = await recentFailures(db, { ...(q.workflow ? { workflow: q.workflow } : {}), limit: 10 });

    return {
      groups,
      states: [...states.values()],
      cancellations: [...reasons.values()].sort((a, b) => b.count - a.count),
      medianTimeInState: [...durations.entries()].map(([state, list]) => ({ state, ms: median(list), samples: list.length })),
      recentFailures: failures.map(repo.rowToDelivery),
    };
  });
}
