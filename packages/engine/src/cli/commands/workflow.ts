import type { Definition, Impact } from '@orderflow/core';
import { validateDefinition } from '@orderflow/core';
import { createTemplateChecker } from '../../actions/template.js';
import type { Api, CliValues } from '../context.js';
import { confirm, printProblems, readJson, UsageError } from '../context.js';

/** Prints what publishing would change for orders in flight. */
export function printImpact(impact: Impact): void {
  const versions = impact.versions ?? [];
  const inFlight = versions.reduce((n, v) => n + v.inFlight, 0);
  console.log(`Impact of publishing (draft would become version ${impact.draftVersion}); ${inFlight} order(s) in flight:`);
  if (versions.length === 0) console.log('  no orders in flight; nothing running changes');
  for (const v of versions) {
    console.log(`  version ${v.version}: ${v.inFlight} in flight, ${v.affected} affected`);
    for (const s of v.states) console.log(`    state ${s.state} ${s.change} (${s.fields.join(', ') || 'definition'}): ${s.count} order(s)`);
    for (const t of v.timers) console.log(`    ${t.kind} timers ${t.fate} under ${t.policy}: ${t.count}`);
    for (const r of v.rules)
      console.log(`    rule ${r.ruleId} ${r.change}${r.fields.length ? ` (${r.fields.join(', ')})` : ''}: can act on ${r.orders} order(s)`);
  }
  console.log('Publishing never changes running orders; they stay on their version until migrated.');
}

/** `workflow validate <file>`: locally needs no database (Liquid is parsed too); with --url the server also checks templates and endpoints. */
export async function validate(file: string | undefined, remote: (() => Promise<Api>) | undefined): Promise<number> {
  const definition = readJson(file);
  let result: { ok: boolean; problems: ReturnType<typeof validateDefinition>['problems'] };
  if (remote) {
    const api = await remote();
    try {
      const key = (definition as { key?: unknown })?.key;
      result = await api.client.validateWorkflow(typeof key === 'string' && key ? key : 'workflow', definition);
    } finally {
      await api.close();
    }
  } else {
    // The same Liquid parse the server does, without a database (stored templates and endpoints need --url).
    result = validateDefinition(definition, { checkTemplate: createTemplateChecker() });
  }
  printProblems(result.problems);
  console.log(result.ok ? `valid (${result.problems.length} warning(s))` : 'invalid');
  return result.ok ? 0 : 1;
}

/** A definition file for `workflow push`, with its key; checked before anything is opened. */
export interface DefinitionFile {
  file: string;
  key: string;
  definition: Definition;
}

export function readDefinition(file: string): DefinitionFile {
  const definition = readJson(file) as Definition;
  const key = typeof definition?.key === 'string' ? definition.key : '';
  if (!key) throw new UsageError(`${file}: the definition has no "key"`);
  return { file, key, definition };
}

/**
 * `workflow push <file> [--publish] [--yes]`: stores the draft (creating the workflow if new);
 * publishing shows the impact first. With `--publish`, a definition with errors is refused
 * before anything is stored (the stored draft stays as it was) and the command exits 1.
 */
export async function push(api: Api, { file, key, definition }: DefinitionFile, values: CliValues): Promise<number> {
  if (values.publish) {
    const check = await api.client.validateWorkflow(key, definition);
    if (!check.ok) {
      printProblems(check.problems);
      console.error(`not published: ${file} has errors; nothing was stored on ${api.where}`);
      return 1;
    }
  }
  const exists = await api.client.getWorkflow(key).then(
    () => true,
    (e: { status?: number }) => {
      if (e.status === 404) return false;
      throw e;
    },
  );
  let view = exists ? await api.client.saveDraft(key, definition) : await api.client.createWorkflow(definition);
  printProblems(view.problems);
  console.log(`${exists ? 'updated' : 'created'} workflow ${key} (draft) on ${api.where}`);
  if (!values.publish) return 0;
  if (view.problems.some((p) => p.severity === 'error')) {
    // The stored templates or endpoints changed since the check above.
    console.error('not published: the draft has errors');
    return 1;
  }
  if (view.publishedVersion !== null) {
    printImpact(await api.client.impact(key));
    if (!values.yes && !(await confirm(`Publish ${key}?`))) {
      console.error('not published (answer y, or pass --yes); the draft is stored');
      return 1;
    }
  }
  view = await api.client.publishWorkflow(key);
  console.log(`published ${key} version ${view.publishedVersion}`);
  return 0;
}

/** `workflow pull <key> [--draft]`: prints the published definition (or the draft) as JSON; exit 1 when there is none. */
export async function pull(api: Api, key: string, values: CliValues): Promise<number> {
  const view = await api.client.getWorkflow(key);
  const def = values.draft ? view.draft : view.definition;
  if (!def) {
    console.error(`workflow ${key} has no ${values.draft ? 'draft' : 'published version'}`);
    return 1;
  }
  console.log(JSON.stringify(def, null, 2));
  return 0;
}

/** `workflow versions <key>`: every published version with publisher and time. */
export async function versions(api: Api, key: string): Promise<number> {
  const page = await api.client.listVersions(key);
  for (const v of page.items) {
    const who = v.publisherName ?? v.publishedBy ?? 'unknown';
    const orders = v.orders ? `  ${v.orders.inFlight} in flight / ${v.orders.total} orders` : '';
    console.log(`v${v.version}  ${v.publishedAt}  by ${who}${orders}`);
  }
  if (page.items.length === 0) console.log(`workflow ${key} has no published version`);
  return 0;
}
