import { ApiError, type Client, createClient } from '@orderflow/client';

/** Fired when the server answers 401 to anything but the session itself: the UI goes back to sign-in. */
export const UNAUTHORIZED_EVENT = 'orderflow:unauthorized';

const watchingFetch: typeof fetch = async (input, init) => {
  const res = await globalThis.fetch(input, init);
  if (res.status === 401 && !String(input).endsWith('/session')) window.dispatchEvent(new Event(UNAUTHORIZED_EVENT));
  return res;
};

/** The UI's client: same origin, session cookie, CSRF header on mutations. */
export const api: Client = createClient({ baseUrl: '', fetch: watchingFetch });

/** A message fit for a person, from anything thrown: never a stack trace. */
export function describeError(err: unknown): { title: string; detail?: string | undefined; code?: string | undefined } {
  if (err instanceof ApiError) {
    const extra: string[] = [];
    if (err.missing?.length) extra.push(`Missing: ${err.missing.join(', ')}`);
    if (err.reasons?.length) extra.push(...err.reasons.map((r) => r.message));
    if (err.errors?.length) extra.push(...err.errors.slice(0, 5).map((e) => `${e.path || '(root)'}: ${e.message}`));
    if (err.problems?.length)
      extra.push(
        ...err.problems
          .filter((p) => p.severity === 'error')
          .slice(0, 5)
          .map((p) => `${p.path || '(workflow)'}: ${p.message}`),
      );
    const parts = [err.detail, ...extra].filter((x): x is string => !!x && x !== err.title);
    const detail = [...new Set(parts)].join(' — ');
    return { title: err.title, detail: detail || undefined, code: err.code };
  }
  if (err instanceof Error) return { title: 'Something went wrong', detail: err.message };
  return { title: 'Something went wrong' };
}

/** One line for a toast. */
export function errorText(err: unknown): string {
  const d = describeError(err);
  return d.detail ? `${d.title}: ${d.detail}` : d.title;
}
