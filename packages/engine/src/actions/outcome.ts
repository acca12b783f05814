/**
 * The result of one delivery attempt, as the worker records it.
 *
 * - `ok: true`: delivered; never attempted again.
 * - `ok: false, retryable: true`: try again later (`retryAfterMs` is the receiver's wish).
 * - `ok: false, retryable: false`: failed for good until someone retries it by hand.
 * - `disableEndpoint: true`: the receiver said the endpoint is gone (410); disable it loudly.
 */
export type ActionOutcome =
  | { ok: true; status?: number; responseBody?: string; durationMs: number }
  | {
      ok: false;
      retryable: boolean;
      retryAfterMs?: number;
      disableEndpoint?: boolean;
      status?: number;
      responseBody?: string;
      error: string;
      durationMs: number;
    };

/** A failure that retrying would not fix. */
export const permanentFailure = (error: string, durationMs = 0): ActionOutcome => ({ ok: false, retryable: false, error, durationMs });
