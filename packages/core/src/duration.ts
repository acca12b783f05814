const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * The longest duration a workflow may declare: 100 years (5214w). Longer ones are typos, and
 * past about 270,000 years a due time is no longer a date at all.
 */
export const MAX_DURATION_MS = 100 * 365 * 86_400_000;

/** The latest due time ever computed: the last instant of year 9999, which still sorts as ISO text. */
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

const SHORT = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;
const ISO = /^P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/**
 * Parses a duration (`30s`, `15m`, `2h`, `1d`, `1w`, or ISO 8601 such as `PT2H`,
 * `P1DT12H`) into milliseconds. Returns `undefined` for anything else, including
 * a zero-length ISO duration with no parts (`P`, `PT`).
 */
export function parseDuration(text: string): number | undefined {
  if (typeof text !== 'string' || text.length > 64) return undefined;
  const s = text.trim();
  const short = SHORT.exec(s);
  if (short) {
    const ms = Number(short[1]) * (UNIT_MS[short[2] as string] as number);
    return Number.isFinite(ms) ? Math.round(ms) : undefined;
  }
  const iso = ISO.exec(s);
  if (iso && s !== 'P' && !s.endsWith('T')) {
    const [, w, d, h, m, sec] = iso;
    if ([w, d, h, m, sec].every((p) => p === undefined)) return undefined;
    const ms =
      Number(w ?? 0) * UNIT_MS.w! +
      Number(d ?? 0) * UNIT_MS.d! +
      Number(h ?? 0) * UNIT_MS.h! +
      Number(m ?? 0) * UNIT_MS.m! +
      Number(sec ?? 0) * UNIT_MS.s!;
    return Number.isFinite(ms) ? Math.round(ms) : undefined;
  }
  return undefined;
}

/** True when `text` is a duration `parseDuration` accepts, of at most {@link MAX_DURATION_MS}. */
export function isDuration(text: string): boolean {
  const ms = parseDuration(text);
  return ms !== undefined && ms <= MAX_DURATION_MS;
}

/**
 * Adds a duration in milliseconds to an ISO timestamp; returns ISO 8601 UTC. A result past the
 * year 9999 (a duration stored before {@link MAX_DURATION_MS} was enforced) is that year's last
 * instant: a timer that never comes due, rather than a time that cannot be written (or one with a
 * six-digit year, which would sort before every four-digit one).
 */
export function addMs(iso: string, ms: number): string {
  const t = Date.parse(iso) + ms;
  return new Date(Math.min(t, LATEST)).toISOString();
}

/** A span in milliseconds as short text, largest units first: `1h 30m`, `2d`, `45s`, `250ms`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return `${ms}ms`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1000) * 1000;
  for (const unit of ['w', 'd', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit] as number;
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.join(' ');
}
