/**
 * Deep copy of a JSON value (orders, data and definitions are plain JSON), with the result
 * `JSON.parse(JSON.stringify(value))` would give: undefined members and functions left out of
 * objects, null in their place in arrays, non-finite numbers as null, `toJSON` honoured (dates
 * become strings). It walks the value instead of printing and parsing it: several times faster
 * on the orders every change copies.
 */
export function cloneJson<T>(value: T): T {
  return value === undefined ? value : (copy(value, true) as T);
}

function copy(v: unknown, inArray: boolean): unknown {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      // -0 prints as 0.
      return Number.isFinite(v) ? (v === 0 ? 0 : v) : null;
    case 'object': {
      if (v === null) return null;
      const withJson = v as { toJSON?: () => unknown };
      if (typeof withJson.toJSON === 'function') return copy(withJson.toJSON(), inArray);
      if (Array.isArray(v)) {
        const out = new Array<unknown>(v.length);
        for (let i = 0; i < v.length; i++) out[i] = copy(v[i], true);
        return out;
      }
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v)) {
        const x = copy((v as Record<string, unknown>)[k], false);
        if (x === undefined) continue;
        // An own "__proto__" member (JSON.parse makes one) stays a member, never the prototype.
        if (k === '__proto__') Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
        else out[k] = x;
      }
      return out;
    }
    case 'bigint':
      // JSON.stringify throws on it; so does the copy.
      throw new TypeError('Do not know how to serialize a BigInt');
    default:
      // undefined, functions, symbols: left out of objects, null in arrays (as JSON would).
      return inArray ? null : undefined;
  }
}
