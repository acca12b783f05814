/** How deliveries are retried (SPEC §2.4). */
export interface RetryOptions {
  /**
   * Delay before the second attempt, before jitter; it doubles with every further attempt.
   * @default 10_000
   */
  baseMs: number;
  /**
   * Attempts in total, the first one included; after the last one the delivery is dead.
   * @default 18
   */
  maxAttempts: number;
  /**
   * Largest delay between two attempts, before `retryAfterMs` is considered.
   * @default 28_800_000 (8 h)
   */
  maxDelayMs?: number;
  /**
   * `equal`: half the exponential delay plus a random share of the other half, so the
   * schedule keeps a guaranteed minimum length. `full`: anywhere between 0 and the delay.
   * @default 'equal'
   */
  jitter?: 'equal' | 'full';
}

/** Largest delay between two attempts unless configured otherwise: 8 hours. */
export const RETRY_MAX_DELAY_MS = 8 * 60 * 60 * 1000;
/** Largest `Retry-After` honoured: 24 hours. A receiver cannot park a delivery for longer. */
export const RETRY_AFTER_MAX_MS = 24 * 60 * 60 * 1000;

/**
 * The default schedule: 10 s, 20 s, 40 s, … doubling up to 8 h, 18 attempts in all.
 * With equal jitter the 17 waits add up to at least ~25.7 h, so a delivery is retried
 * for more than a day before it is dead.
 */
export const DEFAULT_RETRY: Readonly<Required<Pick<RetryOptions, 'baseMs' | 'maxAttempts'>>> = Object.freeze({
  baseMs: 10_000,
  maxAttempts: 18,
});

/**
 * The delay in ms before the next attempt, after attempt number `attempt` (1 = the first
 * attempt) failed, or `null` when that was the last allowed attempt.
 *
 * `random` returns a number in [0, 1) and is injected so schedules replay from a seed.
 * `retryAfterMs` (from a `Retry-After` header) replaces the computed delay when it is
 * longer, capped at {@link RETRY_AFTER_MAX_MS}.
 */
export function nextAttemptDelayMs(attempt: number, opts: RetryOptions & { random: () => number; retryAfterMs?: number }): number | null {
  if (!Number.isFinite(attempt)) return null;
  const done = Math.max(1, Math.floor(attempt));
  if (done >= opts.maxAttempts) return null;

  const cap = Math.max(0, opts.maxDelayMs ?? RETRY_MAX_DELAY_MS);
  // The exponent is bounded so huge attempt numbers cannot overflow to Infinity or NaN.
  const exponential = Math.min(cap, Math.max(0, opts.baseMs) * 2 ** Math.min(done - 1, 52));
  const r = clampUnit(opts.random());
  const delay = (opts.jitter ?? 'equal') === 'full' ? exponential * r : exponential / 2 + (exponential / 2) * r;

  let result = Math.round(delay);
  const retryAfter = opts.retryAfterMs;
  if (retryAfter !== undefined && Number.isFinite(retryAfter)) {
    result = Math.max(result, Math.round(Math.min(retryAfter, RETRY_AFTER_MAX_MS)));
  }
  return result;
}

function clampUnit(n: number): number {
  if (!Number.isFinite(n) || n < 0) return 0;
  return Math.min(n, 1);
}
