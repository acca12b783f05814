/**
 * Entity tags (RFC 9110 §8.8.3) and the conditional request headers that carry them. An order's
 * ETag is its version as a strong tag, `"3"`; this module is the one place that writes or reads one.
 */

/** One entity tag of a header: its opaque value (without quotes) and whether it was weak (`W/"3"`). */
export interface EntityTag {
  weak: boolean;
  opaque: string;
}

/** The ETag of an order at `version`. */
export const versionTag = (version: number): string => `"${version}"`;

const LIST_ITEM = /^\s*(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)/;

/**
 * Parses `If-Match` / `If-None-Match`: `*`, or a comma-separated list of entity tags.
 * Answers undefined when the header is absent, and null when it is not valid.
 */
export function parseEntityTags(header: string | string[] | undefined): '*' | EntityTag[] | null | undefined {
  if (header === undefined) return undefined;
  let rest = (Array.isArray(header) ? header.join(', ') : header).trim();
  if (rest === '*') return '*';
  if (rest.length === 0 || rest.length > 1000) return null;
  const tags: EntityTag[] = [];
  while (rest.length > 0) {
    const m = LIST_ITEM.exec(rest);
    if (!m) return null;
    tags.push({ weak: m[1] !== undefined, opaque: m[2] as string });
    rest = rest.slice(m[0].length).trimStart();
    if (tags.length > 50) return null;
  }
  return tags;
}

/** Strong comparison (If-Match): both tags strong and equal. */
export const strongMatch = (tag: EntityTag, version: number): boolean => !tag.weak && tag.opaque === String(version);

/** Weak comparison (If-None-Match): equal opaque values, weak or not. */
export const weakMatch = (tag: EntityTag, version: number): boolean => tag.opaque === String(version);

/** True when `If-None-Match` matches the current version (the answer is then 304). */
export function noneMatchHolds(header: string | string[] | undefined, version: number): boolean {
  const tags = parseEntityTags(header);
  // An absent or unreadable header is no condition: the full answer is sent.
  if (tags === undefined || tags === null) return false;
  return tags === '*' || tags.some((t) => weakMatch(t, version));
}

/**
 * The versions an `If-Match` header accepts under strong comparison: `undefined` without the
 * header, `'*'` for any current order, otherwise the versions of its strong numeric tags (empty
 * when none can match: only weak tags, or a header that is not valid).
 */
export function ifMatchVersions(header: string | string[] | undefined): '*' | number[] | undefined {
  const tags = parseEntityTags(header);
  if (tags === undefined || tags === '*') return tags;
  if (tags === null) return [];
  return tags.filter((t) => !t.weak && /^\d{1,12}$/.test(t.opaque)).map((t) => Number(t.opaque));
}
