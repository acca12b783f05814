import { randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulid';
import type { Clock } from './clock.js';

/**
 * Cryptographic random fractions in [0, 1), drawn from a buffer refilled 4 KiB at a time: ulid's
 * default source asks the system for one byte per character, 16 calls per new id.
 */
function pooledRandom(): () => number {
  const pool = new Uint8Array(4096);
  let at = pool.length;
  return () => {
    if (at >= pool.length) {
      randomFillSync(pool);
      at = 0;
    }
    return (pool[at++] as number) / 256;
  };
}

/** Creates the id source: `<prefix>_<ULID>`, sortable by creation time, monotonic within a millisecond. */
export function createIdGenerator(clock: Clock): (prefix: string) => string {
  const next = monotonicFactory(pooledRandom());
  return (prefix) => `${prefix}_${next(clock.now().getTime())}`;
}
