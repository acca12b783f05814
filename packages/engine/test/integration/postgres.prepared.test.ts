import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { getOrder } from '../../src/store/changes.js';
import { DIALECTS, freshStore, openStoreAt } from '../dialects.js';

/**
 * PostgreSQL runs every statement as a named prepared statement, planned once per connection.
 * When another process changes a table (a newer Orderflow migrating during a rolling upgrade),
 * such a plan no longer fits: PostgreSQL refuses it with "cached plan must not change result
 * type". The store must prepare it again instead of failing every later call.
 */
describe.skipIf(!DIALECTS.includes('postgres'))('named statements after another process alters a table (postgres)', () => {
  let cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c();
    cleanups = [];
  });

  it('prepares a statement again when its table changed shape, for reads and for changes', async () => {
    const { store, url, cleanup } = await freshStore('postgres');
    cleanups.push(cleanup);
    const other = openStoreAt(url);
    cleanups.push(() => other.close());
    // Every pooled connection prepares the statement.
    await Promise.all(Array.from({ length: 10 }, () => getOrder(store.db, 'ord_none')));
    await store.transaction((tx) => getOrder(tx, 'ord_none'));

    await sql`alter table orders add column added_elsewhere text`.execute(other.db);

    // First inside a change (the shared transaction runs it again), then plain reads.
    expect(await store.transaction((tx) => getOrder(tx, 'ord_none'))).toBeUndefined();
    for (let i = 0; i < 10; i++) expect(await getOrder(store.db, 'ord_none')).toBeUndefined();
  });
});
