import type { DiffLine } from './diff';

/** The lines of a definition diff, marked added (+), removed (−) or changed (~). */
export function DiffList({ lines, testId }: { lines: readonly DiffLine[]; testId?: string }) {
  return (
    <ul className="diff" data-testid={testId}>
      {lines.map((l) => (
        <li key={`${l.subject}-${l.change}-${l.text}`} className={`diff-${l.change}`}>
          <span className="diff-mark">{l.change === 'added' ? '+' : l.change === 'removed' ? '−' : '~'}</span> {l.text}
        </li>
      ))}
    </ul>
  );
}
