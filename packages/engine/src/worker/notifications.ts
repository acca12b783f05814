import { EventEmitter } from 'node:events';
import type { EventEnvelope, Notification } from '@orderflow/core';
import type { Kysely, Selectable } from 'kysely';
import type { DB } from '../store/schema.js';

/** An in-app notification, as the wire contract declares it. */
export type { Notification };

/** In-process fan-out of freshly stored notifications (the SSE stream listens here). */
export interface NotificationBus {
  publish(n: Notification): void;
  subscribe(fn: (n: Notification) => void): () => void;
}

/** Creates the in-process notification bus. */
export function createNotificationBus(): NotificationBus {
  const events = new EventEmitter();
  events.setMaxListeners(0);
  return {
    publish(n) {
      events.emit('notification', n);
    },
    subscribe(fn) {
      // A listener that throws must not break the publisher (the worker).
      const safe = (n: Notification) => {
        try {
          fn(n);
        } catch {
          // ignored
        }
      };
      events.on('notification', safe);
      return () => events.off('notification', safe);
    },
  };
}

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
export async function insertNotification(db: Kysely<DB>, n: Omit<Notification, 'readAt' | 'count' | 'lastAt'>): Promise<Notification> {
  await db.insertInto('notifications').values(notificationRow(n, null)).execute();
  return { ...n, readAt: null, count: 1, lastAt: null };
}

function notificationRow(n: Omit<Notification, 'readAt' | 'count' | 'lastAt'>, foldKey: string | null) {
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
  n: Omit<Notification, 'readAt' | 'count' | 'lastAt'>,
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

/** The alerts that fold, and their key: one open alert per endpoint, per rule, per workflow's dead deliveries. */
export function alertFoldKey(envelope: EventEnvelope): string | null {
  const data = envelope.data as EventEnvelope['data'] & { endpoint?: string };
  const workflow = data.order?.workflow ?? '';
  switch (envelope.type) {
    case 'order.rule_failed':
      return data.rule ? `rule:${workflow}:${data.rule}` : null;
    case 'delivery.dead':
      if (data.endpoint) return `endpoint:${data.endpoint}`;
      return data.rule ? `rule:${workflow}:${data.rule}` : `dead:${workflow}`;
    case 'endpoint.disabled':
      return data.endpoint ? `endpoint-disabled:${data.endpoint}` : null;
    default:
      return null;
  }
}

/** Text that is safe to feed to Liquid as a literal: no tag or output delimiters survive. */
export function liquidLiteral(text: string): string {
  return text.replace(/\{(?=[{%])/g, '{ ').replace(/%\}/g, '% }');
}
