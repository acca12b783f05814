import type { Kysely } from 'kysely';
import { bumpConfigEpoch } from './config-epoch.js';
import type { DB } from './schema.js';

/** Stores `value` under `key` unless a value is already stored there (concurrent first writers: one wins). */
export async function insertSettingIfAbsent(db: Kysely<DB>, key: string, value: unknown): Promise<void> {
  await db
    .insertInto('settings')
    .values({ key, value_json: JSON.stringify(value) })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
}

export async function getSetting<T>(db: Kysely<DB>, key: string): Promise<T | undefined> {
  const r = await db.selectFrom('settings').select('value_json').where('key', '=', key).executeTakeFirst();
  return r ? (JSON.parse(r.value_json) as T) : undefined;
}

export async function putSetting(db: Kysely<DB>, key: string, value: unknown): Promise<void> {
  const json = JSON.stringify(value);
  await db
    .insertInto('settings')
    .values({ key, value_json: json })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value_json: json }))
    .execute();
  bumpConfigEpoch();
}

/**
 * Stores a setting that must not exist yet: a unique violation when it does, so two processes
 * racing to do something once (seeding the demo) find out which one came first.
 */
export async function insertSettingOnce(db: Kysely<DB>, key: string, value: unknown): Promise<void> {
  await db
    .insertInto('settings')
    .values({ key, value_json: JSON.stringify(value) })
    .execute();
}
