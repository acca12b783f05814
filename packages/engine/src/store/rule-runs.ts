import type { RuleRun } from '@orderflow/core';
import type { Kysely, Selectable } from 'kysely';
import type { DB } from './schema.js';

/**
 * The rule execution log. A change stores its runs for an order in the last history row it
 * appends for that order (`appendHistory` in changes.ts), or, when it appends none, in one
 * `rule_run_sets` row per order (`insertRuleRuns`); both hold a set of runs with the same columns.
 * Runs stored one row each in `rule_runs` (by earlier versions, and by processes of an earlier
 * version during a rolling upgrade) are read with them. Runs are listed newest first by id; the
 * ids of one set are not a range of their own (changes committed by several processes
 * interleave), so sets are read in order of their last id and a run is answered only once no set
 * left unread can hold a later one.
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

/** A set as listing reads it, from `rule_run_sets` or from a history row. */
type SetRow = Pick<Selectable<DB['rule_run_sets']>, 'last_id' | 'order_id' | 'workflow' | 'at' | 'runs_json'>;

/**
 * The wanted runs of one kind of set, newest first: at least `limit` of them when there are that
 * many, and every one that comes before the last of them. `page(before)` reads the next sets in
 * order of their last id, below `before`. A run is certain to come before every run of the sets not
 * yet read once its id is at least the last id of the last set read (no set left has a later run).
 */
async function readSets(page: (before: string | undefined) => Promise<SetRow[]>, wanted: (r: RuleRun) => boolean, limit: number) {
  const sets: RuleRun[] = [];
  let pending: RuleRun[] = [];
  let before: string | undefined;
  for (;;) {
    const rows = await page(before);
    for (const row of rows) for (const run of setToRuleRuns(row)) if (wanted(run)) pending.push(run);
    const done = rows.length < SET_PAGE;
    before = rows.at(-1)?.last_id;
    const bound = before;
    if (done || bound === undefined) {
      sets.push(...pending);
      return sets;
    }
    sets.push(...pending.filter((r) => r.id >= bound));
    pending = pending.filter((r) => r.id < bound);
    if (sets.length >= limit) return sets;
  }
}

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

  // Only sets that name the rule; a `_` or `%` in the pattern matches more, and `wanted` drops it.
  const rulePattern = f.rule === undefined ? undefined : `%,${f.rule},%`;
  const sets = await readSets(
    (before) => {
      let s = db.selectFrom('rule_run_sets').select(['last_id', 'order_id', 'workflow', 'at', 'runs_json']);
      if (f.orderId) s = s.where('order_id', '=', f.orderId);
      if (f.workflow) s = s.where('workflow', '=', f.workflow);
      if (rulePattern) s = s.where('rule_ids', 'like', rulePattern);
      if (f.cursor) s = s.where('first_id', '<', f.cursor);
      if (before !== undefined) s = s.where('last_id', '<', before);
      return s.orderBy('last_id', 'desc').limit(SET_PAGE).execute();
    },
    wanted,
    f.limit,
  );
  const held = await readSets(
    async (before) => {
      let s = db
        .selectFrom('history')
        .select(['runs_key', 'order_id', 'runs_workflow', 'at', 'runs_json'])
        .where('runs_key', 'is not', null);
      if (f.orderId) s = s.where('order_id', '=', f.orderId);
      if (f.workflow) s = s.where('runs_workflow', '=', f.workflow);
      if (rulePattern) s = s.where('runs_rule_ids', 'like', rulePattern);
      if (f.cursor) s = s.where('runs_first', '<', f.cursor);
      if (before !== undefined) s = s.where('runs_key', '<', before);
      const rows = await s.orderBy('runs_key', 'desc').limit(SET_PAGE).execute();
      return rows.map((r) => ({
        last_id: r.runs_key as string,
        order_id: r.order_id,
        workflow: r.runs_workflow as string,
        at: r.at,
        runs_json: r.runs_json as string,
      }));
    },
    wanted,
    f.limit,
  );
  return [...single, ...sets, ...held].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)).slice(0, f.limit);
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
  const held = await db
    .selectFrom('history')
    .select((eb) => [eb.fn.sum<number>('runs_count').as('runs'), eb.fn.sum<number>('runs_matched').as('matched')])
    .where('runs_key', 'is not', null)
    .executeTakeFirst();
  const matched = Number(sets?.matched ?? 0) + Number(held?.matched ?? 0);
  const n = { matched, unmatched: Number(sets?.runs ?? 0) + Number(held?.runs ?? 0) - matched };
  for (const r of rows) {
    if (Number(r.matched) !== 0) n.matched += Number(r.n);
    else n.unmatched += Number(r.n);
  }
  return [
    { matched: false, n: n.unmatched },
    { matched: true, n: n.matched },
  ].filter((r) => r.n > 0);
}
