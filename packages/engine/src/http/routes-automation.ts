import { AutomationQuery, ruleIdOf } from '@orderflow/core';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';
import * as repo from '../store/repo.js';
import { type AutomationTarget, getAutomation, pauseAutomation, resumeAutomation } from '../worker/settings.js';
import { requireRole } from './auth.js';
import type { AppDeps, OpsDeps } from './deps.js';
import { parse } from './parse.js';

/** Automation: pausing and resuming rules, for everything, one workflow or one rule. */
export function registerAutomationRoutes(api: FastifyInstance, deps: AppDeps, ops: Pick<OpsDeps, 'worker'>): void {
  const db = deps.store.db;

  api.get('/automation', async (req) => {
    requireRole(req, 'viewer');
    return getAutomation(db);
  });
  /** The workflow or rule a pause names; unknown ones are 404. */
  async function automationTarget(query: unknown): Promise<AutomationTarget> {
    const q = parse(AutomationQuery, query, 'query');
    if (q.workflow !== undefined && q.rule !== undefined) {
      throw new ApiError('validation_failed', 'Give workflow or rule, not both.', {
        errors: [{ path: 'query', message: 'workflow and rule exclude each other' }],
      });
    }
    const workflow = q.workflow ?? q.rule?.split(':')[0];
    if (workflow === undefined) return undefined;
    const wf = await repo.getWorkflow(db, workflow);
    if (!wf) throw new ApiError('not_found', `Workflow "${workflow}" does not exist.`);
    if (q.rule === undefined) return { workflow };
    const rule = q.rule.slice(workflow.length + 1);
    const known = [wf.definition, wf.draft].some((d) => (d?.rules ?? []).some((r, i) => ruleIdOf(r, i) === rule));
    if (!known) throw new ApiError('not_found', `Workflow "${workflow}" has no rule "${rule}" (published or draft).`);
    return { workflow, rule };
  }

  api.post('/automation/pause', async (req) => {
    requireRole(req, 'admin');
    const target = await automationTarget(req.query);
    const state = await pauseAutomation(db, target);
    req.log.warn({ target: target ?? 'all' }, 'automation paused');
    return state;
  });
  api.post('/automation/resume', async (req) => {
    requireRole(req, 'admin');
    const target = await automationTarget(req.query);
    const state = await resumeAutomation(db, target);
    req.log.info({ target: target ?? 'all' }, 'automation resumed');
    ops.worker?.wake();
    return state;
  });
}
