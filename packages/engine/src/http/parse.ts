import type { z } from 'zod';
import { ApiError } from '../errors.js';

/** Parses input with a zod schema or throws `validation_failed` listing every problem with its path. */
export function parse<T>(schema: z.ZodType<T>, input: unknown, where = 'body'): T {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const errors = r.error.issues.slice(0, 50).flatMap((i) =>
    // An unknown field or parameter is named in the path of its own error.
    i.code === 'unrecognized_keys'
      ? i.keys.map((k) => ({
          path: [where, ...i.path.map(String), k].join('.'),
          message: `"${k}" is not a known ${where === 'query' ? 'parameter' : 'field'}`,
        }))
      : [{ path: [where, ...i.path.map(String)].join('.'), message: i.message }],
  );
  throw new ApiError('validation_failed', `The ${where} is not valid: ${errors[0]?.path} ${errors[0]?.message}`, { errors });
}

/** Encodes an opaque cursor. */
export const encodeCursor = (parts: string[]): string => Buffer.from(parts.join('|'), 'utf8').toString('base64url');

/** Decodes an opaque cursor into `n` parts or throws `bad_request`. */
export function decodeCursor(cursor: string, n: number): string[] {
  const parts = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (parts.length !== n || parts.some((p) => p.length === 0 || p.length > 100)) {
    throw new ApiError('bad_request', 'The cursor is not valid; use nextCursor from a previous page.');
  }
  return parts;
}

/** One page of a list read with `limit + 1` rows: the items and the cursor of the next page (null on the last). */
export function pageOf<T>(rows: T[], limit: number, cursorOf: (last: T) => string[]): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(cursorOf(last)) : null };
}

/** The instant a time filter names, as an ISO string: a plain date (`2026-01-01`) is midnight UTC. */
export const instantOf = (bound: string): string =>
  new Date(/^\d{4}-\d{2}-\d{2}$/.test(bound) ? `${bound}T00:00:00Z` : bound).toISOString();
