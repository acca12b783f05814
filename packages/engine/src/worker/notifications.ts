import { EventEmitter } from 'node:events';
import type { Notification } from '@orderflow/core';
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
  };
}

/** Stores a notification; the caller publishes it after its transaction commits. */
export async function insertNotification(db: Kysely<DB>, n: Omit<Notification, 'readAt'>): Promise<Notification> {
  await db
    .insertInto('notifications')
    .values({
      id: n.id,
      channel: n.channel,
      severity: n.severity,
      message: n.message,
      order_id: n.orderId,
      delivery_id: n.deliveryId,
      created_at: n.createdAt,
      read_at: null,
    })
    .execute();
  return { ...n, readAt: null };
}

/** Text that is safe to feed to Liquid as a literal: no tag or output delimiters survive. */
export function liquidLiteral(text: string): string {
  return text.replace(/\{(?=[{%])/g, '{ ').replace(/%\}/g, '% }');
}
