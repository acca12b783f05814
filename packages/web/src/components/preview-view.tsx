import type { RenderedEmail, RenderedWebhook, TransitionPreview } from '@orderflow/client';
import { pretty } from '../lib/format';
import { EmailFrame } from './email-frame';

const isEmail = (r: unknown): r is RenderedEmail => !!r && typeof r === 'object' && 'subject' in r;
const isWebhook = (r: unknown): r is RenderedWebhook => !!r && typeof r === 'object' && 'url' in r;

/** What a transition would cause, as the preview endpoint reports it. */
export function PreviewView({ preview }: { preview: TransitionPreview }) {
  return (
    <div className="preview" data-testid="preview-result">
      <h4>Transitions</h4>
      {preview.applied.length === 0 ? (
        <p className="muted">None.</p>
      ) : (
        <ol>
          {preview.applied.map((a, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: a cascade may pass the same edge twice; the step number is its identity
            <li key={`${a.from}-${a.to}-${i}`}>
              <span className="mono">{a.from ?? '(new)'}</span> → <span className="mono">{a.to}</span>
              <span className="muted small">
                {' '}
                by {a.actor.type}
                {a.ruleId ? ` (rule ${a.ruleId})` : ''}
              </span>
            </li>
          ))}
        </ol>
      )}
      <h4>Deliveries</h4>
      {preview.deliveries.length === 0 ? (
        <p className="muted">No email, webhook or notification.</p>
      ) : (
        preview.deliveries.map((d) => (
          <div className="card preview-delivery" key={d.id}>
            <div>
              <span className="pill">{d.type}</span> <span className="mono small muted">{d.id}</span>
            </div>
            {isEmail(d.rendered) && (
              <>
                <p>
                  To <strong>{d.rendered.to}</strong>: “{d.rendered.subject}”
                </p>
                <EmailFrame html={d.rendered.html} title={`Preview of ${d.rendered.subject}`} height={220} />
              </>
            )}
            {isWebhook(d.rendered) && (
              <>
                <p className="mono small">POST {d.rendered.url}</p>
                <pre className="code">{d.rendered.body}</pre>
              </>
            )}
            {!d.rendered && <pre className="code">{pretty(d.action)}</pre>}
          </div>
        ))
      )}
      {preview.timers.length > 0 && (
        <>
          <h4>Timers</h4>
          <pre className="code">{pretty(preview.timers)}</pre>
        </>
      )}
      <p className="muted small">Nothing was stored: this is a preview.</p>
    </div>
  );
}
