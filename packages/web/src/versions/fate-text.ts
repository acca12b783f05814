import type { TimerFate } from '@orderflow/client';
import { formatTime } from '../lib/format';

/** One timer's fate as a sentence. */
export function fateText(f: TimerFate): string {
  const what = f.kind === 'action' ? `delayed action of ${f.ruleId}` : f.kind === 'timeout' ? 'timeout' : `${f.ruleId} (time in state)`;
  switch (f.fate) {
    case 'kept':
      return `${what}: kept, due ${formatTime(f.dueAt)}`;
    case 'retimed':
      return `${what}: re-timed ${formatTime(f.dueAt)} → ${formatTime(f.newDueAt)}`;
    case 'scheduled':
      return `${what}: scheduled for ${formatTime(f.dueAt)} (${f.why ?? 'new'})`;
    default:
      return `${what}: cancelled — ${f.why ?? ''}`;
  }
}
