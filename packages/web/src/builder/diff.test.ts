import { DEMO_ORDERS, type Definition } from '@orderflow/core';
import { describe, expect, it } from 'vitest';
import { diffDefinitions } from './diff';

/** The same value with every object's keys in reverse order. */
function reversedKeys<T>(v: T): T {
  if (Array.isArray(v)) return v.map(reversedKeys) as T;
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(
    Object.keys(v)
      .reverse()
      .map((k) => [k, reversedKeys((v as Record<string, unknown>)[k])]),
  ) as T;
}

describe('diffDefinitions', () => {
  it('finds nothing between a definition and itself with every key reordered', () => {
    const reordered = reversedKeys(DEMO_ORDERS);
    expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(DEMO_ORDERS));
    expect(diffDefinitions(DEMO_ORDERS, reordered)).toEqual([]);
  });

  it('still reports a real change inside a reordered definition', () => {
    const next: Definition = reversedKeys(structuredClone(DEMO_ORDERS));
    const rule = next.rules?.find((r) => r.id === 'delay-apology');
    if (!rule) throw new Error('demo rule missing');
    rule.conditions = { new_state: 'shipping' };
    const lines = diffDefinitions(DEMO_ORDERS, next);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ change: 'changed', subject: 'rule', target: 'delay-apology' });
    expect(lines[0]?.text).toContain('conditions');
  });
});
