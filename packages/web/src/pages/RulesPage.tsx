import type { Workflow } from '@orderflow/client';
import type { Action, Definition, Rule, Trigger } from '@orderflow/core';
import { RuleSchema, ruleIdOf, TRIGGERS, validateDefinition, workflowCriteria } from '@orderflow/core';
import { useCallback, useEffect, useMemo, useState } from 'react';
import { type Problem, problemTarget } from '../builder/flow-mapping';
import { PublishDialog } from '../builder/publish-dialog';
import { Empty, ErrorBox, JsonField, Loading, PageHeader, useToast } from '../components/common';
import { api, errorText } from '../lib/api';
import { Link } from '../lib/router';
import { useAbilities } from '../lib/session';
import { ACTION_TYPES, ActionEditor, newAction } from '../rules/action-editor';
import { ConditionEditor } from '../rules/condition-editor';
import { DraftRuleTest } from '../rules/draft-test';

const TRIGGER_LABELS: Record<Trigger, string> = {
  state_changed: 'State changed',
  order_created: 'Order created',
  event_received: 'Event received',
  time_in_state: 'Time in state',
  fact_recorded: 'Fact recorded',
};

/** Keeps only the trigger's own extra field. */
function withTrigger(rule: Rule, trigger: Trigger): Rule {
  const { event: _e, state: _s, after: _a, fact: _f, ...rest } = rule;
  const next: Rule = { ...rest, trigger };
  if (trigger === 'event_received') next.event = rule.event ?? 'payment.received';
  if (trigger === 'time_in_state') {
    next.state = rule.state ?? '';
    next.after = rule.after ?? '1d';
  }
  if (trigger === 'fact_recorded') next.fact = rule.fact ?? 'delivered';
  return next;
}

export function RulesPage({ workflowKey }: { workflowKey: string }) {
  const [workflow, setWorkflow] = useState<Workflow | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const [templates, setTemplates] = useState<string[] | undefined>(undefined);
  const [endpoints, setEndpoints] = useState<string[] | undefined>(undefined);
  const [workflows, setWorkflows] = useState<string[] | undefined>(undefined);
  const load = useCallback(() => {
    setError(undefined);
    api.getWorkflow(workflowKey).then(setWorkflow, setError);
    api.listTemplates().then(
      (r) => setTemplates(r.items.map((t) => t.key)),
      () => setTemplates(undefined),
    );
    api.listEndpoints().then(
      (r) => setEndpoints(r.items.map((t) => t.key)),
      () => setEndpoints(undefined),
    );
    api.listWorkflows().then(
      (r) => setWorkflows(r.items.map((t) => t.key)),
      () => setWorkflows(undefined),
    );
  }, [workflowKey]);
  useEffect(load, [load]);
  if (error) return <ErrorBox error={error} onRetry={load} />;
  if (!workflow) return <Loading />;
  const start = workflow.draft ?? workflow.definition;
  if (!start) return <ErrorBox error={new Error('This workflow has no definition yet.')} />;
  return (
    <RulesEditor
      workflow={workflow}
      start={start}
      templates={templates}
      endpoints={endpoints}
      workflows={workflows}
      onSaved={(w) => setWorkflow(w)}
    />
  );
}

function RulesEditor({
  workflow,
  start,
  templates,
  endpoints,
  workflows,
  onSaved,
}: {
  workflow: Workflow;
  start: Definition;
  templates: string[] | undefined;
  endpoints: string[] | undefined;
  workflows: string[] | undefined;
  onSaved: (w: Workflow) => void;
}) {
  const can = useAbilities();
  const editable = can.design;
  const toast = useToast();
  const [definition, setDefinition] = useState(start);
  const [savedJson, setSavedJson] = useState(() => JSON.stringify(start));
  const [selected, setSelected] = useState<number | null>(start.rules?.length ? 0 : null);
  const [busy, setBusy] = useState(false);
  const rules = definition.rules ?? [];
  const rule = selected !== null ? rules[selected] : undefined;
  const dirty = JSON.stringify(definition) !== savedJson;

  const validation = useMemo(
    () =>
      validateDefinition(definition, {
        ...(templates ? { templates } : {}),
        ...(endpoints ? { endpoints } : {}),
        ...(workflows ? { workflows: workflows.filter((w) => w !== definition.key) } : {}),
      }),
    [definition, templates, endpoints, workflows],
  );
  const ruleProblems = (i: number): Problem[] =>
    (validation.problems as Problem[]).filter((p) => {
      const t = problemTarget(definition, p.path);
      return t.type === 'rule' && t.index === i;
    });
  const errorCount = validation.problems.filter((p) => p.severity === 'error').length;

  const setRule = (i: number, next: Rule) => setDefinition((d) => ({ ...d, rules: (d.rules ?? []).map((r, j) => (j === i ? next : r)) }));
  const addRule = () => {
    const used = new Set(rules.map((r, i) => ruleIdOf(r, i)));
    let n = rules.length + 1;
    while (used.has(`rule-${n}`)) n++;
    const fresh: Rule = {
      id: `rule-${n}`,
      name: 'New rule',
      enabled: true,
      trigger: 'state_changed',
      conditions: { new_state: '' },
      actions: [],
    };
    setDefinition((d) => ({ ...d, rules: [...(d.rules ?? []), fresh] }));
    setSelected(rules.length);
  };
  const removeRule = (i: number) => {
    setDefinition((d) => ({ ...d, rules: (d.rules ?? []).filter((_, j) => j !== i) }));
    setSelected(null);
  };

  const [confirming, setConfirming] = useState(false);
  const save = async (publish: boolean) => {
    setBusy(true);
    try {
      let w = await api.saveDraft(workflow.key, definition);
      setSavedJson(JSON.stringify(definition));
      if (publish) {
        w = await api.publishWorkflow(workflow.key);
        toast(`Published version ${w.publishedVersion ?? ''}`, 'success');
      } else toast('Rules saved to the draft', 'success');
      onSaved({ ...w, draft: w.draft ?? definition });
    } catch (err) {
      toast(errorText(err), 'error');
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="page rules-page">
      <PageHeader
        title={`Rules · ${definition.name}`}
        subtitle={
          <>
            Rules belong to the workflow and are published with it.{' '}
            <Link to={`/workflows/${encodeURIComponent(workflow.key)}`}>Open the builder</Link>
          </>
        }
      >
        {editable && (
          <>
            <span className={`save-state ${dirty ? 'dirty' : 'clean'}`} data-testid="rules-dirty">
              {dirty ? '● Unsaved changes' : 'All changes saved'}
            </span>
            <button type="button" onClick={() => save(false)} disabled={busy || !dirty} data-testid="save-rules">
              Save draft
            </button>
            <button
              type="button"
              className="primary"
              onClick={() => setConfirming(true)}
              disabled={busy || errorCount > 0}
              data-testid="publish-rules"
            >
              Save &amp; publish
            </button>
          </>
        )}
      </PageHeader>
      {confirming && (
        <PublishDialog
          workflowKey={workflow.key}
          published={workflow.definition}
          publishedVersion={workflow.publishedVersion}
          draft={definition}
          problems={validation.problems as Problem[]}
          onClose={() => setConfirming(false)}
          onPublish={async () => {
            await save(true);
            setConfirming(false);
          }}
        />
      )}
      {errorCount > 0 && (
        <p className="error-text small" data-testid="rules-errors">
          {errorCount} error(s) in this workflow’s draft: {validation.problems.find((p) => p.severity === 'error')?.message}
        </p>
      )}
      <div className="rules-layout">
        <aside className="rule-list">
          {rules.length === 0 && <Empty>No rules yet.</Empty>}
          <ul>
            {rules.map((r, i) => {
              const id = ruleIdOf(r, i);
              const sev = ruleProblems(i).some((p) => p.severity === 'error') ? 'error' : ruleProblems(i).length ? 'warning' : '';
              return (
                // biome-ignore lint/suspicious/noArrayIndexKey: rules are identified by position; ids may repeat while being typed
                <li key={`${id}-${i}`} className={`${selected === i ? 'active' : ''} ${sev}`}>
                  <button type="button" className="rule-item" onClick={() => setSelected(i)} data-testid={`rule-item-${id}`}>
                    <span
                      className={`toggle-dot ${r.enabled === false ? 'off' : 'on'}`}
                      title={r.enabled === false ? 'disabled' : 'enabled'}
                    />
                    <span>
                      <strong>{r.name || id}</strong>
                      <span className="muted small block">
                        {TRIGGER_LABELS[r.trigger]} · {r.actions.length} action(s)
                      </span>
                    </span>
                  </button>
                </li>
              );
            })}
          </ul>
          {editable && (
            <button type="button" onClick={addRule} data-testid="new-rule">
              + New rule
            </button>
          )}
        </aside>
        <section className="rule-editor">
          {rule && selected !== null ? (
            <RuleForm
              key={selected}
              rule={rule}
              index={selected}
              definition={definition}
              templates={templates ?? []}
              endpoints={endpoints ?? []}
              workflows={workflows ?? []}
              problems={ruleProblems(selected)}
              editable={editable}
              onChange={(r) => setRule(selected, r)}
              onRemove={() => removeRule(selected)}
              workflowKey={workflow.key}
            />
          ) : (
            <Empty>Select a rule{editable ? ' or create one' : ''}.</Empty>
          )}
        </section>
      </div>
      <datalist id="email-recipients">
        <option value="customer" />
        <option value="admin" />
      </datalist>
    </div>
  );
}

function RuleForm({
  rule,
  index,
  definition,
  templates,
  endpoints,
  workflows,
  problems,
  editable,
  onChange,
  onRemove,
  workflowKey,
}: {
  rule: Rule;
  index: number;
  definition: Definition;
  templates: string[];
  endpoints: string[];
  workflows: string[];
  problems: Problem[];
  editable: boolean;
  onChange: (r: Rule) => void;
  onRemove: () => void;
  workflowKey: string;
}) {
  const d = !editable;
  const [jsonError, setJsonError] = useState<string | null>(null);
  const setField = (field: keyof Rule, value: unknown) => {
    const next = { ...rule } as Record<string, unknown>;
    if (value === undefined || value === '') delete next[field];
    else next[field] = value;
    onChange(next as Rule);
  };
  const setAction = (i: number, a: Action) => onChange({ ...rule, actions: rule.actions.map((x, j) => (j === i ? a : x)) });
  const moveAction = (i: number, by: number) => {
    const list = [...rule.actions];
    const [a] = list.splice(i, 1);
    if (a) list.splice(i + by, 0, a);
    onChange({ ...rule, actions: list });
  };
  return (
    <div className="rule-form-grid">
      <div className="rule-form" data-testid="rule-form">
        {problems.length > 0 && (
          <ul className="problems" data-testid="rule-problems">
            {problems.map((p) => (
              <li key={`${p.path}-${p.code}-${p.message}`} className={`problem ${p.severity}`}>
                <span className="sev">{p.severity === 'error' ? 'Error' : 'Warning'}</span> {p.message}{' '}
                <span className="mono small muted">{p.path}</span>
              </li>
            ))}
          </ul>
        )}
        <div className="row">
          <label className="grow">
            Name
            <input value={rule.name ?? ''} disabled={d} onChange={(e) => setField('name', e.target.value)} data-testid="rule-name" />
          </label>
          <label>
            Id
            <input
              className="mono"
              value={rule.id ?? ''}
              disabled={d}
              onChange={(e) => setField('id', e.target.value)}
              data-testid="rule-id"
            />
          </label>
          <label className="check">
            <input
              type="checkbox"
              checked={rule.enabled !== false}
              disabled={d}
              onChange={(e) => setField('enabled', e.target.checked)}
              data-testid="rule-enabled"
            />
            Enabled
          </label>
        </div>
        <fieldset>
          <legend>When</legend>
          <div className="row">
            <select
              value={rule.trigger}
              disabled={d}
              onChange={(e) => onChange(withTrigger(rule, e.target.value as Trigger))}
              data-testid="rule-trigger"
            >
              {TRIGGERS.map((t) => (
                <option key={t} value={t}>
                  {TRIGGER_LABELS[t]}
                </option>
              ))}
            </select>
            {rule.trigger === 'event_received' && (
              <input
                value={rule.event ?? ''}
                disabled={d}
                placeholder="package.lost"
                onChange={(e) => setField('event', e.target.value)}
                data-testid="rule-event"
              />
            )}
            {rule.trigger === 'time_in_state' && (
              <>
                <select value={rule.state ?? ''} disabled={d} onChange={(e) => setField('state', e.target.value)} data-testid="rule-state">
                  <option value="">— state —</option>
                  {definition.states.map((s) => (
                    <option key={s.key} value={s.key}>
                      {s.name}
                    </option>
                  ))}
                </select>
                <span className="muted">for</span>
                <input
                  className="short"
                  value={rule.after ?? ''}
                  disabled={d}
                  placeholder="5d"
                  onChange={(e) => setField('after', e.target.value)}
                />
              </>
            )}
            {rule.trigger === 'fact_recorded' && (
              <select value={rule.fact ?? ''} disabled={d} onChange={(e) => setField('fact', e.target.value)}>
                {workflowCriteria(definition).map((c) => (
                  <option key={c}>{c}</option>
                ))}
              </select>
            )}
          </div>
        </fieldset>
        <fieldset>
          <legend>If</legend>
          <ConditionEditor
            value={rule.conditions}
            states={definition.states}
            disabled={d}
            testId="rule-conditions"
            onChange={(c) => setField('conditions', c)}
          />
        </fieldset>
        <fieldset>
          <legend>Then</legend>
          {rule.actions.length === 0 && <p className="muted">No actions yet.</p>}
          {rule.actions.map((a, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: actions have no id of their own; their position is their identity
            <div className="action card" key={`${i}-${a.type}`} data-testid={`action-${i}`}>
              <div className="row">
                <select
                  value={a.type}
                  disabled={d}
                  onChange={(e) => setAction(i, newAction(e.target.value as Action['type'], definition, templates))}
                  data-testid={`action-${i}-type`}
                >
                  {ACTION_TYPES.map((t) => (
                    <option key={t.type} value={t.type}>
                      {t.label}
                    </option>
                  ))}
                </select>
                {editable && (
                  <span className="row-actions">
                    <button type="button" className="small" disabled={i === 0} onClick={() => moveAction(i, -1)} aria-label="Move up">
                      ↑
                    </button>
                    <button
                      type="button"
                      className="small"
                      disabled={i === rule.actions.length - 1}
                      onClick={() => moveAction(i, 1)}
                      aria-label="Move down"
                    >
                      ↓
                    </button>
                    <button
                      type="button"
                      className="small danger"
                      onClick={() => onChange({ ...rule, actions: rule.actions.filter((_, j) => j !== i) })}
                    >
                      Remove
                    </button>
                  </span>
                )}
              </div>
              <ActionEditor
                action={a}
                index={i}
                onChange={(x) => setAction(i, x)}
                definition={definition}
                templates={templates}
                endpoints={endpoints}
                workflows={workflows}
                disabled={d}
              />
            </div>
          ))}
          {editable && (
            <button
              type="button"
              onClick={() => onChange({ ...rule, actions: [...rule.actions, newAction('send_email', definition, templates)] })}
              data-testid="add-action"
            >
              + Action
            </button>
          )}
        </fieldset>
        {editable && (
          <button type="button" className="danger" onClick={onRemove} data-testid="delete-rule">
            Delete rule
          </button>
        )}
        <DraftRuleTest rule={rule} definition={definition} workflowKey={workflowKey} />
      </div>
      <div className="rule-json">
        <h4>JSON</h4>
        <JsonField
          value={rule}
          rows={28}
          readOnly={d}
          testId="rule-json"
          onChange={(v) => {
            // Only a document with the rule's shape reaches the form; anything else waits here with its reason.
            const parsed = RuleSchema.safeParse(v);
            if (parsed.success) {
              setJsonError(null);
              onChange(v as Rule);
            } else {
              const issue = parsed.error.issues[0];
              setJsonError(`Not a rule yet: ${issue ? `${issue.path.join('.') || '(rule)'} ${issue.message}` : 'invalid'}`);
            }
          }}
        />
        {jsonError && (
          <p className="field-error" data-testid="rule-json-error">
            {jsonError}
          </p>
        )}
        <p className="muted small">Edits here update the form as soon as they are valid JSON (rule {index + 1}).</p>
      </div>
    </div>
  );
}
