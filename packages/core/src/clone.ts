/** Deep copy of a JSON value (orders, data and definitions are plain JSON). */
export function cloneJson<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}
