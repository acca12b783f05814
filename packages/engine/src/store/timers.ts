import type { Kysely, Selectable } from 'kysely';
import type { DB } from './schema.js';

type Db = Kysely<DB>;

/** One page of timers with a status, by due time then id, after `cursor` (the previous page's last). */
export async function listTimerPage(
  db: Db,
  f: { status: string; orderId?: string; dueBefore?: string; cursor?: { dueAt: string; id: string }; limit: number },
): Promise<Selectable<DB['timers']>[]> {
  let q = db.selectFrom('timers').selectAll().where('status', '=', f.status);
  if (f.orderId) q = q.where('order_id', '=', f.orderId);
  if (f.dueBefore) q = q.where('due_at', '<=', f.dueBefore);
  if (f.cursor) {
    const { dueAt, id } = f.cursor;
    q = q.where((eb) => eb.or([eb('due_at', '>', dueAt), eb.and([eb('due_at', '=', dueAt), eb('id', '>', id)])]));
  }
  return q.orderBy('due_at').orderBy('id').limit(f.limit).execute();
}
