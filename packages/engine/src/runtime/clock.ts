/** The source of time. Everything that reads the time takes a Clock, so tests can move it by hand. */
export interface Clock {
  now(): Date;
}

/** The real clock. */
export const systemClock: Clock = { now: () => new Date() };

/** A clock that only moves when told to. */
export interface SimulatedClock extends Clock {
  set(at: Date | string): void;
  advance(ms: number): void;
}

/** Creates a simulated clock starting at `start`. */
export function createSimulatedClock(start: Date | string = '2026-01-01T00:00:00.000Z'): SimulatedClock {
  let t = new Date(start).getTime();
  return {
    now: () => new Date(t),
    set: (at) => {
      t = new Date(at).getTime();
    },
    advance: (ms) => {
      t += ms;
    },
  };
}
