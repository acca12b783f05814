import type { Condition, ConditionOp, State } from '@orderflow/core';
import { CONDITION_OPS, GROUPS } from '@orderflow/core';

const SHORTHAND_KEYS = ['new_state', 'old_state', 'new_group', 'old_group', 'kind', 'event', 'actor_type'] as const;
type Mode = 'none' | 'shorthand' | 'compare' | 'all' | 'any' | 'not';

export function conditionMode(c: Condition | undefined): Mode {
  if (c === undefined || c === null) return 'none';
  const o = c as Record<string, unknown>;
  if (Array.isArray(o.all)) return 'all';
  if (Array.isArray(o.any)) return 'any';
  if ('not' in o) return 'not';
  if (typeof o.path === 'string') return 'compare';
  return 'shorthand';
}

function emptyOf(mode: Mode): Condition | undefined {
  switch (mode) {
    case 'none':
      return undefined;
    case 'shorthand':
      return { new_state: '' };
    case 'compare':
      return { path: 'order.data.total', op: 'gte', value: 0 };
    case 'all':
      return { all: [] };
    case 'any':
      return { any: [] };
    case 'not':
      return { not: { new_state: '' } };
  }
}

/** Text for a value in a field: arrays as comma lists. */
const listText = (v: unknown): string => (Array.isArray(v) ? v.join(', ') : typeof v === 'string' ? v : '');
const parseList = (text: string): string | string[] => {
  const parts = text
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  return parts.length > 1 || text.includes(',') ? parts : (parts[0] ?? '');
};

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Edits a condition (SPEC §2.2): shorthand equalities, a comparison, or
 * nested all/any/not. The value it reports is exactly the JSON stored.
 */
export function ConditionEditor({
  value,
  onChange,
  states,
  disabled,
  depth = 0,
  allowNone = true,
  testId = 'condition',
}: {
  value: Condition | undefined;
  onChange: (value: Condition | undefined) => void;
  states: State[];
  disabled?: boolean;
  depth?: number;
  allowNone?: boolean;
  testId?: string;
}) {
  const mode = conditionMode(value);
  const o = (value ?? {}) as Record<string, unknown>;
  return (
    <div className={`condition depth-${depth % 4}`} data-testid={testId}>
      <select
        value={mode}
        disabled={disabled}
        onChange={(e) => onChange(emptyOf(e.target.value as Mode))}
        aria-label="Condition type"
        data-testid={`${testId}-mode`}
      >
        {allowNone && <option value="none">Always</option>}
        <option value="shorthand">Matches (shorthand)</option>
        <option value="compare">Compare a value</option>
        <option value="all">All of</option>
        <option value="any">Any of</option>
        <option value="not">Not</option>
      </select>
      {mode === 'shorthand' && (
        <div className="shorthand">
          {Object.entries(o).map(([k, v]) => (
            <div className="row" key={k}>
              <select
                value={k}
                disabled={disabled}
                aria-label="Field"
                onChange={(e) => {
                  const next: Record<string, unknown> = {};
                  for (const [kk, vv] of Object.entries(o)) next[kk === k ? e.target.value : kk] = vv;
                  onChange(next as Condition);
                }}
              >
                {SHORTHAND_KEYS.map((sk) => (
                  <option key={sk} value={sk} disabled={sk !== k && sk in o}>
                    {sk}
                  </option>
                ))}
              </select>
              <span className="muted">=</span>
              {k === 'new_state' || k === 'old_state' ? (
                <StateListInput states={states} value={v} disabled={disabled} onChange={(nv) => onChange({ ...o, [k]: nv } as Condition)} />
              ) : k === 'new_group' || k === 'old_group' ? (
                <select value={listText(v)} disabled={disabled} onChange={(e) => onChange({ ...o, [k]: e.target.value } as Condition)}>
                  <option value="">—</option>
                  {GROUPS.map((g) => (
                    <option key={g} value={g}>
                      {g}
                    </option>
                  ))}
                </select>
              ) : (
                <input
                  value={listText(v)}
                  disabled={disabled}
                  placeholder="value, or a, b for one of"
                  onChange={(e) => onChange({ ...o, [k]: parseList(e.target.value) } as Condition)}
                />
              )}
              {!disabled && (
                <button
                  type="button"
                  className="icon"
                  aria-label={`Remove ${k}`}
                  onClick={() => {
                    const next = { ...o };
                    delete next[k];
                    onChange(next as Condition);
                  }}
                >
                  ×
                </button>
              )}
            </div>
          ))}
          {!disabled && SHORTHAND_KEYS.some((k) => !(k in o)) && (
            <button
              type="button"
              className="small"
              onClick={() => {
                const k = SHORTHAND_KEYS.find((x) => !(x in o));
                if (k) onChange({ ...o, [k]: '' } as Condition);
              }}
            >
              + field
            </button>
          )}
        </div>
      )}
      {mode === 'compare' && (
        <div className="row compare">
          <input
            className="mono"
            value={String(o.path ?? '')}
            disabled={disabled}
            aria-label="Path"
            placeholder="order.data.total"
            onChange={(e) => onChange({ ...o, path: e.target.value } as Condition)}
          />
          <select
            value={String(o.op)}
            disabled={disabled}
            aria-label="Operator"
            onChange={(e) => onChange({ ...o, op: e.target.value as ConditionOp } as Condition)}
          >
            {CONDITION_OPS.map((op) => (
              <option key={op} value={op}>
                {op}
              </option>
            ))}
          </select>
          <input
            className="mono"
            defaultValue={o.value === undefined ? '' : JSON.stringify(o.value)}
            key={JSON.stringify(o.value)}
            disabled={disabled}
            aria-label="Value (JSON)"
            placeholder="100 or &quot;text&quot;"
            onBlur={(e) => onChange({ ...o, value: e.target.value === '' ? undefined : parseValue(e.target.value) } as Condition)}
          />
        </div>
      )}
      {(mode === 'all' || mode === 'any') && (
        <div className="nested">
          {((o[mode] as Condition[]) ?? []).map((child, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: nested conditions have no id; their position is their identity
            <div className="nested-item" key={`${mode}-${i}-${conditionMode(child)}`}>
              <ConditionEditor
                value={child}
                states={states}
                disabled={disabled}
                depth={depth + 1}
                allowNone={false}
                testId={`${testId}-${i}`}
                onChange={(nc) => {
                  const list = [...((o[mode] as Condition[]) ?? [])];
                  if (nc === undefined) list.splice(i, 1);
                  else list[i] = nc;
                  onChange({ [mode]: list } as Condition);
                }}
              />
              {!disabled && (
                <button
                  type="button"
                  className="icon"
                  aria-label="Remove condition"
                  onClick={() => onChange({ [mode]: ((o[mode] as Condition[]) ?? []).filter((_, j) => j !== i) } as Condition)}
                >
                  ×
                </button>
              )}
            </div>
          ))}
          {!disabled && (
            <button
              type="button"
              className="small"
              onClick={() => onChange({ [mode]: [...((o[mode] as Condition[]) ?? []), { new_state: '' }] } as Condition)}
            >
              + condition
            </button>
          )}
        </div>
      )}
      {mode === 'not' && (
        <div className="nested">
          <ConditionEditor
            value={o.not as Condition}
            states={states}
            disabled={disabled}
            depth={depth + 1}
            allowNone={false}
            testId={`${testId}-not`}
            onChange={(nc) => onChange({ not: nc ?? { new_state: '' } })}
          />
        </div>
      )}
    </div>
  );
}

/** Picks one state, or several ("one of"). */
function StateListInput({
  states,
  value,
  onChange,
  disabled,
}: {
  states: State[];
  value: unknown;
  onChange: (v: string | string[]) => void;
  disabled?: boolean | undefined;
}) {
  if (Array.isArray(value)) {
    return (
      <span className="state-list">
        <select
          multiple
          size={Math.min(6, Math.max(3, states.length))}
          value={value as string[]}
          disabled={disabled}
          aria-label="States (one of)"
          onChange={(e) => onChange(Array.from(e.target.selectedOptions).map((x) => x.value))}
        >
          {states.map((s) => (
            <option key={s.key} value={s.key}>
              {s.name} ({s.key})
            </option>
          ))}
        </select>
        {!disabled && (
          <button type="button" className="small" onClick={() => onChange((value as string[])[0] ?? '')}>
            single
          </button>
        )}
      </span>
    );
  }
  return (
    <span className="state-list">
      <select
        value={typeof value === 'string' ? value : ''}
        disabled={disabled}
        aria-label="State"
        onChange={(e) => onChange(e.target.value)}
      >
        <option value="">— state —</option>
        {states.map((s) => (
          <option key={s.key} value={s.key}>
            {s.name} ({s.key})
          </option>
        ))}
      </select>
      {!disabled && (
        <button
          type="button"
          className="small"
          title="Match any of several states"
          onClick={() => onChange(typeof value === 'string' && value ? [value] : [])}
        >
          one of…
        </button>
      )}
    </span>
  );
}
