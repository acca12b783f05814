import type { Definition, Group } from '@orderflow/core';
import { GROUP_LABELS, GROUPS, isTerminalGroup } from '@orderflow/core';
import { useState } from 'react';
import type { Problem } from './flow-mapping';
import { problemTarget } from './flow-mapping';
import type { Selection } from './side-panel';

/** The same states and transitions as the canvas, as tables (for large workflows). */
export function TableView({
  definition,
  problems,
  editable,
  onSelect,
  selection,
  moveState,
  addTransition,
  removeTransition,
}: {
  definition: Definition;
  problems: Problem[];
  editable: boolean;
  selection: Selection;
  onSelect: (s: Selection) => void;
  moveState: (key: string, group: Group, index: number) => void;
  addTransition: (from: string, to: string) => void;
  removeTransition: (index: number) => void;
}) {
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const severityOf = (type: 'state' | 'transition', id: string | number) => {
    const mine = problems.filter((p) => {
      const t = problemTarget(definition, p.path);
      return type === 'state' ? t.type === 'state' && t.key === id : t.type === 'transition' && t.index === id;
    });
    return mine.some((p) => p.severity === 'error') ? 'error' : mine.length ? 'warning' : '';
  };
  return (
    <div className="table-view" data-testid="table-view">
      <h3>States</h3>
      <table className="table compact stack">
        <thead>
          <tr>
            <th>Group</th>
            <th>#</th>
            <th>Name</th>
            <th>Key</th>
            <th>Details</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {GROUPS.flatMap((g) =>
            definition.states
              .filter((s) => s.group === g)
              .map((s, i, list) => (
                <tr
                  key={s.key}
                  className={`${selection?.type === 'state' && selection.key === s.key ? 'selected ' : ''}${severityOf('state', s.key)}`}
                  data-testid={`table-state-${s.key}`}
                >
                  <td data-label="Group">
                    <select
                      value={s.group}
                      disabled={!editable}
                      aria-label="Group"
                      onChange={(e) => moveState(s.key, e.target.value as Group, Number.MAX_SAFE_INTEGER)}
                    >
                      {GROUPS.map((x) => (
                        <option key={x} value={x}>
                          {GROUP_LABELS[x]}
                        </option>
                      ))}
                    </select>
                  </td>
                  <td className="num" data-label="#">
                    {i + 1}
                  </td>
                  <td data-label="Name">
                    <button type="button" className="link" onClick={() => onSelect({ type: 'state', key: s.key })}>
                      <span className="dot" style={{ background: s.color ?? '#94a3b8' }} /> {s.name}
                    </button>
                  </td>
                  <td className="mono" data-label="Key">
                    {s.key}
                  </td>
                  <td className="small muted" data-label="Details">
                    {[
                      s.initial && 'initial',
                      s.timeout && `timeout ${s.timeout.after} → ${s.timeout.to}`,
                      s.cancellation && `reason ${s.cancellation.initiator}/${s.cancellation.code}`,
                      s.requires?.length && `requires ${s.requires.join(', ')}`,
                    ]
                      .filter(Boolean)
                      .join(' · ')}
                  </td>
                  <td className="row-actions">
                    {editable && (
                      <>
                        <button
                          type="button"
                          className="small"
                          disabled={i === 0}
                          onClick={() => moveState(s.key, g, i - 1)}
                          aria-label="Move up"
                        >
                          ↑
                        </button>
                        <button
                          type="button"
                          className="small"
                          disabled={i === list.length - 1}
                          onClick={() => moveState(s.key, g, i + 1)}
                          aria-label="Move down"
                        >
                          ↓
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              )),
          )}
        </tbody>
      </table>
      <h3>Transitions</h3>
      <table className="table compact stack">
        <thead>
          <tr>
            <th>From</th>
            <th>To</th>
            <th>Name</th>
            <th>Guard</th>
            <th>Roles</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {definition.transitions.map((t, i) => (
            <tr
              // biome-ignore lint/suspicious/noArrayIndexKey: a transition is identified by its index
              key={i}
              className={`${selection?.type === 'transition' && selection.index === i ? 'selected ' : ''}${severityOf('transition', i)}`}
              data-testid={`table-transition-${i}`}
            >
              <td className="mono" data-label="From">
                {t.from}
              </td>
              <td className="mono" data-label="To">
                {t.to}
              </td>
              <td data-label="Name">
                <button type="button" className="link" onClick={() => onSelect({ type: 'transition', index: i })}>
                  {t.name || <span className="muted">(unnamed)</span>}
                </button>
              </td>
              <td className="mono small" data-label="Guard">
                {t.guard ? JSON.stringify(t.guard) : ''}
              </td>
              <td data-label="Roles">{t.roles?.join(', ')}</td>
              <td>
                {editable && (
                  <button type="button" className="small danger" onClick={() => removeTransition(i)}>
                    Delete
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {editable && (
        <form
          className="row add-transition"
          onSubmit={(e) => {
            e.preventDefault();
            if (from && to) addTransition(from, to);
          }}
        >
          <select value={from} onChange={(e) => setFrom(e.target.value)} aria-label="From">
            <option value="">from…</option>
            <option value="*">* (any non-terminal state)</option>
            {GROUPS.filter((g) => !isTerminalGroup(g)).map((g) => (
              <option key={g} value={`group:${g}`}>
                group:{g}
              </option>
            ))}
            {definition.states
              .filter((s) => !isTerminalGroup(s.group))
              .map((s) => (
                <option key={s.key} value={s.key}>
                  {s.name} ({s.key})
                </option>
              ))}
          </select>
          <select value={to} onChange={(e) => setTo(e.target.value)} aria-label="To">
            <option value="">to…</option>
            {definition.states.map((s) => (
              <option key={s.key} value={s.key}>
                {s.name} ({s.key})
              </option>
            ))}
          </select>
          <button type="submit" disabled={!from || !to}>
            Add transition
          </button>
        </form>
      )}
    </div>
  );
}
