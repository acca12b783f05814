import type { Kysely } from 'kysely';
import type { DB } from './schema.js';

/** Stores `value` under `key` unless a value is already stored there (concurrent first writers: one wins). */
export async function insertSettingIfAbsent(db: Kysely<DB>, key: string, value: unknown): Promise<void> {
  await db
    .insertInto('settings')
    .values({ key, value_json: JSON.stringify(value) })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
}
