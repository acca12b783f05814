/**
 * Workflow versions and settings change rarely and are read by every change, so readers
 * cache them. The epoch says when such a cache may be stale: it moves when this process
 * writes them (before and again after the writing transaction ends, so a reader that
 * reloaded in between reloads once more) and when another process announces a change
 * (PostgreSQL NOTIFY). Over-invalidation only costs a reload; it is shared by every store
 * in the process for that reason.
 */
let epoch = 0;

/** The current epoch; a cache made under another epoch is reloaded. */
export const configEpoch = (): number => epoch;

/** Marks workflows or settings as changed (called by their writers and by change notifications). */
export function bumpConfigEpoch(): void {
  epoch++;
}
