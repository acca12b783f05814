import type { Impact } from '@orderflow/client';
import type { Definition } from '@orderflow/core';
import { useEffect, useMemo, useState } from 'react';
import { Dialog } from '../components/common';
import { ImpactView } from '../components/impact-view';
import { api, errorText } from '../lib/api';
import { diffDefinitions } from './diff';
import { DiffList } from './diff-list';
import type { Problem } from './flow-mapping';

export function PublishDialog({
  workflowKey,
  published,
  publishedVersion,
  draft,
  problems,
  onClose,
  onPublish,
}: {
  workflowKey: string;
  published: Definition | null;
  publishedVersion: number | null;
  draft: Definition;
  problems: Problem[];
  onClose: () => void;
  onPublish: () => Promise<void>;
}) {
  const lines = useMemo(() => diffDefinitions(published, draft), [published, draft]);
  const errors = problems.filter((p) => p.severity === 'error');
  const [impact, setImpact] = useState<Impact | null>(null);
  const [impactError, setImpactError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (!published) return;
    api.impact(workflowKey, draft).then(setImpact, (err: unknown) => setImpactError(errorText(err)));
  }, [workflowKey, draft, published]);
  return (
    <Dialog
      title={`Publish ${draft.name} as version ${(publishedVersion ?? 0) + 1}`}
      onClose={onClose}
      testId="publish-dialog"
      wide
      footer={
        <>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button
            type="button"
            className="primary"
            disabled={busy || errors.length > 0}
            data-testid="publish-confirm"
            onClick={async () => {
              setBusy(true);
              try {
                await onPublish();
              } finally {
                setBusy(false);
              }
            }}
          >
            {busy ? 'Publishing…' : 'Publish'}
          </button>
        </>
      }
    >
      {errors.length > 0 && (
        <div className="error-box" role="alert">
          <strong>Fix {errors.length} error(s) before publishing.</strong>
          <ul>
            {errors.map((p) => (
              <li key={`${p.path}-${p.code}-${p.message}`}>
                {p.message} <span className="mono small muted">{p.path}</span>
              </li>
            ))}
          </ul>
        </div>
      )}
      <h3>Changes against {publishedVersion ? `version ${publishedVersion}` : 'nothing published yet'}</h3>
      {lines.length === 0 ? (
        <p className="muted">No changes in meaning (only layout, if anything).</p>
      ) : (
        <DiffList lines={lines} testId="publish-diff" />
      )}
      {published && (
        <>
          <h3>Orders in flight</h3>
          {impactError && <p className="muted small">Impact not available: {impactError}</p>}
          {!impact && !impactError && <p className="muted">Computing impact…</p>}
          {impact && (
            <div data-testid="publish-impact">
              <ImpactView impact={impact} />
            </div>
          )}
          <p className="muted small">Publishing never changes running orders: they stay on their version until migrated.</p>
        </>
      )}
    </Dialog>
  );
}
