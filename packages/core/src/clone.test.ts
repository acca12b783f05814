import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cloneJson } from './clone.js';

const viaJson = (v: unknown) => JSON.parse(JSON.stringify(v));

describe('cloneJson', () => {
  it('equals a JSON round trip for any JSON value, and shares no object with the original', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const c = cloneJson(v);
        expect(c).toEqual(viaJson(v));
        if (v !== null && typeof v === 'object') expect(c).not.toBe(v);
      }),
    );
  });

  it('does what JSON does with values JSON cannot hold', () => {
    const odd = {
      u: undefined,
      f: () => 1,
      n: Number.NaN,
      z: -0,
      i: Number.POSITIVE_INFINITY,
      d: new Date('2026-01-01T00:00:00.000Z'),
      a: [undefined, () => 1, Number.NaN, 1],
      nested: { toJSON: () => ({ x: 1 }) },
    };
    expect(cloneJson(odd)).toEqual(viaJson(odd));
    expect(Object.is((cloneJson(odd) as { z: number }).z, 0)).toBe(true);
    expect(() => cloneJson({ b: 1n })).toThrow(TypeError);
  });

  it('keeps an own "__proto__" member as a member and never changes the prototype', () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}');
    const c = cloneJson(parsed) as Record<string, unknown>;
    expect(Object.getPrototypeOf(c)).toBe(Object.prototype);
    expect(Object.keys(c)).toEqual(['__proto__', 'a']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.stringify(c)).toBe(JSON.stringify(parsed));
  });
});
