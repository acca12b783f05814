import { type AnchorHTMLAttributes, type MouseEvent, useEffect, useState } from 'react';

const NAV_EVENT = 'orderflow:navigate';

const BLOCKED_EVENT = 'orderflow:navigation-blocked';
/** Screens with unsaved changes; while any is registered, leaving asks first. */
const leaveGuards = new Set<symbol>();

/** A navigation held back by unsaved changes: a link (`to`), or a Back/Forward press `delta` entries away. */
interface Blocked {
  to: string;
  replace: boolean;
  delta?: number | undefined;
}

/**
 * Every in-app history entry carries its position (`state.orderflowIndex`),
 * so a Back or Forward press that would drop unsaved changes can be undone
 * (`history.go(-delta)`) and replayed once the person chose to leave.
 */
let position = 0;
/** The popstate of our own undo of a held-back Back/Forward press; it is not a navigation. */
let undoing = false;
/** The person chose to leave: the next Back/Forward press goes through. */
let leaving = false;

const indexOf = (state: unknown): number | undefined => {
  const i = (state as { orderflowIndex?: unknown } | null)?.orderflowIndex;
  return typeof i === 'number' ? i : undefined;
};
const here = () => window.location.pathname + window.location.search;
let current = '';

if (typeof window !== 'undefined') {
  const known = indexOf(window.history.state);
  if (known === undefined) window.history.replaceState({ ...(window.history.state ?? {}), orderflowIndex: 0 }, '');
  position = known ?? 0;
  current = here();
  window.addEventListener('popstate', (e) => {
    if (undoing) {
      undoing = false;
      return;
    }
    const index = indexOf(e.state);
    if (leaveGuards.size > 0 && !leaving) {
      const to = here();
      if (index !== undefined && index !== position) {
        // Back/Forward: step back to the screen with the changes, then ask.
        const delta = index - position;
        undoing = true;
        window.history.go(-delta);
        window.dispatchEvent(new CustomEvent<Blocked>(BLOCKED_EVENT, { detail: { to, replace: false, delta } }));
        return;
      }
      if (to !== current) {
        // An entry we cannot place: put the screen back on top, then ask.
        window.history.pushState({ orderflowIndex: ++position }, '', current);
        window.dispatchEvent(new CustomEvent<Blocked>(BLOCKED_EVENT, { detail: { to, replace: false } }));
        return;
      }
    }
    leaving = false;
    if (index !== undefined) position = index;
    current = here();
    window.dispatchEvent(new Event(NAV_EVENT));
  });
}

/** Goes to an in-app path without reloading; with unsaved changes on screen, asks first (see {@link useLeaveGuard}). */
export function navigate(to: string, options: { replace?: boolean; force?: boolean } = {}): void {
  if (leaveGuards.size > 0 && !options.force) {
    window.dispatchEvent(new CustomEvent<Blocked>(BLOCKED_EVENT, { detail: { to, replace: !!options.replace } }));
    return;
  }
  if (options.replace) window.history.replaceState({ orderflowIndex: position }, '', to);
  else window.history.pushState({ orderflowIndex: ++position }, '', to);
  current = here();
  window.dispatchEvent(new Event(NAV_EVENT));
}

/** The current path and query, re-rendering on navigation. */
const readLocation = () => ({ path: window.location.pathname, search: window.location.search });

export function useLocation(): { path: string; query: URLSearchParams } {
  const read = readLocation;
  const [loc, setLoc] = useState(read);
  useEffect(() => {
    // Back and Forward arrive as NAV_EVENT too, once the leave guard let them through.
    const update = () => setLoc(readLocation());
    window.addEventListener(NAV_EVENT, update);
    return () => window.removeEventListener(NAV_EVENT, update);
  }, []);
  return { path: loc.path, query: new URLSearchParams(loc.search) };
}

/** Matches `/orders/:id` against a path; returns the decoded parameters or null. */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const p = pattern.split('/').filter(Boolean);
  const s = path.split('/').filter(Boolean);
  if (p.length !== s.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    const a = p[i] as string;
    const b = s[i] as string;
    if (a.startsWith(':')) params[a.slice(1)] = decodeURIComponent(b);
    else if (a !== b) return null;
  }
  return params;
}

/** An in-app link. */
export function Link({ to, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { to: string }) {
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return <a href={to} onClick={handle} {...rest} />;
}

/** Builds `path?query` from defined values. */
export function withQuery(path: string, query: Record<string, string | undefined | null>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v) params.set(k, v);
  const s = params.toString();
  return s ? `${path}?${s}` : path;
}

/**
 * While `dirty`, leaving the screen asks first: an in-app link or the
 * browser's Back and Forward buttons show the "Unsaved changes" dialog
 * ({@link usePendingNavigation}), a reload or a closed tab the browser's own
 * prompt.
 */
export function useLeaveGuard(dirty: boolean): void {
  useEffect(() => {
    if (!dirty) return;
    const id = Symbol('unsaved');
    leaveGuards.add(id);
    const warn = (e: BeforeUnloadEvent) => {
      e.preventDefault();
      // Older Chromium shows the prompt only with a return value.
      e.returnValue = '';
    };
    window.addEventListener('beforeunload', warn);
    return () => {
      leaveGuards.delete(id);
      window.removeEventListener('beforeunload', warn);
    };
  }, [dirty]);
}

/** A navigation held back by unsaved changes: where to, and how to go anyway or stay. */
export function usePendingNavigation(): { to: string; leave: () => void; stay: () => void } | null {
  const [pending, setPending] = useState<Blocked | null>(null);
  useEffect(() => {
    const onBlocked = (e: Event) => setPending((e as CustomEvent<Blocked>).detail);
    window.addEventListener(BLOCKED_EVENT, onBlocked);
    return () => window.removeEventListener(BLOCKED_EVENT, onBlocked);
  }, []);
  if (!pending) return null;
  return {
    to: pending.to,
    leave: () => {
      setPending(null);
      if (pending.delta !== undefined) {
        // Replays the Back/Forward press, so the browser's history stays as the person left it.
        leaving = true;
        window.history.go(pending.delta);
      } else navigate(pending.to, { replace: pending.replace, force: true });
    },
    stay: () => setPending(null),
  };
}
