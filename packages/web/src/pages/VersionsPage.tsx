import type { Workflow, WorkflowVersionInfo } from '@orderflow/client';
import type { Definition } from '@orderflow/core';
import { useState } from 'react';
import { diffDefinitions } from '../builder/diff';
import { DiffList } from '../builder/diff-list';
import { ErrorBox, Loading, PageHeader, useToast } from '../components/common';
import { api, errorText } from '../lib/api';
import { formatTime } from '../lib/format';
import { Link, navigate, useLocation, withQuery } from '../lib/router';
import { useAbilities } from '../lib/session';
import { useResource } from '../lib/use-resource';
import { DefinitionCanvas } from '../versions/definition-canvas';

interface VersionsData {
  workflow: Workflow;
  versions: WorkflowVersionInfo[];
}

/** Every published version of a workflow: open one read-only, compare it with the draft, discard the draft, migrate orders. */
export function VersionsPage({ workflowKey }: { workflowKey: string }) {
  const { query } = useLocation();
  const abilities = useAbilities();
  const toast = useToast();
  const res = useResource<VersionsData>(async () => {
    const [workflow, versions] = await Promise.all([api.getWorkflow(workflowKey), api.listVersions(workflowKey)]);
    return { workflow, versions: versions.items };
  }, [workflowKey]);
  const open = Number(query.get('open')) || null;
  const compare = Number(query.get('compare')) || null;
  const base = `/workflows/${encodeURIComponent(workflowKey)}`;
  const here = `${base}/versions`;

  if (res.error !== undefined && !res.data) return <ErrorBox error={res.error} onRetry={res.reload} />;
  if (!res.data) return <Loading />;
  const { workflow, versions } = res.data;
  const latest = workflow.publishedVersion;

  const discard = async () => {
    if (!window.confirm('Discard the draft? Its unpublished changes are lost; the published version stays.')) return;
    try {
      await api.discardDraft(workflowKey);
      toast('Draft discarded', 'success');
      res.reload();
    } catch (err) {
      toast(errorText(err), 'error');
    }
  };

  return (
    <div className="page versions-page" data-testid="versions-page">
      <PageHeader
        title={`Versions · ${workflow.name}`}
        subtitle={
          <>
            Published versions never change; each order stays on its version until migrated. <Link to={base}>Open the builder</Link>
          </>
        }
      >
        <Link to={`${base}/migrate`} data-testid="versions-migrate">
          Migrate orders…
        </Link>
        {abilities.design && workflow.draft && latest !== null && (
          <button type="button" className="danger" onClick={discard} data-testid="discard-draft">
            Discard draft
          </button>
        )}
      </PageHeader>
      <table className="table stack" data-testid="versions-table">
        <thead>
          <tr>
            <th>Version</th>
            <th>Published</th>
            <th>By</th>
            <th>Orders in flight</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {workflow.draft && (
            <tr data-testid="version-row-draft">
              <td>
                <strong>Draft</strong> <span className="muted small">unpublished</span>
              </td>
              <td colSpan={3} className="muted">
                {latest === null ? 'Never published' : `Changes on top of version ${latest}`}
              </td>
              <td className="actions">
                <Link to={base}>Edit</Link>
              </td>
            </tr>
          )}
          {versions.map((v) => (
            <tr key={v.version} data-testid={`version-row-${v.version}`} className={open === v.version ? 'selected' : undefined}>
              <td>
                <strong>v{v.version}</strong> {v.version === latest && <span className="pill">current</span>}
              </td>
              <td data-label="Published">{formatTime(v.publishedAt)}</td>
              <td data-label="By">{v.publisherName ?? v.publishedBy ?? '—'}</td>
              <td data-label="Orders in flight">
                {v.orders?.inFlight ?? 0} <span className="muted small">of {v.orders?.total ?? 0}</span>
              </td>
              <td className="actions">
                <button
                  type="button"
                  onClick={() => navigate(withQuery(here, { open: String(v.version) }))}
                  data-testid={`open-version-${v.version}`}
                >
                  Open
                </button>
                <button
                  type="button"
                  onClick={() => navigate(withQuery(here, { open: String(v.version), compare: String(v.version) }))}
                  data-testid={`compare-version-${v.version}`}
                >
                  Compare with {workflow.draft ? 'draft' : 'current'}
                </button>
                {latest !== null && v.version < latest && (v.orders?.inFlight ?? 0) > 0 && (
                  <Link to={withQuery(`${base}/migrate`, { from: String(v.version) })} data-testid={`migrate-version-${v.version}`}>
                    Migrate its orders
                  </Link>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {open !== null && <VersionView workflow={workflow} version={open} compare={compare !== null} />}
    </div>
  );
}

function VersionView({ workflow, version, compare }: { workflow: Workflow; version: number; compare: boolean }) {
  const res = useResource(() => api.getWorkflow(workflow.key, { version }), [workflow.key, version]);
  const [view, setView] = useState<'canvas' | 'json'>('canvas');
  if (res.error !== undefined) return <ErrorBox error={res.error} onRetry={res.reload} />;
  const definition = res.data?.definition as Definition | null | undefined;
  if (!definition) return <Loading />;
  const other = workflow.draft ?? workflow.definition;
  const otherLabel = workflow.draft ? 'the draft' : `version ${workflow.publishedVersion}`;
  const lines = compare && other ? diffDefinitions(definition, other) : [];
  return (
    <section className="version-view" data-testid={`version-view-${version}`}>
      <header className="row">
        <h2>
          Version {version} <span className="muted small">read-only</span>
        </h2>
        <div className="tabs">
          <button type="button" className={view === 'canvas' ? 'active' : undefined} onClick={() => setView('canvas')}>
            Canvas
          </button>
          <button type="button" className={view === 'json' ? 'active' : undefined} onClick={() => setView('json')}>
            JSON
          </button>
        </div>
      </header>
      {compare && (
        <div className="card" data-testid="version-diff">
          <h3>
            What {otherLabel} changes compared with version {version}
          </h3>
          {lines.length === 0 ? <p className="muted">No difference.</p> : <DiffList lines={lines} />}
        </div>
      )}
      {view === 'canvas' ? (
        <div className="version-canvas-wrap">
          <DefinitionCanvas definition={definition} />
        </div>
      ) : (
        <pre className="code">{JSON.stringify(definition, null, 2)}</pre>
      )}
    </section>
  );
}
