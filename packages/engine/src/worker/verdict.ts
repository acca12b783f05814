import { nextAttemptDelayMs } from '@orderflow/core';
import type { ActionOutcome } from '../actions/outcome.js';
import type { PreparedDelivery } from './prepare.js';

/** Characters of an attempt's error that are kept. */
export const ERROR_LIMIT = 2000;

/** What an attempt's outcome does to the webhook endpoint it went to. */
export type EndpointEffect =
  /** Delivered: the run of failures ends. */
  | 'reset'
  /** The receiver answered 410 Gone: disable the endpoint at once. */
  | 'gone'
  /** Failed for good (failed or dead): one more failure in a row, disabled at the limit. */
  | 'failure';

/** What to do with a delivery after an attempt. */
export interface DeliveryVerdict {
  /** The delivery's new status (`pending` when it is tried again). */
  status: 'delivered' | 'pending' | 'failed' | 'dead';
  /** The attempt's outcome as recorded. */
  outcome: 'delivered' | 'retry' | 'failed' | 'dead';
  /** When it is tried next (unchanged unless retried). */
  nextAttemptAt: string;
  /** The attempt's error, cut to {@link ERROR_LIMIT}; null when delivered. */
  error: string | null;
  /** The endpoint to update, and how; null for deliveries to no named endpoint, or when nothing changes. */
  endpoint: { key: string; effect: EndpointEffect } | null;
}

/** What {@link deliveryVerdict} decides from. */
export interface VerdictInput {
  outcome: ActionOutcome;
  /** This attempt's number (1 = the first). */
  attempt: number;
  /** The named endpoint the delivery went to, if any (see {@link endpointOf}). */
  endpoint: string | null;
  /** The delivery's current `next_attempt_at`. */
  nextAttemptAt: string;
  now: Date;
  retry: { baseMs: number; maxAttempts: number; random: () => number };
}

/**
 * The delivery verdict: delivered, retry at a time, failed for good, or dead after the last
 * allowed attempt; and what it means for the endpoint. Pure: time and jitter come in.
 */
export function deliveryVerdict(v: VerdictInput): DeliveryVerdict {
  const o = v.outcome;
  let status: DeliveryVerdict['status'];
  let outcome: DeliveryVerdict['outcome'];
  let nextAttemptAt = v.nextAttemptAt;
  if (o.ok) {
    status = 'delivered';
    outcome = 'delivered';
  } else if (o.retryable) {
    const delay = nextAttemptDelayMs(v.attempt, {
      baseMs: v.retry.baseMs,
      maxAttempts: v.retry.maxAttempts,
      random: v.retry.random,
      ...(o.retryAfterMs !== undefined ? { retryAfterMs: o.retryAfterMs } : {}),
    });
    if (delay === null) {
      status = 'dead';
      outcome = 'dead';
    } else {
      status = 'pending';
      outcome = 'retry';
      nextAttemptAt = new Date(v.now.getTime() + delay).toISOString();
    }
  } else {
    status = 'failed';
    outcome = 'failed';
  }
  let effect: EndpointEffect | null = null;
  if (o.ok) effect = 'reset';
  else if (o.disableEndpoint) effect = 'gone';
  else if (status === 'failed' || status === 'dead') effect = 'failure';
  return {
    status,
    outcome,
    nextAttemptAt,
    error: o.ok ? null : o.error.slice(0, ERROR_LIMIT),
    endpoint: v.endpoint !== null && effect !== null ? { key: v.endpoint, effect } : null,
  };
}

/** The named endpoint whose health a prepared delivery counts toward (none once it is disabled). */
export function endpointOf(p: PreparedDelivery): string | null {
  if (p.type === 'webhook') return p.endpoint;
  if (p.type === 'invalid' && !p.endpointDisabled) return p.endpoint ?? null;
  return null;
}

/** The first `bytes` bytes of a UTF-8 string. */
export function utf8Prefix(s: string, bytes = 1024): string {
  const buf = Buffer.from(s, 'utf8');
  return buf.length <= bytes ? s : buf.subarray(0, bytes).toString('utf8');
}
