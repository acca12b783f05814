import type { Notification } from '@orderflow/core';
import type { Kysely, Selectable } from 'kysely';
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
