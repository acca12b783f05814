/** Stable error codes of the HTTP API (SPEC §5). */
export type ErrorCode =
  | 'validation_failed'
  | 'bad_request'
  | 'not_found'
  | 'transition_not_allowed'
  | 'reason_required'
  | 'criteria_unmet'
  | 'version_conflict'
  | 'idempotency_conflict'
  | 'unauthorized'
  | 'forbidden'
  | 'payload_too_large'
  | 'headers_too_large'
  | 'request_timeout'
  | 'unsupported_media_type'
  | 'method_not_allowed'
  | 'rate_limited'
  | 'conflict'
  | 'internal_error';

/**
 * HTTP status per error code. A `Record` over the union, so a new code without
 * a status does not compile.
 */
export const ERROR_STATUS: Record<ErrorCode, number> = {
  validation_failed: 422,
  bad_request: 400,
  not_found: 404,
  transition_not_allowed: 409,
  reason_required: 422,
  criteria_unmet: 422,
  version_conflict: 409,
  idempotency_conflict: 409,
  unauthorized: 401,
  forbidden: 403,
  payload_too_large: 413,
  headers_too_large: 431,
  request_timeout: 408,
  unsupported_media_type: 415,
  method_not_allowed: 405,
  rate_limited: 429,
  conflict: 409,
  internal_error: 500,
};

/** Short human titles for problem documents. */
export const ERROR_TITLE: Record<ErrorCode, string> = {
  validation_failed: 'Validation failed',
  bad_request: 'Bad request',
  not_found: 'Not found',
  transition_not_allowed: 'Transition not allowed',
  reason_required: 'Cancellation reason required',
  criteria_unmet: 'Completion criteria not met',
  version_conflict: 'Version conflict',
  idempotency_conflict: 'Idempotency key reused with a different request',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  payload_too_large: 'Payload too large',
  headers_too_large: 'Request header fields too large',
  request_timeout: 'Request timeout',
  unsupported_media_type: 'Unsupported media type',
  method_not_allowed: 'Method not allowed',
  rate_limited: 'Too many requests',
  conflict: 'Conflict',
  internal_error: 'Internal error',
};
