import { type Definition, hasErrors, ruleIdOf, validateDefinition, type WorkflowView } from '@orderflow/core';
import type { Kysely } from 'kysely';
import { createTemplateChecker } from './actions/template.js';
import { ApiError } from './errors.js';
import { listEndpointKeys } from './store/endpoints.js';
import * as repo from './store/repo.js';
import type { DB } from './store/schema.js';
import type { Store } from './store/store.js';
import { listTemplates } from './store/templates.js';
import { definitionsContaining, insertWorkflow, publishVersion, saveDraft } from './store/workflows.js';

/** A workflow as the API answers it: the wire type, declared once in core. */
export type { WorkflowView };

/** Template and endpoint keys that rules may refer to. */
async function references(db: Kysely<DB>) {
  const templates = (await listTemplates(db)).map((t) => t.key);
  const endpoints = await listEndpointKeys(db);
  const workflows = (await repo.listWorkflowRows(db)).map((r) => r.key);
  return { templates, endpoints, workflows };
}

/** A workflow draft or version whose rules refer to a template or endpoint. */
export interface ReferenceUser {
  workflow: string;
  /** The published version, or absent for the draft. */
  version?: number;
  draft?: true;
  rule: string;
}

/** Every draft and published version whose rules send with this template or to this endpoint. */
export async function usersOf(db: Kysely<DB>, kind: 'template' | 'endpoint', key: string): Promise<ReferenceUser[]> {
  // The text match only narrows the rows; the parsed definition decides.
  const { drafts, versions } = await definitionsContaining(db, JSON.stringify(key));
  const users: ReferenceUser[] = [];
  const scan = (json: string | null, where: { workflow: string; version?: number; draft?: true }) => {
    if (!json) return;
    const d = JSON.parse(json) as Definition;
    (d.rules ?? []).forEach((rule, index) => {
      const uses = rule.actions.some((a) =>
        kind === 'template' ? a.type === 'send_email' && a.template === key : a.type === 'webhook' && a.endpoint === key,
      );
      if (uses) users.push({ ...where, rule: ruleIdOf(rule, index) });
    });
  };
  for (const r of drafts) scan(r.draft_json, { workflow: r.key, draft: true });
  for (const r of versions) scan(r.definition_json, { workflow: r.workflow, version: Number(r.version) });
  return users;
}

/** Refuses (409 `conflict`, listing the users) to delete a template or endpoint that a draft or version uses. */
export async function assertUnused(db: Kysely<DB>, kind: 'template' | 'endpoint', key: string): Promise<void> {
  const users = await usersOf(db, kind, key);
  if (users.length === 0) return;
  const named = users
    .slice(0, 10)
    .map((u) => `${u.workflow} ${u.draft ? 'draft' : `v${u.version}`} (rule ${u.rule})`)
    .join(', ');
  throw new ApiError(
    'conflict',
    `The ${kind} "${key}" is used by ${named}${users.length > 10 ? ` and ${users.length - 10} more` : ''}; change those rules first.`,
    { users },
  );
}

/**
 * Parses the Liquid of rule values as the runtime's renderer would (its default limits, which
 * the engine uses), without rendering: a template that does not parse fails every run.
 */
const checkTemplate = createTemplateChecker();

/**
 * Validates a definition against the schema, the graph rules, the stored templates, endpoints
 * and workflows, and the Liquid syntax of the rule values that are rendered.
 */
export async function validateWithReferences(db: Kysely<DB>, input: unknown) {
  return validateDefinition(input, { ...(await references(db)), checkTemplate });
}

/** Workflow drafts and publishing. Orders never change here: publishing creates a new immutable version. */
export function createWorkflowService(store: Store, now: () => string) {
  async function view(key: string): Promise<WorkflowView> {
    const wf = await repo.getWorkflow(store.db, key);
    if (!wf) throw new ApiError('not_found', `Workflow "${key}" does not exist.`);
    const subject = wf.draft ?? wf.definition;
    const problems = subject ? (await validateWithReferences(store.db, subject)).problems : [];
    return { key: wf.key, name: wf.name, publishedVersion: wf.publishedVersion, definition: wf.definition, draft: wf.draft, problems };
  }

  function requireSchema(result: ReturnType<typeof validateDefinition>): Definition {
    if (!result.definition) {
      throw new ApiError('validation_failed', 'The workflow definition does not match the schema.', {
        errors: result.problems.filter((p) => p.severity === 'error').map((p) => ({ path: p.path, message: p.message })),
        problems: result.problems,
      });
    }
    return result.definition;
  }

  async function publishDraft(tx: Kysely<DB>, key: string, draft: Definition, by: string): Promise<number> {
    const result = await validateWithReferences(tx, draft);
    if (hasErrors(result.problems)) {
      const errors = result.problems.filter((p) => p.severity === 'error');
      throw new ApiError('validation_failed', `The draft has ${errors.length} error(s); fix them before publishing.`, {
        errors: errors.map((p) => ({ path: p.path, message: p.message, code: p.code })),
        problems: result.problems,
      });
    }
    return publishVersion(tx, key, draft, by, now());
  }

  return {
    view,
    async create(input: unknown, publish: boolean, by: string): Promise<WorkflowView> {
      const def = requireSchema(await validateWithReferences(store.db, input));
      await store.transaction(async (tx) => {
        if (await repo.getWorkflow(tx, def.key)) {
          throw new ApiError('conflict', `Workflow "${def.key}" already exists; use PUT /workflows/${def.key}/draft to change it.`);
        }
        await insertWorkflow(tx, def.key, def.name, def, now());
        if (publish) await publishDraft(tx, def.key, def, by);
      });
      return view(def.key);
    },
    async saveDraft(key: string, input: unknown): Promise<WorkflowView> {
      const def = requireSchema(await validateWithReferences(store.db, input));
      if (def.key !== key) {
        throw new ApiError('validation_failed', `The definition's key "${def.key}" does not match the URL's "${key}".`, {
          errors: [{ path: 'key', message: `must be "${key}"` }],
        });
      }
      await store.transaction(async (tx) => {
        if (!(await repo.getWorkflow(tx, key))) throw new ApiError('not_found', `Workflow "${key}" does not exist.`);
        await saveDraft(tx, key, def, now());
      });
      return view(key);
    },
    /** Throws the draft away; the published version stays as it is. */
    async discardDraft(key: string): Promise<void> {
      await store.transaction(async (tx) => {
        const wf = await repo.getWorkflow(tx, key);
        if (!wf) throw new ApiError('not_found', `Workflow "${key}" does not exist.`);
        if (!wf.draft) throw new ApiError('not_found', `Workflow "${key}" has no draft.`);
        if (wf.publishedVersion === null) {
          throw new ApiError(
            'conflict',
            `Workflow "${key}" has no published version; without its draft nothing would be left. Publish or edit it instead.`,
          );
        }
        await saveDraft(tx, key, null, now());
      });
    },
    async publish(key: string, by: string): Promise<WorkflowView> {
      await store.transaction(async (tx) => {
        const wf = await repo.getWorkflow(tx, key);
        if (!wf) throw new ApiError('not_found', `Workflow "${key}" does not exist.`);
        if (!wf.draft) throw new ApiError('conflict', `Workflow "${key}" has no draft to publish.`);
        await publishDraft(tx, key, wf.draft, by);
      });
      return view(key);
    },
  };
}

/** The workflow service. */
export type WorkflowService = ReturnType<typeof createWorkflowService>;
