import type { Kysely } from 'kysely';
import type { DB } from './schema.js';

type Db = Kysely<DB>;

/** Orders per workflow, group and state. */
export async function countOrdersByGroup(
  db: Db,
  workflow?: string,
): Promise<{ workflow: string; grp: string; state: string; n: number }[]> {
  let q = db.selectFrom('orders').select((eb) => ['workflow', 'grp', 'state', eb.fn.countAll<number>().as('n')]);
  if (workflow) q = q.where('workflow', '=', workflow);
  const rows = await q.groupBy(['workflow', 'grp', 'state']).execute();
  return rows.map((r) => ({ ...r, n: Number(r.n) }));
}

/** The stored cancellation (JSON) of every cancelled order that has one. */
export async function cancellations(db: Db, workflow?: string): Promise<string[]> {
  let q = db.selectFrom('orders').select('cancellation_json').where('grp', '=', 'cancelled').where('cancellation_json', 'is not', null);
  if (workflow) q = q.where('workflow', '=', workflow);
  return (await q.execute()).map((r) => r.cancellation_json as string);
}

/** Every entry into a state (creation, transition, migration), by order then history seq, at most `limit`. */
export async function stateEntries(
  db: Db,
  f: { workflow?: string; limit: number },
): Promise<{ orderId: string; at: string; to: string | null }[]> {
  let q = db
    .selectFrom('history')
    .innerJoin('orders', 'orders.id', 'history.order_id')
    .select(['history.order_id as orderId', 'history.at as at', 'history.to_state as to'])
    .where('history.type', 'in', ['created', 'transition', 'migrated'])
    .where('history.to_state', 'is not', null);
  if (f.workflow) q = q.where('orders.workflow', '=', f.workflow);
  return q.orderBy('history.order_id').orderBy('history.seq').limit(f.limit).execute();
}
