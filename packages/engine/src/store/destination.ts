import type { OutboxEntry } from '@orderflow/core';

/**
 * Where a delivery goes: a named endpoint, the origin of a webhook URL, the mail server, or the
 * notification channel. Read from the stored action, without rendering anything. Written on the
 * delivery row (`destination`) when it is queued, so a claim can hold back the rows of a
 * destination the worker already holds enough of; the worker bounds its sends in flight per
 * destination by the same key.
 */
export function destinationOf(action: OutboxEntry['action']): string {
  switch (action.type) {
    case 'webhook':
      if (action.endpoint !== undefined) return `endpoint:${action.endpoint}`;
      try {
        return `url:${new URL(action.url ?? '').origin}`;
      } catch {
        return 'url:';
      }
    case 'send_email':
      return 'email';
    default:
      return 'notify';
  }
}
