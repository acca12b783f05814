import { type AnchorHTMLAttributes, type MouseEvent, useEffect, useState } from 'react';

const NAV_EVENT = 'orderflow:navigate';

const BLOCKED_EVENT = 'orderflow:navigation-blocked';
/** Screens with unsaved changes; while any is registered, leaving asks first. */
const leaveGuards = new Set<symbol>();

/** Goes to an in-app path without reloading; with unsaved changes on screen, asks first (see {@link useLeaveGuard}). */
export function navigate(to: string, options: { replace?: boolean; force?: boolean } = {}): void {
  if (leaveGuards.size > 0 && !options.force) {
    window.dispatchEvent(new CustomEvent(BLOCKED_EVENT, { detail: { to, replace: !!options.replace } }));
    return;
  }
  if (options.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.dispatchEvent(new Event(NAV_EVENT));
}

/** The current path and query, re-rendering on navigation. */
const readLocation = () => ({ path: window.location.pathname, search: window.location.search });

export function useLocation(): { path: string; query: URLSearchParams } {
  const read = readLocation;
  const [loc, setLoc] = useState(read);
  useEffect(() => {
    const update = () => setLoc(readLocation());
    window.addEventListener('popstate', update);
    window.addEventListener(NAV_EVENT, update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener(NAV_EVENT, update);
    };
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
 * While `dirty`, leaving the screen asks first: an in-app link shows the
 * "Unsaved changes" dialog ({@link usePendingNavigation}), a reload or a closed
 * tab the browser's own prompt.
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
  const [pending, setPending] = useState<{ to: string; replace: boolean } | null>(null);
  useEffect(() => {
    const onBlocked = (e: Event) => setPending((e as CustomEvent<{ to: string; replace: boolean }>).detail);
    window.addEventListener(BLOCKED_EVENT, onBlocked);
    return () => window.removeEventListener(BLOCKED_EVENT, onBlocked);
  }, []);
  if (!pending) return null;
  return {
    to: pending.to,
    leave: () => {
      setPending(null);
      navigate(pending.to, { replace: pending.replace, force: true });
    },
    stay: () => setPending(null),
  };
}
