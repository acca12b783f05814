import type { Endpoint } from '@orderflow/client';
import { useState } from 'react';
import { Dialog, Empty, Loaded, PageHeader, useToast } from '../components/common';
import { api, errorText } from '../lib/api';
import { useAbilities } from '../lib/session';
import { useResource } from '../lib/use-resource';

interface Form {
  key: string;
  url: string;
  secret: string;
  headers: string;
  enabled: boolean;
}

export function EndpointsPage() {
  const list = useResource(() => api.listEndpoints(), []);
  const can = useAbilities();
  const toast = useToast();
  const [editing, setEditing] = useState<{ form: Form; isNew: boolean } | null>(null);
  // What the server said about each "Send test", shown in the endpoint's row.
  const [tests, setTests] = useState<Record<string, { ok: boolean; text: string } | 'sending'>>({});
  const sendTest = async (key: string) => {
    setTests((t) => ({ ...t, [key]: 'sending' }));
    let result: { ok: boolean; text: string };
    try {
      const r = (await api.testEndpoint(key)) as {
        ok?: boolean;
        status?: number | null;
        durationMs?: number;
        error?: string | null;
        responseBody?: string | null;
      };
      const status = r.status ? `HTTP ${r.status}` : 'no HTTP answer';
      result = r.ok
        ? { ok: true, text: `Test delivered: ${status} in ${r.durationMs ?? 0} ms.` }
        : { ok: false, text: `Test failed: ${r.error || status}${r.responseBody ? ` — ${r.responseBody.slice(0, 200)}` : ''}` };
    } catch (err) {
      result = { ok: false, text: `Test failed: ${errorText(err)}` };
    }
    setTests((t) => ({ ...t, [key]: result }));
  };

  const open = (e?: Endpoint) =>
    setEditing({
      isNew: !e,
      form: {
        key: e?.key ?? '',
        url: e?.url ?? 'https://',
        secret: '',
        headers: Object.entries(e?.headers ?? {})
          .map(([k, v]) => `${k}: ${v}`)
          .join('\n'),
        enabled: e?.enabled ?? true,
      },
    });

  const save = async () => {
    if (!editing) return;
    const { form, isNew } = editing;
    const headers: Record<string, string> = {};
    for (const line of form.headers.split('\n')) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
    const body = { url: form.url, headers, enabled: form.enabled, ...(form.secret ? { secret: form.secret } : {}) };
    try {
      if (isNew) await api.createEndpoint({ key: form.key, ...body });
      else await api.saveEndpoint(form.key, body);
      toast(`Endpoint ${form.key} saved`, 'success');
      setEditing(null);
      list.reload();
    } catch (err) {
      toast(errorText(err), 'error');
    }
  };

  return (
    <div className="page">
      <PageHeader
        title="Endpoints"
        subtitle="Named webhook destinations; rules refer to them by key. Requests are signed (Standard Webhooks)."
      >
        {can.design && (
          <button type="button" className="primary" onClick={() => open()} data-testid="new-endpoint">
            New endpoint
          </button>
        )}
      </PageHeader>
      <Loaded resource={list}>
        {(r) =>
          r.items.length === 0 ? (
            <Empty>No endpoints. Webhook actions can also use a plain URL.</Empty>
          ) : (
            <table className="table stack" data-testid="endpoints-table">
              <thead>
                <tr>
                  <th>Key</th>
                  <th>URL</th>
                  <th>Status</th>
                  <th className="num">Failures in a row</th>
                  <th>Secret</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {r.items.map((e) => (
                  <tr key={e.key} data-testid={`endpoint-${e.key}`} className={!e.enabled && e.disabledReason ? 'error' : ''}>
                    <td className="mono">{e.key}</td>
                    <td className="mono small" data-label="URL">
                      {e.url}
                    </td>
                    <td data-label="Status">
                      {e.enabled ? (
                        <span className="status status-delivered">enabled</span>
                      ) : (
                        <span className="status status-dead" title={e.disabledReason ?? undefined}>
                          disabled
                        </span>
                      )}
                      {e.disabledReason && <div className="small error-text">{e.disabledReason}</div>}
                      <TestResult result={tests[e.key]} />
                    </td>
                    <td className="num" data-label="Failures in a row">
                      {e.consecutiveFailures ?? 0}
                    </td>
                    <td data-label="Secret">{e.secretSet ? 'own secret' : <span className="muted">global</span>}</td>
                    <td className="row-actions">
                      {can.design && (
                        <>
                          <button type="button" className="small" disabled={tests[e.key] === 'sending'} onClick={() => sendTest(e.key)}>
                            {tests[e.key] === 'sending' ? 'Sending…' : 'Send test'}
                          </button>
                          <button type="button" className="small" onClick={() => open(e)}>
                            Edit
                          </button>
                          <button
                            type="button"
                            className="small danger"
                            onClick={async () => {
                              if (!window.confirm(`Delete endpoint ${e.key}?`)) return;
                              try {
                                await api.deleteEndpoint(e.key);
                                list.reload();
                              } catch (err) {
                                toast(errorText(err), 'error');
                              }
                            }}
                          >
                            Delete
                          </button>
                        </>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Loaded>
      {editing && (
        <Dialog
          title={editing.isNew ? 'New endpoint' : `Endpoint ${editing.form.key}`}
          onClose={() => setEditing(null)}
          testId="endpoint-dialog"
          footer={
            <>
              <button type="button" onClick={() => setEditing(null)}>
                Cancel
              </button>
              <button type="button" className="primary" onClick={save} data-testid="endpoint-save">
                Save
              </button>
            </>
          }
        >
          <div className="form">
            {editing.isNew && (
              <label>
                Key
                <input
                  className="mono"
                  value={editing.form.key}
                  onChange={(e) => setEditing({ ...editing, form: { ...editing.form, key: e.target.value } })}
                  data-testid="endpoint-key"
                />
              </label>
            )}
            <label>
              URL
              <input
                value={editing.form.url}
                onChange={(e) => setEditing({ ...editing, form: { ...editing.form, url: e.target.value } })}
                data-testid="endpoint-url"
              />
            </label>
            <label>
              Secret (whsec_…; leave empty to keep the current one or use the global secret)
              <input
                type="password"
                autoComplete="off"
                value={editing.form.secret}
                onChange={(e) => setEditing({ ...editing, form: { ...editing.form, secret: e.target.value } })}
              />
            </label>
            <label>
              Headers (one per line, Name: value)
              <textarea
                className="mono"
                rows={3}
                value={editing.form.headers}
                onChange={(e) => setEditing({ ...editing, form: { ...editing.form, headers: e.target.value } })}
              />
            </label>
            <label className="check">
              <input
                type="checkbox"
                checked={editing.form.enabled}
                onChange={(e) => setEditing({ ...editing, form: { ...editing.form, enabled: e.target.checked } })}
              />
              Enabled
            </label>
          </div>
        </Dialog>
      )}
    </div>
  );
}

function TestResult({ result }: { result: { ok: boolean; text: string } | 'sending' | undefined }) {
  if (!result || result === 'sending') return null;
  return result.ok ? (
    <div className="small ok-text" role="status" data-testid="endpoint-test-result">
      {result.text}
    </div>
  ) : (
    <div className="small error-text" role="alert" data-testid="endpoint-test-result">
      {result.text}
    </div>
  );
}
