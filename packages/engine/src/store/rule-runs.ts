import type { Kysely } from 'kysely';
import type { DB } from './schema.js';

/** Rule runs recorded, by whether the conditions matched. */
export async function countRuleRunsByMatched(db: Kysely<DB>): Promise<{ matched: boolean; n: number }[]> {
  const rows = await db
    .selectFrom('rule_runs')
    .select((eb) => ['matched', eb.fn.countAll<number>().as('n')])
    .groupBy('matched')
    .execute();
  return rows.map((r) => ({ matched: Number(r.matched) !== 0, n: Number(r.n) }));
}
