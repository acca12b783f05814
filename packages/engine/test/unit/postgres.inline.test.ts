import { describe, expect, it } from 'vitest';
import { inlined } from '../../src/store/changes-postgres.js';

/**
 * On PostgreSQL, a statement that travels in a simple query with transaction control (or with a
 * COMMIT) has its values written in as quoted literals. Only placeholders outside string literals
 * and quoted identifiers are values; anything that cannot be written in plainly stays a parameter.
 */
describe('values written into a statement for a simple query (postgres)', () => {
  it('writes values in for placeholders, leaving string literals and quoted names alone', () => {
    expect(inlined(`update timers set status = 'cancelled' where order_id = $1 and visit = $2`, ['ord_1', 3])).toBe(
      `update timers set status = 'cancelled' where order_id = 'ord_1' and visit = '3'`,
    );
    expect(inlined(`select '$1', 'it''s $2', "$3" from t where a = $1`, ['x'])).toBe(`select '$1', 'it''s $2', "$3" from t where a = 'x'`);
    expect(inlined('insert into t (a, b) values ($1, $2)', [null, undefined])).toBe('insert into t (a, b) values (null, null)');
    expect(inlined('select $1', [`it's`])).toBe(`select 'it''s'`);
    // Backslashes go in an escape string, spaced off what comes before it.
    expect(inlined('select $1', ['back\\slash'])).toBe(`select  E'back\\\\slash'`);
    expect(inlined('select $10, $1', ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'])).toBe(`select 'j', 'a'`);
  });

  it('refuses what it cannot write in plainly', () => {
    // Escape strings, backslashes in literals, dollar quoting, comments, several statements.
    expect(inlined(`select E'a\\'' || $1`, ['x'])).toBeUndefined();
    expect(inlined(`select 'a\\' || $1`, ['x'])).toBeUndefined();
    expect(inlined('select $$x$$ || $1', ['x'])).toBeUndefined();
    expect(inlined('select $1 -- note', ['x'])).toBeUndefined();
    expect(inlined('select $1 /* note */', ['x'])).toBeUndefined();
    expect(inlined('select $1; select 2', ['x'])).toBeUndefined();
    expect(inlined(`select 'open`, [])).toBeUndefined();
    // Values that are not plain text or finite numbers, a NUL character, a missing value.
    expect(inlined('select $1', [new Date(0)])).toBeUndefined();
    expect(inlined('select $1', [true])).toBeUndefined();
    expect(inlined('select $1', [Number.NaN])).toBeUndefined();
    expect(inlined('select $1', ['a\0b'])).toBeUndefined();
    expect(inlined('select $2', ['a'])).toBeUndefined();
  });
});
