import { ERROR_STATUS, ERROR_TITLE, type ErrorCode } from '@orderflow/core';

/** An expected failure that the HTTP layer turns into a problem document. */
export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: Record<string, unknown> = {},
    status?: number,
  ) {
    super(message);
    this.status = status ?? ERROR_STATUS[code];
  }

  /** The RFC 9457 problem document. */
  toProblem(instance?: string): Record<string, unknown> {
    return {
      type: `urn:orderflow:problem:${this.code}`,
      title: ERROR_TITLE[this.code],
      status: this.status,
      detail: this.message,
      code: this.code,
      ...(instance ? { instance } : {}),
      ...this.extra,
    };
  }
}
