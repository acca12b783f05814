import type { RenderedTemplate, Template } from '@orderflow/client';
import type { Order } from '@orderflow/core';
import { useEffect, useState } from 'react';
import { Empty, ErrorBox, Loaded, PageHeader, useToast } from '../components/common';
import { EmailFrame } from '../components/email-frame';
import { api, errorText } from '../lib/api';
import { navigate, useLeaveGuard, useLocation, withQuery } from '../lib/router';
import { useAbilities } from '../lib/session';
import { useResource } from '../lib/use-resource';

const SAMPLE_ORDER = {
  id: 'ord_SAMPLE',
  state: 'delayed',
  data: { customer: { name: 'Ada Lovelace', email: 'ada@example.com' }, total: 42, currency: 'EUR', deliveryEstimate: 'Friday' },
};

export function TemplatesPage() {
  const { query } = useLocation();
  const list = useResource(() => api.listTemplates(), []);
  const can = useAbilities();
  const selected = query.get('key') ?? '';
  // Creating is a place of its own (`?new=1`), so leaving a half-written template asks first like any other move.
  const creating = query.get('new') === '1';
  return (
    <div className="page">
      <PageHeader
        title="Templates"
        subtitle="Email templates, rendered with Liquid: {{ order.data.customer.name }}, {{ new_state.publicName }} …"
      >
        {can.design && (
          <button
            type="button"
            className="primary"
            onClick={() => navigate(withQuery('/templates', { new: '1' }))}
            data-testid="new-template"
          >
            New template
          </button>
        )}
      </PageHeader>
      <Loaded resource={list}>
        {(r) => {
          const key = creating ? '' : selected || r.items[0]?.key || '';
          const current = r.items.find((t) => t.key === key);
          return (
            <div className="split">
              <ul className="side-list" data-testid="template-list">
                {r.items.length === 0 && <li className="muted">No templates.</li>}
                {r.items.map((t) => (
                  <li key={t.key}>
                    <button
                      type="button"
                      className={t.key === key ? 'active' : ''}
                      onClick={() => navigate(withQuery('/templates', { key: t.key }))}
                      data-testid={`template-${t.key}`}
                    >
                      <strong className="mono">{t.key}</strong>
                      <span className="muted small block">{t.description || t.subject}</span>
                    </button>
                  </li>
                ))}
              </ul>
              {creating || current ? (
                <TemplateEditor
                  key={creating ? '(new)' : key}
                  template={current ?? { key: '', subject: '', html: '<p>Hello {{ order.data.customer.name }},</p>', text: '' }}
                  isNew={creating}
                  editable={can.design}
                  onSaved={(k) => {
                    list.reload();
                    navigate(withQuery('/templates', { key: k }), { force: true });
                  }}
                  onDeleted={() => {
                    list.reload();
                    navigate('/templates', { force: true });
                  }}
                />
              ) : (
                <Empty>Select a template.</Empty>
              )}
            </div>
          );
        }}
      </Loaded>
    </div>
  );
}

function TemplateEditor({
  template,
  isNew,
  editable,
  onSaved,
  onDeleted,
}: {
  template: Template;
  isNew: boolean;
  editable: boolean;
  onSaved: (key: string) => void;
  onDeleted: () => void;
}) {
  const toast = useToast();
  const [draft, setDraft] = useState<Template>(template);
  const [orders, setOrders] = useState<Order[]>([]);
  const [orderId, setOrderId] = useState('');
  const [preview, setPreview] = useState<RenderedTemplate | null>(null);
  const [previewError, setPreviewError] = useState<unknown>(undefined);
  const [previewNote, setPreviewNote] = useState<string | null>(null);
  const dirty = JSON.stringify(draft) !== JSON.stringify(template);
  useLeaveGuard(editable && dirty);

  useEffect(() => {
    api.listOrders({ limit: 30 }).then(
      (r) => setOrders(r.items),
      () => setOrders([]),
    );
  }, []);

  // Live preview, debounced; the draft's own text when the server renders posted templates, the stored one otherwise.
  useEffect(() => {
    if (isNew && !draft.key) return;
    const key = isNew ? draft.key : template.key;
    const t = setTimeout(async () => {
      const source = orderId ? { orderId } : { sample: { order: SAMPLE_ORDER } };
      try {
        setPreview(
          await api.previewTemplate(key, { ...source, template: { subject: draft.subject, html: draft.html, text: draft.text ?? '' } }),
        );
        setPreviewError(undefined);
        setPreviewNote(null);
      } catch (err) {
        // The draft's own error (a Liquid syntax error, say) is what the author needs to see.
        setPreviewError(err);
        if (isNew) {
          setPreview(null);
          return;
        }
        try {
          setPreview(await api.previewTemplate(key, source));
          setPreviewNote(dirty ? 'Below: the saved version, until the draft renders.' : null);
        } catch {
          setPreview(null);
        }
      }
    }, 400);
    return () => clearTimeout(t);
  }, [draft, orderId, isNew, template.key, dirty]);

  const save = async () => {
    try {
      const key = isNew ? draft.key : template.key;
      await api.saveTemplate(key, {
        subject: draft.subject,
        html: draft.html,
        text: draft.text || null,
        description: draft.description || null,
      });
      toast(`Template ${key} saved`, 'success');
      onSaved(key);
    } catch (err) {
      toast(errorText(err), 'error');
    }
  };

  return (
    <div className="template-editor" data-testid="template-editor">
      <div className="form">
        {isNew && (
          <label>
            Key
            <input
              className="mono"
              value={draft.key}
              onChange={(e) => setDraft({ ...draft, key: e.target.value })}
              data-testid="template-key"
            />
          </label>
        )}
        <label>
          Description
          <input
            value={draft.description ?? ''}
            disabled={!editable}
            onChange={(e) => setDraft({ ...draft, description: e.target.value })}
          />
        </label>
        <label>
          Subject
          <input
            value={draft.subject}
            disabled={!editable}
            onChange={(e) => setDraft({ ...draft, subject: e.target.value })}
            data-testid="template-subject"
          />
        </label>
        <label>
          HTML
          <textarea
            className="mono"
            rows={14}
            value={draft.html}
            disabled={!editable}
            spellCheck={false}
            onChange={(e) => setDraft({ ...draft, html: e.target.value })}
            data-testid="template-html"
          />
        </label>
        <label>
          Plain text (optional)
          <textarea
            className="mono"
            rows={5}
            value={draft.text ?? ''}
            disabled={!editable}
            onChange={(e) => setDraft({ ...draft, text: e.target.value })}
          />
        </label>
        {editable && (
          <div className="row">
            <button type="button" className="primary" onClick={save} disabled={!dirty && !isNew} data-testid="template-save">
              Save
            </button>
            {!isNew && (
              <button
                type="button"
                className="danger"
                onClick={async () => {
                  if (!window.confirm(`Delete template ${template.key}? Rules that use it will fail validation.`)) return;
                  try {
                    await api.deleteTemplate(template.key);
                    onDeleted();
                  } catch (err) {
                    toast(errorText(err), 'error');
                  }
                }}
              >
                Delete
              </button>
            )}
          </div>
        )}
      </div>
      <div className="template-preview" data-testid="template-preview">
        <div className="row">
          <h3>Preview</h3>
          <select
            value={orderId}
            onChange={(e) => setOrderId(e.target.value)}
            aria-label="Preview with"
            data-testid="template-preview-order"
          >
            <option value="">sample data</option>
            {orders.map((o) => (
              <option key={o.id} value={o.id}>
                {o.id} · {o.workflow} · {o.state}
              </option>
            ))}
          </select>
        </div>
        {previewError !== undefined && <ErrorBox error={previewError} />}
        {previewNote && <p className="muted small">{previewNote}</p>}
        {preview && (
          <>
            <p data-testid="template-preview-subject">
              <strong>{preview.subject}</strong>
            </p>
            <EmailFrame html={preview.html} title="Template preview" height={360} testId="template-preview-frame" />
            {preview.text && <pre className="mail-text">{preview.text}</pre>}
          </>
        )}
      </div>
    </div>
  );
}
