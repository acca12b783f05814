/** `2024-05-01 14:03` in the viewer's time zone; `—` for nothing. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** `3 min ago`, `in 2 h`. */
export function relativeTime(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const diff = t - now;
  const abs = Math.abs(diff);
  const units: [number, string][] = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'min'],
    [1000, 's'],
  ];
  for (const [ms, label] of units) {
    if (abs >= ms) {
      const n = Math.round(abs / ms);
      return diff < 0 ? `${n} ${label} ago` : `in ${n} ${label}`;
    }
  }
  return 'just now';
}

/** A duration in milliseconds for people: `2 d 4 h`, `35 min`, `12 s`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** A money amount if the data looks like one. */
export function formatMoney(amount: unknown, currency: unknown): string {
  if (typeof amount !== 'number') return '';
  const cur = typeof currency === 'string' && /^[A-Z]{3}$/.test(currency) ? currency : undefined;
  try {
    return cur ? new Intl.NumberFormat(undefined, { style: 'currency', currency: cur }).format(amount) : String(amount);
  } catch {
    return String(amount);
  }
}

/** Pretty JSON for display (always as text, never as markup). */
export const pretty = (v: unknown): string => JSON.stringify(v, null, 2) ?? 'undefined';
