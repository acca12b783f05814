import { monotonicFactory } from 'ulid';
import type { Clock } from './clock.js';

/** Creates the id source: `<prefix>_<ULID>`, sortable by creation time, monotonic within a millisecond. */
export function createIdGenerator(clock: Clock): (prefix: string) => string {
  const next = monotonicFactory();
  return (prefix) => `${prefix}_${next(clock.now().getTime())}`;
}
