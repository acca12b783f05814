import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY, nextAttemptDelayMs, RETRY_AFTER_MAX_MS, RETRY_MAX_DELAY_MS } from './retry-policy.js';

const HOUR = 3_600_000;
const low = () => 0;
const high = () => 0.999_999;

function schedule(random: () => number, opts: { baseMs: number; maxAttempts: number; jitter?: 'equal' | 'full' } = DEFAULT_RETRY) {
  const delays: number[] = [];
  for (let attempt = 1; ; attempt++) {
    const d = nextAttemptDelayMs(attempt, { ...opts, random });
    if (d === null) return delays;
    delays.push(d);
  }
}

describe('nextAttemptDelayMs', () => {
  it('retries the default schedule for at least 24 hours even with the smallest jitter', () => {
    const delays = schedule(low);
    expect(delays).toHaveLength(DEFAULT_RETRY.maxAttempts - 1);
    const total = delays.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(24 * HOUR);
  });

  it('starts at about 10 seconds and doubles per attempt', () => {
    expect(nextAttemptDelayMs(1, { ...DEFAULT_RETRY, random: low })).toBe(5_000);
    expect(nextAttemptDelayMs(1, { ...DEFAULT_RETRY, random: high })).toBe(10_000);
    expect(nextAttemptDelayMs(2, { ...DEFAULT_RETRY, random: high })).toBe(20_000);
    expect(nextAttemptDelayMs(3, { ...DEFAULT_RETRY, random: low })).toBe(20_000);
  });

  it('caps every delay at the maximum delay', () => {
    for (const d of schedule(high)) expect(d).toBeLessThanOrEqual(RETRY_MAX_DELAY_MS);
    expect(nextAttemptDelayMs(17, { ...DEFAULT_RETRY, random: high })).toBeGreaterThan(RETRY_MAX_DELAY_MS - 100);
    expect(nextAttemptDelayMs(17, { ...DEFAULT_RETRY, random: low })).toBe(RETRY_MAX_DELAY_MS / 2);
    expect(nextAttemptDelayMs(10, { baseMs: 1000, maxAttempts: 50, maxDelayMs: 60_000, random: low })).toBe(30_000);
  });

  it('returns null once the attempts are exhausted', () => {
    expect(nextAttemptDelayMs(17, { ...DEFAULT_RETRY, random: low })).not.toBeNull();
    expect(nextAttemptDelayMs(18, { ...DEFAULT_RETRY, random: low })).toBeNull();
    expect(nextAttemptDelayMs(500, { ...DEFAULT_RETRY, random: low })).toBeNull();
    expect(nextAttemptDelayMs(1, { baseMs: 10, maxAttempts: 1, random: low })).toBeNull();
    expect(nextAttemptDelayMs(Number.NaN, { ...DEFAULT_RETRY, random: low })).toBeNull();
  });

  it('uses full jitter between zero and the exponential delay when asked', () => {
    expect(nextAttemptDelayMs(3, { ...DEFAULT_RETRY, jitter: 'full', random: low })).toBe(0);
    expect(nextAttemptDelayMs(3, { ...DEFAULT_RETRY, jitter: 'full', random: () => 0.5 })).toBe(20_000);
  });

  it('honours a longer Retry-After and ignores a shorter one', () => {
    expect(nextAttemptDelayMs(1, { ...DEFAULT_RETRY, random: low, retryAfterMs: 7_000 })).toBe(7_000);
    expect(nextAttemptDelayMs(1, { ...DEFAULT_RETRY, random: low, retryAfterMs: 1_000 })).toBe(5_000);
    expect(nextAttemptDelayMs(1, { ...DEFAULT_RETRY, random: low, retryAfterMs: 90 * HOUR })).toBe(RETRY_AFTER_MAX_MS);
  });

  it('does not retry past the last attempt even when Retry-After is given', () => {
    expect(nextAttemptDelayMs(18, { ...DEFAULT_RETRY, random: low, retryAfterMs: 1_000 })).toBeNull();
  });

  it('stays within [half, all] of the capped exponential delay for any random source', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 120_000 }),
        fc.integer({ min: 2, max: 100 }),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        (attempt, baseMs, maxAttempts, r) => {
          const d = nextAttemptDelayMs(attempt, { baseMs, maxAttempts, random: () => r });
          if (attempt >= maxAttempts) return d === null;
          const exp = Math.min(RETRY_MAX_DELAY_MS, baseMs * 2 ** (attempt - 1));
          return d !== null && Number.isInteger(d) && d >= Math.floor(exp / 2) && d <= Math.ceil(exp);
        },
      ),
    );
  });

  it('never shortens the schedule as attempts grow (minimum delays are non-decreasing)', () => {
    const delays = schedule(low);
    for (let i = 1; i < delays.length; i++) expect(delays[i]!).toBeGreaterThanOrEqual(delays[i - 1]!);
  });
});
