import type { RuleRun } from '@orderflow/core';
import type { Kysely, Selectable } from 'kysely';
import type { DB } from './schema.js';

/**
 * The rule execution log. A change stores its runs in one `rule_run_sets` row per order
 * (`insertRuleRuns` in changes.ts); runs stored one row each in `rule_runs` (by earlier versions,
 * and by processes of an earlier version during a rolling upgrade) are read with them. Runs are
 * listed newest first by id; the ids of one set are not a range of their own (changes committed
 * by several processes interleave), so sets are read in order of their last id and a run is
 * answered only once no set left unread can hold a later one.
 */

/** One run as a set's JSON holds it: the set's columns are left out, and `at` when it is the set's. */
interface StoredRun {
  id: string;
  ruleId: string;
  trigger: string;
  at?: string;
  matched: boolean;
  conditions: RuleRun['conditions'];
  actions: RuleRun['actions'];
}

/** A `rule_runs` row (one from before the columns were left out of its JSON reads the same). */
export function rowToRuleRun(r: Selectable<DB['rule_runs']>): RuleRun {
  return {
    id: r.id,
    orderId: r.order_id,
    workflow: r.workflow,
    ruleId: r.rule_id,
    trigger: r.trigger,
    at: r.at,
    matched: Number(r.matched) === 1,
    ...(JSON.parse(r.run_json) as Pick<RuleRun, 'conditions' | 'actions'>),
  };
}

/** The runs a `rule_run_sets` row holds, in the order the change made them. */
export function setToRuleRuns(r: Pick<Selectable<DB['rule_run_sets']>, 'order_id' | 'workflow' | 'at' | 'runs_json'>): RuleRun[] {
  return (JSON.parse(r.runs_json) as StoredRun[]).map((s) => ({
    id: s.id,
    orderId: r.order_id,
    workflow: r.workflow,
    ruleId: s.ruleId,
    trigger: s.trigger,
    at: s.at ?? r.at,
    matched: s.matched,
    conditions: s.conditions,
    actions: s.actions,
  }));
}

/** Filters of `GET /runs`; `cursor` is the id of the last run already answered. */
export interface RuleRunFilter {
  orderId?: string;
  workflow?: string;
  rule?: string;
  limit: number;
  cursor?: string;
}

/** Sets read per query while listing; a set holds at least one run. */
const SET_PAGE = 100;

/** Rule runs matching `f`, newest first, at most `f.limit`. */
export async function listRuleRuns(db: Kysely<DB>, f: RuleRunFilter): Promise<RuleRun[]> {
  const wanted = (r: RuleRun): boolean => (f.cursor === undefined || r.id < f.cursor) && (f.rule === undefined || r.ruleId === f.rule);
  // Runs of rows written one per run: exact by id.
  let q = db.selectFrom('rule_runs').selectAll();
  if (f.orderId) q = q.where('order_id', '=', f.orderId);
  if (f.workflow) q = q.where('workflow', '=', f.workflow);
  if (f.rule) q = q.where('rule_id', '=', f.rule);
  if (f.cursor) q = q.where('id', '<', f.cursor);
  const single = (await q.orderBy('id', 'desc').limit(f.limit).execute()).map(rowToRuleRun);

  // Runs of sets: a run is certain to come before every run of the sets not yet read once its id
  // is at least the last id of the last set read (no set left has a later run).
  const sets: RuleRun[] = [];
  let pending: RuleRun[] = [];
  let before: string | undefined;
  for (;;) {
    let s = db.selectFrom('rule_run_sets').select(['last_id', 'order_id', 'workflow', 'at', 'runs_json']);
    if (f.orderId) s = s.where('order_id', '=', f.orderId);
    if (f.workflow) s = s.where('workflow', '=', f.workflow);
    // Only sets that name the rule; a `_` or `%` in the pattern matches more, and `wanted` drops it.
    if (f.rule) s = s.where('rule_ids', 'like', `%,${f.rule},%`);
    if (f.cursor) s = s.where('first_id', '<', f.cursor);
    if (before !== undefined) s = s.where('last_id', '<', before);
    const page = await s.orderBy('last_id', 'desc').limit(SET_PAGE).execute();
    for (const row of page) for (const run of setToRuleRuns(row)) if (wanted(run)) pending.push(run);
    const done = page.length < SET_PAGE;
    before = page.at(-1)?.last_id;
    const bound = before;
    if (done || bound === undefined) {
      sets.push(...pending);
      break;
    }
    sets.push(...pending.filter((r) => r.id >= bound));
    pending = pending.filter((r) => r.id < bound);
    if (sets.length >= f.limit) break;
  }
  return [...single, ...sets].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)).slice(0, f.limit);
}

/** Rule runs recorded, by whether the conditions matched. */
export async function countRuleRunsByMatched(db: Kysely<DB>): Promise<{ matched: boolean; n: number }[]> {
  const rows = await db
    .selectFrom('rule_runs')
    .select((eb) => ['matched', eb.fn.countAll<number>().as('n')])
    .groupBy('matched')
    .execute();
  const sets = await db
    .selectFrom('rule_run_sets')
    .select((eb) => [eb.fn.sum<number>('runs').as('runs'), eb.fn.sum<number>('matched').as('matched')])
    .executeTakeFirst();
  const n = { matched: Number(sets?.matched ?? 0), unmatched: Number(sets?.runs ?? 0) - Number(sets?.matched ?? 0) };
  for (const r of rows) {
    if (Number(r.matched) !== 0) n.matched += Number(r.n);
    else n.unmatched += Number(r.n);
  }
  return [
    { matched: false, n: n.unmatched },
    { matched: true, n: n.matched },
  ].filter((r) => r.n > 0);
}
