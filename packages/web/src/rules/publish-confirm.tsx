import type { Impact } from '@orderflow/client';
import type { Definition } from '@orderflow/core';
import { useEffect, useMemo, useState } from 'react';
import { diffDefinitions } from '../builder/diff';
import { Dialog } from '../components/common';
import { ImpactView } from '../components/impact-view';
import { api, errorText } from '../lib/api';

/** Shows what publishing would change — the diff and the impact on orders in flight — and publishes only when confirmed. */
export function PublishConfirm({
  workflowKey,
  published,
  draft,
  onConfirm,
  onClose,
  busy,
}: {
  workflowKey: string;
  published: Definition | null;
  draft: Definition;
  onConfirm: () => void;
  onClose: () => void;
  busy: boolean;
}) {
  const lines = useMemo(() => diffDefinitions(published, draft), [published, draft]);
  const [impact, setImpact] = useState<Impact | null>(null);
  const [impactError, setImpactError] = useState<string | null>(null);
  useEffect(() => {
    if (!published) return;
    api.impact(workflowKey, draft).then(setImpact, (err: unknown) => setImpactError(errorText(err)));
  }, [workflowKey, draft, published]);
  return (
    <Dialog
      title="Publish these changes?"
      onClose={onClose}
      testId="rules-publish-dialog"
      wide
      footer={
        <>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button
            type="button"
            className="primary"
            onClick={onConfirm}
            disabled={busy || lines.length === 0}
            data-testid="rules-publish-confirm"
          >
            {busy ? 'Publishing…' : 'Publish'}
          </button>
        </>
      }
    >
      <h3>Changes</h3>
      {lines.length === 0 ? (
        <p className="muted">Nothing differs from the published version.</p>
      ) : (
        <ul className="diff" data-testid="rules-publish-diff">
          {lines.map((l) => (
            <li key={`${l.subject}-${l.change}-${l.text}`} className={`diff-${l.change}`}>
              <span className="diff-mark">{l.change === 'added' ? '+' : l.change === 'removed' ? '−' : '~'}</span> {l.text}
            </li>
          ))}
        </ul>
      )}
      <h3>Orders in flight</h3>
      {impactError && <p className="muted small">Impact not available: {impactError}</p>}
      {published && !impact && !impactError && <p className="muted">Computing impact…</p>}
      {impact && <ImpactView impact={impact} />}
    </Dialog>
  );
}
