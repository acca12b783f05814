import type { Kysely, Selectable } from 'kysely';
import type { DB } from './schema.js';

type Db = Kysely<DB>;

/** What decides whether a delivery may be sent again by hand: its status and lease. */
export async function getDeliveryLease(db: Db, id: string): Promise<{ status: string; lease_until: string | null } | undefined> {
  return db.selectFrom('deliveries').select(['status', 'lease_until']).where('id', '=', id).executeTakeFirst();
}

/** Makes one delivery due now, whatever its status; clearing the lease fences out a worker that held it. */
export async function requeueDelivery(db: Db, id: string, now: string): Promise<void> {
  await db
    .updateTable('deliveries')
    .set({ status: 'pending', next_attempt_at: now, lease_until: null, lease_token: null, updated_at: now })
    .where('id', '=', id)
    .execute();
}

/** Makes every delivery with one of `statuses` (and the given ids and type) due now; returns how many. */
export async function requeueDeliveries(db: Db, f: { statuses: string[]; ids?: string[]; type?: string }, now: string): Promise<number> {
  let q = db
    .updateTable('deliveries')
    .set({ status: 'pending', next_attempt_at: now, lease_until: null, lease_token: null, updated_at: now })
    .where('status', 'in', f.statuses);
  if (f.ids) q = q.where('id', 'in', f.ids);
  if (f.type) q = q.where('type', '=', f.type);
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/** The latest failing deliveries: failed, dead, or still pending after a failed attempt. */
export async function recentFailures(db: Db, f: { workflow?: string; limit: number }): Promise<Selectable<DB['deliveries']>[]> {
  let q = db
    .selectFrom('deliveries')
    .selectAll()
    .where((eb) =>
      eb.or([eb('status', 'in', ['failed', 'dead']), eb.and([eb('status', '=', 'pending'), eb('last_error', 'is not', null)])]),
    );
  if (f.workflow) q = q.where('workflow', '=', f.workflow);
  return q.orderBy('updated_at', 'desc').limit(f.limit).execute();
}

/** Deliveries never attempted yet. */
export async function countUnattempted(db: Db): Promise<number> {
  const r = await db
    .selectFrom('deliveries')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('status', '=', 'pending')
    .where('attempts', '=', 0)
    .executeTakeFirst();
  return Number(r?.n ?? 0);
}
