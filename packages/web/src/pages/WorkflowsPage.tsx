import type { Definition } from '@orderflow/core';
import { GROUP_LABELS, GROUPS } from '@orderflow/core';
import { type FormEvent, useState } from 'react';
import { Dialog, Empty, GroupBadge, Loaded, PageHeader, useToast } from '../components/common';
import { useWorkflows } from '../components/workflow-picker';
import { api, errorText } from '../lib/api';
import { Link, navigate, withQuery } from '../lib/router';
import { useAbilities } from '../lib/session';

/** A minimal valid start: one state in each required group. */
function starterDefinition(key: string, name: string): Definition {
  return {
    key,
    name,
    states: [
      { key: 'created', name: 'Created', group: 'new', initial: true, color: '#64748b' },
      { key: 'in_progress', name: 'In progress', group: 'processing', color: '#3b82f6' },
      {
        key: 'cancelled',
        name: 'Cancelled',
        group: 'cancelled',
        color: '#9ca3af',
        cancellation: { initiator: 'customer', code: 'customer_request' },
      },
      { key: 'done', name: 'Done', group: 'completed', color: '#16a34a' },
    ],
    transitions: [
      { from: 'created', to: 'in_progress' },
      { from: 'in_progress', to: 'done' },
      { from: 'group:new', to: 'cancelled' },
      { from: 'in_progress', to: 'cancelled' },
    ],
    rules: [],
  };
}

export function WorkflowsPage() {
  const workflows = useWorkflows();
  const can = useAbilities();
  const toast = useToast();
  const [creating, setCreating] = useState(false);
  const [key, setKey] = useState('');
  const [name, setName] = useState('');
  const create = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api.createWorkflow(starterDefinition(key, name));
      toast(`Workflow ${name} created`, 'success');
      navigate(`/workflows/${encodeURIComponent(key)}`);
    } catch (err) {
      toast(errorText(err), 'error');
    }
  };
  return (
    <div className="page">
      <PageHeader title="Workflows" subtitle="Each workflow is edited as a draft and published as a numbered version.">
        {can.design && (
          <button type="button" className="primary" onClick={() => setCreating(true)} data-testid="new-workflow">
            New workflow
          </button>
        )}
      </PageHeader>
      <Loaded resource={workflows}>
        {(items) =>
          items.length === 0 ? (
            <Empty>No workflows yet.{can.design ? ' Create one to start designing.' : ''}</Empty>
          ) : (
            <table className="table stack" data-testid="workflow-table">
              <thead>
                <tr>
                  <th>Workflow</th>
                  <th>Version</th>
                  <th>Draft</th>
                  {GROUPS.map((g) => (
                    <th key={g} className="num">
                      <GroupBadge group={g} />
                    </th>
                  ))}
                  <th />
                </tr>
              </thead>
              <tbody>
                {items.map((w) => (
                  <tr key={w.key} data-testid={`workflow-row-${w.key}`}>
                    <td>
                      <Link to={`/workflows/${encodeURIComponent(w.key)}`}>{w.name}</Link>
                      <div className="muted small mono">{w.key}</div>
                    </td>
                    <td data-label="Version">
                      {w.publishedVersion ? `v${w.publishedVersion}` : <span className="muted">unpublished</span>}
                    </td>
                    <td data-label="Draft">
                      {w.hasDraft ? <span className="pill warn">unpublished changes</span> : <span className="muted">—</span>}
                    </td>
                    {GROUPS.map((g) => (
                      <td key={g} className="num" data-label={GROUP_LABELS[g]}>
                        {w.counts?.[g] ?? 0}
                      </td>
                    ))}
                    <td className="row-actions">
                      <Link to={`/workflows/${encodeURIComponent(w.key)}`}>{can.design ? 'Design' : 'View'}</Link>
                      <Link to={`/workflows/${encodeURIComponent(w.key)}/rules`}>Rules</Link>
                      <Link to={withQuery('/board', { workflow: w.key })}>Board</Link>
                      <Link to={`/workflows/${encodeURIComponent(w.key)}/versions`}>Versions</Link>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Loaded>
      {creating && (
        <Dialog title="New workflow" onClose={() => setCreating(false)} testId="new-workflow-dialog">
          <form onSubmit={create} className="form">
            <label>
              Name
              <input
                value={name}
                onChange={(e) => {
                  setName(e.target.value);
                  setKey(
                    e.target.value
                      .toLowerCase()
                      .replace(/[^a-z0-9]+/g, '-')
                      .replace(/^[^a-z]+|-+$/g, '')
                      .slice(0, 64),
                  );
                }}
                required
                data-testid="new-workflow-name"
              />
            </label>
            <label>
              Key
              <input value={key} onChange={(e) => setKey(e.target.value)} pattern="[a-z][a-z0-9_\-]{0,63}" required className="mono" />
            </label>
            <p className="muted small">It starts with one state per group; change everything in the builder.</p>
            <button type="submit" className="primary" data-testid="new-workflow-create">
              Create draft
            </button>
          </form>
        </Dialog>
      )}
    </div>
  );
}
