import type { Action, Definition, Reason } from '@orderflow/core';
import { workflowCriteria, workflowReasons } from '@orderflow/core';
import { JsonField } from '../components/common';

export const ACTION_TYPES: { type: Action['type']; label: string }[] = [
  { type: 'send_email', label: 'Send email' },
  { type: 'webhook', label: 'Call webhook' },
  { type: 'notify', label: 'Notify staff' },
  { type: 'transition', label: 'Move the order' },
  { type: 'set_data', label: 'Set order data' },
  { type: 'record_fact', label: 'Record a fact' },
  { type: 'create_order', label: 'Create a linked order' },
];

/** A fresh action of a type, with the fields it requires. */
export function newAction(type: Action['type'], definition: Definition, _templates: string[]): Action {
  switch (type) {
    case 'send_email':
      // No template is picked for the author: the first one alphabetically is rarely the right one.
      return { type, template: '', to: 'customer' };
    case 'webhook':
      return { type, url: 'https://example.com/hook' };
    case 'notify':
      return { type, channel: 'admins', message: 'Order {{ order.id }} needs attention', severity: 'info' };
    case 'transition':
      return { type, to: definition.states.find((s) => s.group === 'processing')?.key ?? definition.states[0]?.key ?? '' };
    case 'set_data':
      return { type, set: {} };
    case 'record_fact':
      return { type, fact: workflowCriteria(definition)[0] ?? 'delivered' };
    case 'create_order':
      return { type, workflow: definition.key, link: 'follow_up' };
  }
}

/** Sets or removes (for `undefined` or '') a field. */
function withField<T extends object>(a: T, field: string, value: unknown): T {
  const next = { ...a } as Record<string, unknown>;
  if (value === undefined || value === '') delete next[field];
  else next[field] = value;
  return next as T;
}

export function ActionEditor({
  action,
  index,
  onChange,
  definition,
  templates,
  endpoints,
  workflows,
  disabled,
}: {
  action: Action;
  index: number;
  onChange: (a: Action) => void;
  definition: Definition;
  templates: string[];
  endpoints: string[];
  workflows: string[];
  disabled: boolean;
}) {
  const id = `action-${index}`;
  const set = (field: string, value: unknown) => onChange(withField(action, field, value));
  const stateOptions = definition.states.map((s) => (
    <option key={s.key} value={s.key}>
      {s.name} ({s.key})
    </option>
  ));
  return (
    <div className="action-fields">
      {action.type === 'send_email' && (
        <>
          <label>
            Template
            <select
              value={action.template}
              disabled={disabled}
              onChange={(e) => set('template', e.target.value)}
              data-testid={`${id}-template`}
            >
              {action.template === '' && (
                <option value="" disabled>
                  Choose a template…
                </option>
              )}
              {action.template !== '' && !templates.includes(action.template) && (
                <option value={action.template}>{action.template} (unknown)</option>
              )}
              {templates.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          </label>
          <label>
            To
            <input
              list="email-recipients"
              value={action.to}
              disabled={disabled}
              onChange={(e) => set('to', e.target.value)}
              placeholder="customer, admin, an address or {{ order.data.email }}"
              data-testid={`${id}-to`}
            />
          </label>
          <label>
            Cc
            <input value={action.cc ?? ''} disabled={disabled} onChange={(e) => set('cc', e.target.value)} />
          </label>
        </>
      )}
      {action.type === 'webhook' && (
        <>
          <label>
            Endpoint
            <select
              value={action.endpoint ?? ''}
              disabled={disabled}
              data-testid={`${id}-endpoint`}
              onChange={(e) => {
                const next = withField(action, 'endpoint', e.target.value);
                onChange(e.target.value ? withField(next, 'url', undefined) : next);
              }}
            >
              <option value="">— a URL instead —</option>
              {endpoints.map((k) => (
                <option key={k} value={k}>
                  {k}
                </option>
              ))}
            </select>
          </label>
          {!action.endpoint && (
            <label>
              URL
              <input value={action.url ?? ''} disabled={disabled} onChange={(e) => set('url', e.target.value)} data-testid={`${id}-url`} />
            </label>
          )}
          <label>
            Method
            <select
              value={action.method ?? 'POST'}
              disabled={disabled}
              onChange={(e) => set('method', e.target.value === 'POST' ? undefined : e.target.value)}
            >
              <option>POST</option>
              <option>PUT</option>
              <option>PATCH</option>
            </select>
          </label>
          <label>
            Body (Liquid JSON template; empty = the event envelope)
            <textarea
              className="mono"
              rows={3}
              value={action.body === undefined ? '' : typeof action.body === 'string' ? action.body : JSON.stringify(action.body, null, 2)}
              disabled={disabled}
              onChange={(e) => set('body', e.target.value)}
            />
          </label>
        </>
      )}
      {action.type === 'notify' && (
        <>
          <label>
            Channel
            <input value={action.channel} disabled={disabled} onChange={(e) => set('channel', e.target.value)} />
          </label>
          <label>
            Message (Liquid)
            <input
              value={action.message}
              disabled={disabled}
              onChange={(e) => set('message', e.target.value)}
              data-testid={`${id}-message`}
            />
          </label>
          <label>
            Severity
            <select value={action.severity ?? 'info'} disabled={disabled} onChange={(e) => set('severity', e.target.value)}>
              <option>info</option>
              <option>warning</option>
              <option>critical</option>
            </select>
          </label>
        </>
      )}
      {action.type === 'transition' && (
        <>
          <label>
            To state
            <select value={action.to} disabled={disabled} onChange={(e) => set('to', e.target.value)} data-testid={`${id}-state`}>
              {!definition.states.some((s) => s.key === action.to) && <option value={action.to}>{action.to || '—'} (unknown)</option>}
              {stateOptions}
            </select>
          </label>
          <label>
            Reason (for cancelled states)
            <span className="row">
              <select
                value={action.reason?.initiator ?? ''}
                disabled={disabled}
                onChange={(e) => {
                  const i = e.target.value as Reason['initiator'] | '';
                  set('reason', i ? { initiator: i, code: workflowReasons(definition, i)[0] ?? '' } : undefined);
                }}
              >
                <option value="">none</option>
                <option value="customer">customer</option>
                <option value="provider">provider</option>
              </select>
              {action.reason && (
                <select
                  value={action.reason.code}
                  disabled={disabled}
                  onChange={(e) => set('reason', { ...action.reason, code: e.target.value })}
                >
                  {workflowReasons(definition, action.reason.initiator).map((c) => (
                    <option key={c}>{c}</option>
                  ))}
                </select>
              )}
            </span>
          </label>
          <label>
            Note
            <input value={action.note ?? ''} disabled={disabled} onChange={(e) => set('note', e.target.value)} />
          </label>
        </>
      )}
      {action.type === 'set_data' && (
        <div className="field">
          Merge into order data (values may be Liquid)
          <JsonField value={action.set} rows={4} readOnly={disabled} onChange={(v) => v && typeof v === 'object' && set('set', v)} />
        </div>
      )}
      {action.type === 'record_fact' && (
        <label>
          Fact
          <select value={action.fact} disabled={disabled} onChange={(e) => set('fact', e.target.value)}>
            {workflowCriteria(definition).map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
      )}
      {action.type === 'create_order' && (
        <>
          <label>
            Workflow
            <select value={action.workflow} disabled={disabled} onChange={(e) => set('workflow', e.target.value)}>
              {[...new Set([definition.key, ...workflows, action.workflow])].map((w) => (
                <option key={w}>{w}</option>
              ))}
            </select>
          </label>
          <label>
            Link relation
            <input value={action.link ?? ''} disabled={disabled} onChange={(e) => set('link', e.target.value)} placeholder="replacement" />
          </label>
          <label>
            Kind
            <input value={action.kind ?? ''} disabled={disabled} onChange={(e) => set('kind', e.target.value)} />
          </label>
          <div className="field">
            Data (object; values may be Liquid)
            <JsonField
              value={action.data ?? {}}
              rows={4}
              readOnly={disabled}
              onChange={(v) => v && typeof v === 'object' && set('data', v)}
            />
          </div>
        </>
      )}
      <div className="row">
        <label className="inline">
          Delay
          <input
            className="short"
            placeholder="e.g. 2h"
            value={action.delay ?? ''}
            disabled={disabled}
            onChange={(e) => set('delay', e.target.value)}
          />
        </label>
        {action.delay && (
          <label className="check">
            <input
              type="checkbox"
              checked={!!action.onlyIfStillIn}
              disabled={disabled}
              onChange={(e) => set('onlyIfStillIn', e.target.checked || undefined)}
            />
            only if still in the state
          </label>
        )}
      </div>
    </div>
  );
}
