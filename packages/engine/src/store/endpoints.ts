import type { Kysely, Selectable, Updateable } from 'kysely';
import type { DB } from './schema.js';

/** A webhook endpoint row. */
export type EndpointRow = Selectable<DB['endpoints']>;

/** The endpoint named `key`, if it exists. */
export async function getEndpointRow(db: Kysely<DB>, key: string): Promise<EndpointRow | undefined> {
  return db.selectFrom('endpoints').selectAll().where('key', '=', key).executeTakeFirst();
}

/** Disables an enabled endpoint; false when it was already disabled (or does not exist). */
export async function disableEndpoint(db: Kysely<DB>, key: string, reason: string, now: string): Promise<boolean> {
  const r = await db
    .updateTable('endpoints')
    .set({ enabled: 0, disabled_reason: reason, updated_at: now })
    .where('key', '=', key)
    .where('enabled', '=', 1)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** A delivery to the endpoint went through: its run of failures ends. */
export async function resetEndpointFailures(db: Kysely<DB>, key: string): Promise<void> {
  await db.updateTable('endpoints').set({ consecutive_failures: 0 }).where('key', '=', key).execute();
}

/** Counts one more failed delivery in a row; answers the new count and whether the endpoint is enabled (undefined when it does not exist). */
export async function countEndpointFailure(
  db: Kysely<DB>,
  key: string,
): Promise<{ consecutiveFailures: number; enabled: boolean } | undefined> {
  await db
    .updateTable('endpoints')
    .set((eb) => ({ consecutive_failures: eb('consecutive_failures', '+', 1) }))
    .where('key', '=', key)
    .execute();
  const ep = await db.selectFrom('endpoints').select(['consecutive_failures', 'enabled']).where('key', '=', key).executeTakeFirst();
  return ep ? { consecutiveFailures: Number(ep.consecutive_failures ?? 0), enabled: Number(ep.enabled) === 1 } : undefined;
}

export async function listEndpoints(db: Kysely<DB>): Promise<EndpointRow[]> {
  return db.selectFrom('endpoints').selectAll().orderBy('key').execute();
}

/** Every endpoint key, for checking the references of rules. */
export async function listEndpointKeys(db: Kysely<DB>): Promise<string[]> {
  return (await db.selectFrom('endpoints').select('key').execute()).map((r) => r.key);
}

export async function insertEndpoint(
  db: Kysely<DB>,
  e: { key: string; url: string; secret: string; headers: Record<string, string>; enabled: boolean; now: string },
): Promise<void> {
  await db
    .insertInto('endpoints')
    .values({
      key: e.key,
      url: e.url,
      secret: e.secret,
      headers_json: JSON.stringify(e.headers),
      enabled: e.enabled ? 1 : 0,
      consecutive_failures: 0,
      disabled_reason: null,
      created_at: e.now,
      updated_at: e.now,
    })
    .execute();
}

export async function updateEndpoint(db: Kysely<DB>, key: string, set: Updateable<DB['endpoints']>): Promise<void> {
  await db.updateTable('endpoints').set(set).where('key', '=', key).execute();
}

/** False when there was no such endpoint. */
export async function deleteEndpoint(db: Kysely<DB>, key: string): Promise<boolean> {
  const r = await db.deleteFrom('endpoints').where('key', '=', key).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
