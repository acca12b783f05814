/**
 * A pure undo stack. Every operation returns a new history; nothing is mutated.
 */
export interface History<T> {
  past: T[];
  present: T;
  future: T[];
  /** Entries kept in `past` at most. */
  limit: number;
  /** Key of the last push; a push with the same key replaces the present instead of adding a step. */
  lastKey: string | null;
}

/** Starts a history at `initial`. */
export function createHistory<T>(initial: T, limit = 100): History<T> {
  return { past: [], present: initial, future: [], limit, lastKey: null };
}

/**
 * Records `next` as the new present and clears the redo branch. Pushing the
 * present itself changes nothing. With a `coalesceKey` equal to the previous
 * push's, the step is merged into it (typing a name is one undo step, not one
 * per key).
 */
export function push<T>(history: History<T>, next: T, coalesceKey?: string): History<T> {
  if (next === history.present) return history;
  const key = coalesceKey ?? null;
  if (key !== null && key === history.lastKey && history.future.length === 0) {
    return { ...history, present: next };
  }
  const past = [...history.past, history.present];
  if (past.length > history.limit) past.splice(0, past.length - history.limit);
  return { ...history, past, present: next, future: [], lastKey: key };
}

/** Steps back; unchanged when there is nothing to undo. */
export function undo<T>(history: History<T>): History<T> {
  const previous = history.past[history.past.length - 1];
  if (history.past.length === 0) return history;
  return {
    ...history,
    past: history.past.slice(0, -1),
    present: previous as T,
    future: [history.present, ...history.future],
    lastKey: null,
  };
}

/** Steps forward again; unchanged when there is nothing to redo. */
export function redo<T>(history: History<T>): History<T> {
  if (history.future.length === 0) return history;
  const [next, ...rest] = history.future;
  return { ...history, past: [...history.past, history.present], present: next as T, future: rest, lastKey: null };
}

export const canUndo = (history: History<unknown>): boolean => history.past.length > 0;
export const canRedo = (history: History<unknown>): boolean => history.future.length > 0;

/** Starts over at `value` with no undo or redo steps (after loading or saving elsewhere). */
export function reset<T>(history: History<T>, value: T): History<T> {
  return createHistory(value, history.limit);
}

/** The undo/redo command a key press asks for: Ctrl/⌘+Z, Ctrl/⌘+Shift+Z, Ctrl/⌘+Y. */
export function historyKey(e: { key: string; ctrlKey: boolean; metaKey: boolean; shiftKey: boolean }): 'undo' | 'redo' | null {
  if (!e.ctrlKey && !e.metaKey) return null;
  const key = e.key.toLowerCase();
  if (key === 'z') return e.shiftKey ? 'redo' : 'undo';
  if (key === 'y') return 'redo';
  return null;
}
