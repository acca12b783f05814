import { EventEmitter } from 'node:events';
import type { EventEnvelope, Notification } from '@orderflow/core';

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

export { insertNotification, type NewNotification, raiseFolded, rowToNotification } from '../store/notifications.js';

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
