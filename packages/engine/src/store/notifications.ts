import type { Notification } from '@orderflow/core';
import { type Kysely, type Selectable, sql } from 'kysely';
import type { DB } from './schema.js';

/** A notification before anyone read it or it folded repeats. */
export type NewNotification = Omit<Notification, 'readAt' | 'count' | 'lastAt'>;

/** Maps a notifications row. */
export function rowToNotification(r: Selectable<DB['notifications']>): Notification {
  return {
    id: r.id,
    channel: r.channel,
    severity: r.severity as Notification['severity'],
    message: r.message,
    orderId: r.order_id,
    deliveryId: r.delivery_id,
    createdAt: r.created_at,
    readAt: r.read_at,
    count: Number(r.count ?? 1),
    lastAt: r.last_at ?? null,
  };
}

/** Stores a notification; the caller publishes it after its transaction commits. */
export async function insertNotification(db: Kysely<DB>, n: NewNotification): Promise<Notification> {
  await db.insertInto('notifications').values(notificationRow(n, null)).execute();
  return { ...n, readAt: null, count: 1, lastAt: null };
}

function notificationRow(n: NewNotification, foldKey: string | null) {
  return {
    id: n.id,
    channel: n.channel,
    severity: n.severity,
    message: n.message,
    order_id: n.orderId,
    delivery_id: n.deliveryId,
    created_at: n.createdAt,
    read_at: null,
    fold_key: foldKey,
    count: 1,
    last_at: null,
  };
}

/**
 * Stores an alert that folds: while an unread notification with the same key exists, it only
 * counts one more and shows the latest message. `folded` tells the caller not to email again.
 */
export async function raiseFolded(
  db: Kysely<DB>,
  n: NewNotification,
  foldKey: string,
): Promise<{ notification: Notification; folded: boolean }> {
  const row = await db
    .insertInto('notifications')
    .values(notificationRow(n, foldKey))
    .onConflict((oc) =>
      oc
        .column('fold_key')
        .where('read_at', 'is', null)
        .doUpdateSet((eb) => ({
          count: eb('notifications.count', '+', 1),
          message: eb.ref('excluded.message'),
          order_id: eb.ref('excluded.order_id'),
          last_at: eb.ref('excluded.created_at'),
        })),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
  return { notification: rowToNotification(row), folded: row.id !== n.id };
}

/** True when a notification was already stored for the delivery (a retry must not store it twice). */
export async function hasNotificationOfDelivery(db: Kysely<DB>, deliveryId: string): Promise<boolean> {
  const existing = await db.selectFrom('notifications').select('id').where('delivery_id', '=', deliveryId).executeTakeFirst();
  return existing !== undefined;
}

/** A notifications row. */
export type NotificationRow = Selectable<DB['notifications']>;

// Unread notifications list first: the sort key, and the first part of a page cursor.
const unreadFirst = sql<number>`case when read_at is null then 1 else 0 end`;

/** Unread first, then newest first; after `cursor` (the unread flag and id of the previous page's last row). */
export async function listNotifications(
  db: Kysely<DB>,
  f: { unread?: boolean; channel?: string; cursor?: { unread: boolean; id: string }; limit: number },
): Promise<NotificationRow[]> {
  let q = db.selectFrom('notifications').selectAll();
  if (f.unread === true) q = q.where('read_at', 'is', null);
  if (f.unread === false) q = q.where('read_at', 'is not', null);
  if (f.channel) q = q.where('channel', '=', f.channel);
  if (f.cursor) {
    const flag = f.cursor.unread ? 1 : 0;
    const id = f.cursor.id;
    q = q.where((eb) => eb.or([eb(unreadFirst, '<', flag), eb.and([eb(unreadFirst, '=', flag), eb('id', '<', id)])]));
  }
  return q.orderBy(unreadFirst, 'desc').orderBy('id', 'desc').limit(f.limit).execute();
}

/** Marks a notification read unless it already is (the first time read stays). */
export async function markNotificationRead(db: Kysely<DB>, id: string, now: string): Promise<void> {
  await db.updateTable('notifications').set({ read_at: now }).where('id', '=', id).where('read_at', 'is', null).execute();
}

export async function getNotification(db: Kysely<DB>, id: string): Promise<NotificationRow | undefined> {
  return db.selectFrom('notifications').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Notifications in id order: after the id `afterId` when given, else created at or after `since`. */
export async function notificationsSince(
  db: Kysely<DB>,
  f: { afterId?: string; since: string; limit: number },
): Promise<NotificationRow[]> {
  let q = db.selectFrom('notifications').selectAll();
  q = f.afterId ? q.where('id', '>', f.afterId) : q.where('created_at', '>=', f.since);
  return q.orderBy('id').limit(f.limit).execute();
}
