import type { Condition, ConditionOp } from './definition.js';
import type { ConditionTrace, RuleContext } from './model.js';

/** Values a condition can read: the rule context, or any plain object for previews. */
export type ConditionScope = Partial<RuleContext> & Record<string, unknown>;

const ABSENT = Symbol('absent');

/** Reads a dotted path (`order.data.total`, `order.data.items.0.sku`); own properties only. */
export function readPath(scope: unknown, path: string): unknown {
  const value = read(scope, path);
  return value === ABSENT ? undefined : value;
}

function read(scope: unknown, path: string): unknown {
  let cur: unknown = scope;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return ABSENT;
    if (!Object.hasOwn(cur as object, part)) return ABSENT;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur === undefined ? ABSENT : cur;
}

function shorthandActual(scope: ConditionScope, key: string): unknown {
  switch (key) {
    case 'event':
      return (scope.event as { type?: unknown } | undefined)?.type;
    case 'actor_type':
      return (scope.actor as { type?: unknown } | undefined)?.type;
    case 'kind':
      return scope.kind ?? (scope.order as { kind?: unknown } | undefined)?.kind;
    default:
      return scope[key];
  }
}

function looseEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    try {
      return JSON.stringify(a) === JSON.stringify(b);
    } catch {
      return false;
    }
  }
  return false;
}

function compare(op: ConditionOp, actual: unknown, expected: unknown, present: boolean): boolean {
  switch (op) {
    case 'exists':
      return expected === false ? !present : present;
    case 'eq':
      return present && looseEqual(actual, expected);
    case 'neq':
      return !present || !looseEqual(actual, expected);
    case 'in':
      return present && Array.isArray(expected) && expected.some((e) => looseEqual(actual, e));
    case 'nin':
      return !present || !Array.isArray(expected) || !expected.some((e) => looseEqual(actual, e));
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      if (!present) return false;
      const ok =
        (typeof actual === 'number' && typeof expected === 'number') || (typeof actual === 'string' && typeof expected === 'string');
      if (!ok) return false;
      const a = actual as number | string;
      const e = expected as number | string;
      return op === 'gt' ? a > e : op === 'gte' ? a >= e : op === 'lt' ? a < e : a <= e;
    }
    case 'contains':
      if (!present) return false;
      if (typeof actual === 'string') return typeof expected === 'string' && actual.includes(expected);
      if (Array.isArray(actual)) return actual.some((x) => looseEqual(x, expected));
      return false;
    case 'startsWith':
      return present && typeof actual === 'string' && typeof expected === 'string' && actual.startsWith(expected);
  }
}

/**
 * Evaluates a condition and returns a trace of every part's outcome. A missing
 * path compares as absent and never throws.
 */
export function traceCondition(condition: Condition | undefined, scope: ConditionScope): ConditionTrace {
  if (condition === undefined || condition === null) return { result: true, condition: null };
  const c = condition as Record<string, unknown>;
  if (Array.isArray(c.all)) {
    const children = (c.all as Condition[]).map((x) => traceCondition(x, scope));
    return { result: children.every((x) => x.result), condition, children };
  }
  if (Array.isArray(c.any)) {
    const children = (c.any as Condition[]).map((x) => traceCondition(x, scope));
    return { result: children.some((x) => x.result), condition, children };
  }
  if ('not' in c && c.not !== undefined) {
    const child = traceCondition(c.not as Condition, scope);
    return { result: !child.result, condition, children: [child] };
  }
  if (typeof c.path === 'string' && typeof c.op === 'string') {
    const raw = read(scope, c.path);
    const present = raw !== ABSENT;
    const actual = present ? raw : undefined;
    return { result: compare(c.op as ConditionOp, actual, c.value, present), condition, actual };
  }
  // Shorthand: every key must hold; an array means "one of".
  const children: ConditionTrace[] = [];
  for (const [key, expected] of Object.entries(c)) {
    if (expected === undefined) continue;
    const actual = shorthandActual(scope, key);
    const options = Array.isArray(expected) ? expected : [expected];
    children.push({ result: options.some((o) => o === actual), condition: { [key]: expected }, actual });
  }
  return { result: children.every((x) => x.result), condition, children };
}

/** Evaluates a condition to a boolean (SPEC §2.2). */
export function evaluateCondition(condition: Condition | undefined, scope: ConditionScope): boolean {
  return traceCondition(condition, scope).result;
}

const OP_WORDS: Record<ConditionOp, string> = {
  eq: 'must be',
  neq: 'must not be',
  in: 'must be one of',
  nin: 'must not be one of',
  gt: 'must be >',
  gte: 'must be ≥',
  lt: 'must be <',
  lte: 'must be ≤',
  contains: 'must contain',
  startsWith: 'must start with',
  exists: 'must be set',
};

function show(value: unknown): string {
  if (Array.isArray(value)) return value.map(show).join(', ');
  if (typeof value === 'string') return JSON.stringify(value);
  const s = JSON.stringify(value);
  return s === undefined ? String(value) : s.length > 80 ? `${s.slice(0, 77)}…` : s;
}

/** `order.data.total` reads as `total`: the data is what people filled in. */
const friendlyPath = (path: string): string => (path.startsWith('order.data.') ? path.slice('order.data.'.length) : path);

/**
 * Why a traced condition does not hold, in words with the values compared:
 * `total must be ≤ 500; it is 900`. Only the failing parts are named; an empty
 * string when the condition holds.
 */
export function explainTrace(trace: ConditionTrace): string {
  if (trace.result) return '';
  const c = (trace.condition ?? {}) as Record<string, unknown>;
  const children = trace.children ?? [];
  if (Array.isArray(c.any)) return children.map(explainTrace).filter(Boolean).join(', or ');
  if ('not' in c && c.not !== undefined) return `this must not hold: ${show(c.not)}`;
  if (typeof c.path === 'string' && typeof c.op === 'string') {
    const path = friendlyPath(c.path);
    const present = Object.hasOwn(trace, 'actual') && trace.actual !== undefined;
    const actual = present ? `it is ${show(trace.actual)}` : 'it is not set';
    if (c.op === 'exists') return c.value === false ? `${path} must not be set; it is ${show(trace.actual)}` : `${path} must be set`;
    return `${path} ${OP_WORDS[c.op as ConditionOp] ?? c.op} ${show(c.value)}; ${actual}`;
  }
  if (!Array.isArray(c.all) && children.every((x) => x.children === undefined)) {
    // Shorthand leaves: `{ kind: "order" }`.
    return children
      .filter((x) => !x.result)
      .map((x) => {
        const [key, expected] = Object.entries((x.condition ?? {}) as Record<string, unknown>)[0] ?? ['?', undefined];
        const word = Array.isArray(expected) ? 'must be one of' : 'must be';
        return `${key} ${word} ${show(expected)}; ${x.actual === undefined ? 'it is not set' : `it is ${show(x.actual)}`}`;
      })
      .join(', and ');
  }
  return children.map(explainTrace).filter(Boolean).join(', and ');
}
