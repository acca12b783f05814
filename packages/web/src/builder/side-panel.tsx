import type { Condition, Definition, Reason, Role, State, Transition } from '@orderflow/core';
import { GROUP_LABELS, isTerminalGroup, ROLES, workflowCriteria, workflowReasons } from '@orderflow/core';
import { useEffect, useState } from 'react';
import { ConditionEditor } from '../rules/condition-editor';
import type { Problem } from './flow-mapping';
import { problemTarget } from './flow-mapping';

export type Selection = { type: 'state'; key: string } | { type: 'transition'; index: number } | null;

export interface PanelProps {
  definition: Definition;
  problems: Problem[];
  selection: Selection;
  editable: boolean;
  onSelect: (s: Selection) => void;
  /** Applies an edit; edits with the same coalesce key merge into one undo step. */
  onEdit: (next: Definition, coalesceKey?: string) => void;
  updateState: (key: string, patch: Partial<State>, coalesceKey?: string) => void;
  renameKey: (from: string, to: string) => void;
  setInitial: (key: string) => void;
  removeState: (key: string) => void;
  updateTransition: (index: number, patch: Partial<Transition>, coalesceKey?: string) => void;
  removeTransition: (index: number) => void;
}

function ProblemList({
  problems,
  definition,
  onSelect,
}: {
  problems: Problem[];
  definition: Definition;
  onSelect?: (s: Selection) => void;
}) {
  if (problems.length === 0) return null;
  return (
    <ul className="problems" data-testid="problems-list">
      {problems.map((p) => {
        const t = problemTarget(definition, p.path);
        const select = () => {
          if (!onSelect) return;
          if (t.type === 'state' && t.key) onSelect({ type: 'state', key: t.key });
          if (t.type === 'transition') onSelect({ type: 'transition', index: t.index });
        };
        return (
          <li key={`${p.path}-${p.code}-${p.message}`} className={`problem ${p.severity}`} data-testid={`problem-${p.code}`}>
            <button type="button" className="link" onClick={select} disabled={!onSelect || t.type === 'workflow' || t.type === 'rule'}>
              <span className="sev">{p.severity === 'error' ? 'Error' : 'Warning'}</span> {p.message}
              {p.path && <span className="muted mono small"> {p.path}</span>}
            </button>
          </li>
        );
      })}
    </ul>
  );
}

/** A text input that commits on every keystroke but keeps its own text while the value is invalid elsewhere. */
function KeyInput({ value, onCommit, disabled }: { value: string; onCommit: (v: string) => void; disabled: boolean }) {
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  return (
    <input
      className="mono"
      value={text}
      disabled={disabled}
      data-testid="state-key"
      onChange={(e) => setText(e.target.value)}
      onBlur={() => text !== value && onCommit(text)}
      onKeyDown={(e) => {
        if (e.key === 'Enter') (e.target as HTMLInputElement).blur();
      }}
    />
  );
}

function ReasonFields({
  definition,
  value,
  onChange,
  disabled,
  testId,
}: {
  definition: Definition;
  value: Reason | undefined;
  onChange: (r: Reason | undefined) => void;
  disabled: boolean;
  testId: string;
}) {
  const initiator = value?.initiator ?? 'customer';
  return (
    <div className="row" data-testid={testId}>
      <select
        value={value ? initiator : ''}
        disabled={disabled}
        aria-label="Initiator"
        onChange={(e) => {
          const i = e.target.value as Reason['initiator'] | '';
          if (!i) onChange(undefined);
          else onChange({ initiator: i, code: workflowReasons(definition, i)[0] ?? '' });
        }}
      >
        <option value="">none</option>
        <option value="customer">customer</option>
        <option value="provider">provider</option>
      </select>
      {value && (
        <select
          value={value.code}
          disabled={disabled}
          aria-label="Reason code"
          onChange={(e) => onChange({ ...value, code: e.target.value })}
        >
          {workflowReasons(definition, initiator).map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
      )}
    </div>
  );
}

function StatePanel(props: PanelProps & { state: State; index: number }) {
  const { state, definition, editable, problems } = props;
  const d = !editable;
  const mine = problems.filter((p) => {
    const t = problemTarget(definition, p.path);
    return t.type === 'state' && t.key === state.key;
  });
  const others = definition.states.filter((s) => s.key !== state.key);
  const criteria = workflowCriteria(definition);
  const set = (patch: Partial<State>, field: string) => props.updateState(state.key, patch, `state${props.index}:${field}`);
  return (
    <div className="panel-section" data-testid="state-panel">
      <h3>
        State <span className="muted">in {GROUP_LABELS[state.group]}</span>
      </h3>
      <ProblemList problems={mine} definition={definition} />
      <label>
        Name
        <input value={state.name} disabled={d} onChange={(e) => set({ name: e.target.value }, 'name')} data-testid="state-name" />
      </label>
      <div className="field">
        Key
        <KeyInput value={state.key} disabled={d} onCommit={(v) => props.renameKey(state.key, v)} />
      </div>
      <label>
        Customer-facing name
        <input
          value={state.publicName ?? ''}
          disabled={d}
          placeholder={state.name}
          onChange={(e) => set({ publicName: e.target.value || undefined }, 'publicName')}
          data-testid="state-public-name"
        />
      </label>
      <label>
        Colour
        <span className="row">
          <input
            type="color"
            value={state.color ?? '#94a3b8'}
            disabled={d}
            onChange={(e) => set({ color: e.target.value }, 'color')}
            data-testid="state-color"
          />
          <input
            className="mono short"
            value={state.color ?? ''}
            disabled={d}
            onChange={(e) => set({ color: e.target.value || undefined }, 'color')}
          />
        </span>
      </label>
      <label>
        Description
        <textarea
          rows={2}
          value={state.description ?? ''}
          disabled={d}
          onChange={(e) => set({ description: e.target.value || undefined }, 'description')}
        />
      </label>
      {state.group === 'new' && (
        <label className="check">
          <input
            type="checkbox"
            checked={!!state.initial}
            disabled={d || state.initial}
            onChange={() => props.setInitial(state.key)}
            data-testid="state-initial"
          />
          Initial state (where new orders start)
        </label>
      )}
      {!isTerminalGroup(state.group) || state.timeout ? (
        <fieldset>
          <legend>Timeout</legend>
          <div className="row">
            <input
              className="short"
              placeholder="48h"
              value={state.timeout?.after ?? ''}
              disabled={d}
              aria-label="Timeout after"
              data-testid="state-timeout-after"
              onChange={(e) => {
                const after = e.target.value;
                if (!after && !state.timeout?.to) set({ timeout: undefined }, 'timeout');
                else set({ timeout: { ...state.timeout, after, to: state.timeout?.to ?? '' } }, 'timeout');
              }}
            />
            <span className="muted">then move to</span>
            <select
              value={state.timeout?.to ?? ''}
              disabled={d}
              aria-label="Timeout target"
              data-testid="state-timeout-to"
              onChange={(e) => {
                const to = e.target.value;
                if (!to) set({ timeout: undefined }, 'timeout');
                else set({ timeout: { ...state.timeout, after: state.timeout?.after ?? '48h', to } }, 'timeout');
              }}
            >
              <option value="">no timeout</option>
              {others.map((s) => (
                <option key={s.key} value={s.key}>
                  {s.name} ({s.key})
                </option>
              ))}
            </select>
          </div>
        </fieldset>
      ) : null}
      {state.group === 'cancelled' && (
        <fieldset>
          <legend>Default cancellation reason</legend>
          <ReasonFields
            definition={definition}
            value={state.cancellation}
            disabled={d}
            testId="state-cancellation"
            onChange={(r) => props.updateState(state.key, { cancellation: r })}
          />
        </fieldset>
      )}
      {state.group === 'completed' && (
        <fieldset data-testid="state-requires">
          <legend>Required criteria</legend>
          {criteria.map((c) => (
            <label className="check" key={c}>
              <input
                type="checkbox"
                disabled={d}
                checked={state.requires?.includes(c) ?? false}
                onChange={(e) => {
                  const list = new Set(state.requires ?? []);
                  if (e.target.checked) list.add(c);
                  else list.delete(c);
                  props.updateState(state.key, { requires: list.size ? [...list] : undefined });
                }}
              />
              {c}
            </label>
          ))}
        </fieldset>
      )}
      {editable && (
        <button type="button" className="danger" onClick={() => props.removeState(state.key)} data-testid="delete-state">
          Delete state
        </button>
      )}
    </div>
  );
}

function TransitionPanel(props: PanelProps & { transition: Transition; index: number }) {
  const { transition, index, definition, editable, problems } = props;
  const d = !editable;
  const mine = problems.filter((p) => {
    const t = problemTarget(definition, p.path);
    return t.type === 'transition' && t.index === index;
  });
  const nameOf = (key: string) =>
    key === '*'
      ? 'any non-terminal state'
      : key.startsWith('group:')
        ? `every ${key.slice(6)} state`
        : (definition.states.find((s) => s.key === key)?.name ?? key);
  return (
    <div className="panel-section" data-testid="transition-panel">
      <h3>Transition</h3>
      <p>
        <strong>{nameOf(transition.from)}</strong> → <strong>{nameOf(transition.to)}</strong>
      </p>
      <ProblemList problems={mine} definition={definition} />
      <label>
        Name
        <input
          value={transition.name ?? ''}
          disabled={d}
          placeholder="e.g. Ship"
          onChange={(e) => props.updateTransition(index, { name: e.target.value || undefined }, `t${index}:name`)}
          data-testid="transition-name"
        />
      </label>
      <fieldset>
        <legend>Guard</legend>
        <ConditionEditor
          value={transition.guard}
          states={definition.states}
          disabled={d}
          testId="transition-guard"
          onChange={(g: Condition | undefined) => props.updateTransition(index, { guard: g }, `t${index}:guard`)}
        />
      </fieldset>
      <fieldset data-testid="transition-roles">
        <legend>Roles allowed (none = every role that may move orders)</legend>
        {ROLES.map((r: Role) => (
          <label className="check" key={r}>
            <input
              type="checkbox"
              disabled={d}
              checked={transition.roles?.includes(r) ?? false}
              onChange={(e) => {
                const list = new Set(transition.roles ?? []);
                if (e.target.checked) list.add(r);
                else list.delete(r);
                props.updateTransition(index, { roles: list.size ? ROLES.filter((x) => list.has(x)) : undefined });
              }}
            />
            {r}
          </label>
        ))}
      </fieldset>
      {editable && (
        <button type="button" className="danger" onClick={() => props.removeTransition(index)} data-testid="delete-edge">
          Delete transition
        </button>
      )}
    </div>
  );
}

export function SidePanel(props: PanelProps) {
  const { selection, definition } = props;
  if (selection?.type === 'state') {
    const index = definition.states.findIndex((s) => s.key === selection.key);
    const state = definition.states[index];
    if (state) return <StatePanel {...props} state={state} index={index} />;
  }
  if (selection?.type === 'transition') {
    const transition = definition.transitions[selection.index];
    if (transition) return <TransitionPanel {...props} transition={transition} index={selection.index} />;
  }
  const errors = props.problems.filter((p) => p.severity === 'error').length;
  const warnings = props.problems.length - errors;
  return (
    <div className="panel-section" data-testid="workflow-panel">
      <h3>Workflow</h3>
      <label>
        Name
        <input
          value={definition.name}
          disabled={!props.editable}
          onChange={(e) => props.onEdit({ ...definition, name: e.target.value }, 'workflow:name')}
          data-testid="workflow-name"
        />
      </label>
      <label>
        Description
        <textarea
          rows={2}
          value={definition.description ?? ''}
          disabled={!props.editable}
          onChange={(e) => {
            const next: Definition = { ...definition, description: e.target.value };
            if (!e.target.value) delete next.description;
            props.onEdit(next, 'workflow:description');
          }}
        />
      </label>
      <h4>
        Problems{' '}
        <span className="muted small" data-testid="problem-count">
          {errors} error{errors === 1 ? '' : 's'}, {warnings} warning{warnings === 1 ? '' : 's'}
        </span>
      </h4>
      {props.problems.length === 0 ? <p className="muted">No problems found.</p> : null}
      <ProblemList problems={props.problems} definition={definition} onSelect={props.onSelect} />
      <p className="muted small">
        Select a state or a transition to edit it. Drag from a card’s right handle to another card to add a transition.
      </p>
    </div>
  );
}
