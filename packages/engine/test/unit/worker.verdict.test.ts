import { describe, expect, it } from 'vitest';
import type { ActionOutcome } from '../../src/actions/outcome.js';
import { type DeliveryVerdict, deliveryVerdict, endpointOf } from '../../src/worker/verdict.js';

const now = new Date('2026-12-01T10:00:00.000Z');
const scheduled = '2026-12-01T09:59:00.000Z';
const retry = { baseMs: 10_000, maxAttempts: 3, random: () => 0 };
const at = (ms: number) => new Date(now.getTime() + ms).toISOString();

const delivered: ActionOutcome = { ok: true, status: 200, durationMs: 5 };
const http500: ActionOutcome = { ok: false, retryable: true, status: 500, error: 'HTTP 500', durationMs: 5 };
const http429Later: ActionOutcome = { ok: false, retryable: true, status: 429, retryAfterMs: 60_000, error: 'HTTP 429', durationMs: 5 };
const http400: ActionOutcome = { ok: false, retryable: false, status: 400, error: 'HTTP 400', durationMs: 5 };
const http410: ActionOutcome = {
  ok: false,
  retryable: false,
  disableEndpoint: true,
  status: 410,
  error: 'HTTP 410: the endpoint is gone',
  durationMs: 5,
};

describe('deliveryVerdict', () => {
  // Equal jitter with random() = 0: half of base × 2^(attempt-1).
  const cases: { name: string; outcome: ActionOutcome; attempt: number; endpoint: string | null; want: DeliveryVerdict }[] = [
    {
      name: 'delivered, to an endpoint: its run of failures ends',
      outcome: delivered,
      attempt: 1,
      endpoint: 'crm',
      want: { status: 'delivered', outcome: 'delivered', nextAttemptAt: scheduled, error: null, endpoint: { key: 'crm', effect: 'reset' } },
    },
    {
      name: 'delivered, to a plain URL: no endpoint to update',
      outcome: delivered,
      attempt: 2,
      endpoint: null,
      want: { status: 'delivered', outcome: 'delivered', nextAttemptAt: scheduled, error: null, endpoint: null },
    },
    {
      name: 'retryable failure on the first attempt: retry after half the base delay',
      outcome: http500,
      attempt: 1,
      endpoint: 'crm',
      want: { status: 'pending', outcome: 'retry', nextAttemptAt: at(5_000), error: 'HTTP 500', endpoint: null },
    },
    {
      name: 'retryable failure on the second attempt: the delay doubles',
      outcome: http500,
      attempt: 2,
      endpoint: null,
      want: { status: 'pending', outcome: 'retry', nextAttemptAt: at(10_000), error: 'HTTP 500', endpoint: null },
    },
    {
      name: 'Retry-After longer than the schedule wins',
      outcome: http429Later,
      attempt: 1,
      endpoint: null,
      want: { status: 'pending', outcome: 'retry', nextAttemptAt: at(60_000), error: 'HTTP 429', endpoint: null },
    },
    {
      name: 'retryable failure on the last allowed attempt: dead, and it counts against the endpoint',
      outcome: http500,
      attempt: 3,
      endpoint: 'crm',
      want: { status: 'dead', outcome: 'dead', nextAttemptAt: scheduled, error: 'HTTP 500', endpoint: { key: 'crm', effect: 'failure' } },
    },
    {
      name: 'permanent failure: failed, counted against the endpoint',
      outcome: http400,
      attempt: 1,
      endpoint: 'crm',
      want: {
        status: 'failed',
        outcome: 'failed',
        nextAttemptAt: scheduled,
        error: 'HTTP 400',
        endpoint: { key: 'crm', effect: 'failure' },
      },
    },
    {
      name: '410 Gone: failed, and the endpoint is disabled',
      outcome: http410,
      attempt: 1,
      endpoint: 'crm',
      want: {
        status: 'failed',
        outcome: 'failed',
        nextAttemptAt: scheduled,
        error: 'HTTP 410: the endpoint is gone',
        endpoint: { key: 'crm', effect: 'gone' },
      },
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      expect(
        deliveryVerdict({ outcome: c.outcome, attempt: c.attempt, endpoint: c.endpoint, nextAttemptAt: scheduled, now, retry }),
      ).toEqual(c.want);
    });
  }

  it('keeps at most 2000 characters of the error', () => {
    const v = deliveryVerdict({
      outcome: { ok: false, retryable: false, error: 'x'.repeat(5000), durationMs: 0 },
      attempt: 1,
      endpoint: null,
      nextAttemptAt: scheduled,
      now,
      retry,
    });
    expect(v.error).toHaveLength(2000);
  });
});

describe('endpointOf', () => {
  it('names the endpoint of a webhook, not of one that was already disabled', () => {
    const request = { deliveryId: 'dlv_1', url: 'https://example.com/', body: '{}', secret: 'whsec_x', timestamp: 1 };
    expect(endpointOf({ type: 'webhook', endpoint: 'crm', request })).toBe('crm');
    expect(endpointOf({ type: 'webhook', endpoint: null, request })).toBeNull();
    expect(endpointOf({ type: 'invalid', error: 'bad body', endpoint: 'crm' })).toBe('crm');
    expect(endpointOf({ type: 'invalid', error: 'disabled', endpoint: 'crm', endpointDisabled: true })).toBeNull();
    expect(endpointOf({ type: 'invalid', error: 'no template' })).toBeNull();
  });
});
