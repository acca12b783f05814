import type { Impact } from '@orderflow/client';

const FATE_TEXT: Record<string, string> = {
  retimed: 're-timed',
  cancelled: 'cancelled',
  scheduled: 'newly scheduled',
  kept: 'kept',
};

/** What publishing a draft would change for orders in flight, per version they run on. */
export function ImpactView({ impact }: { impact: Impact }) {
  const versions = impact.versions ?? [];
  return (
    <div className="impact" data-testid="impact-view">
      {versions.length === 0 && <p className="muted">No order is in flight: publishing changes nothing that runs.</p>}
      {versions.map((v) => (
        <section key={v.version} className="impact-version" data-testid={`impact-v${v.version}`}>
          <h4>
            Orders on version {v.version} <span className="muted small">({v.inFlight} in flight)</span>
          </h4>
          {v.states.length === 0 && v.timers.length === 0 && v.rules.length === 0 && (
            <p className="muted small">Nothing changes for them.</p>
          )}
          <ul>
            {v.states.map((s) => (
              <li key={`s-${s.state}`}>
                <strong>{s.count}</strong> order(s) in <span className="mono">{s.state}</span>, which the draft{' '}
                {s.change === 'removed' ? <strong className="error-text">removes</strong> : <>changes ({s.fields.join(', ')})</>}
              </li>
            ))}
            {v.timers.map((t) => (
              <li key={`t-${t.policy}-${t.kind}-${t.fate}`}>
                <strong>{t.count}</strong> pending {t.kind.replace(/_/g, ' ')} timer(s) would be {FATE_TEXT[t.fate] ?? t.fate} if migrated
                with “{t.policy}”
              </li>
            ))}
            {v.rules.map((r) => (
              <li key={`r-${r.ruleId}`}>
                Rule <span className="mono">{r.name ?? r.ruleId}</span> {r.change}
                {r.fields.length > 0 ? ` (${r.fields.join(', ')})` : ''}: can act on <strong>{r.orders}</strong> in-flight order(s)
              </li>
            ))}
          </ul>
          {v.orderIds.length > 0 && (
            <details>
              <summary className="small">Affected orders ({v.affected})</summary>
              <p className="mono small">{v.orderIds.join(', ')}</p>
            </details>
          )}
        </section>
      ))}
      <p className="muted small">Publishing never changes running orders; they stay on their version until migrated.</p>
    </div>
  );
}
