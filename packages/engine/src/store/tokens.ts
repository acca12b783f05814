import type { Kysely } from 'kysely';
import type { DB } from './schema.js';

type Db = Kysely<DB>;

/** A token as the API lists it: never its secret or hash. */
export interface TokenRecord {
  id: string;
  name: string | null;
  role: string;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
}

export async function insertToken(
  db: Db,
  t: { id: string; hash: string; role: string; name: string | null; now: string; expiresAt?: string | null },
): Promise<void> {
  await db
    .insertInto('tokens')
    .values({
      id: t.id,
      hash: t.hash,
      role: t.role,
      name: t.name,
      created_at: t.now,
      revoked_at: null,
      last_used_at: null,
      expires_at: t.expiresAt ?? null,
    })
    .execute();
}

/** The unrevoked token with this hash (expired ones included: the caller compares `expires_at`). */
export async function findTokenByHash(db: Db, hash: string) {
  return db.selectFrom('tokens').selectAll().where('hash', '=', hash).where('revoked_at', 'is', null).executeTakeFirst();
}

export async function touchToken(db: Db, id: string, now: string): Promise<void> {
  await db.updateTable('tokens').set({ last_used_at: now }).where('id', '=', id).execute();
}

export async function listTokens(db: Db, f: { limit: number; after?: string }): Promise<TokenRecord[]> {
  let q = db.selectFrom('tokens').selectAll().where('revoked_at', 'is', null);
  if (f.after) q = q.where('id', '>', f.after);
  const rows = await q.orderBy('id').limit(f.limit).execute();
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    role: r.role,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    expiresAt: r.expires_at,
  }));
}

/** The role of an unrevoked token, or undefined when there is none with this id. */
export async function activeTokenRole(db: Db, id: string): Promise<string | undefined> {
  const row = await db.selectFrom('tokens').select(['role']).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
  return row?.role;
}

/** True when an admin token other than `exceptId` is unrevoked and unexpired at `now`; without `exceptId`, any. */
export async function validAdminExists(db: Db, now: string | null, exceptId?: string): Promise<boolean> {
  let q = db.selectFrom('tokens').select('id').where('role', '=', 'admin').where('revoked_at', 'is', null);
  if (exceptId !== undefined) q = q.where('id', '!=', exceptId);
  if (now !== null) q = q.where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]));
  return (await q.executeTakeFirst()) !== undefined;
}

export async function revokeToken(db: Db, id: string, now: string): Promise<void> {
  await db.updateTable('tokens').set({ revoked_at: now }).where('id', '=', id).execute();
}

/** Removes a token row outright (the CLI's own short-lived token). */
export async function deleteToken(db: Db, id: string): Promise<void> {
  await db.deleteFrom('tokens').where('id', '=', id).execute();
}

/** Name and role of each of these tokens that exists (revoked ones included: history still names them). */
export async function tokenNames(db: Db, ids: string[]): Promise<{ id: string; name: string | null; role: string }[]> {
  if (ids.length === 0) return [];
  return db.selectFrom('tokens').select(['id', 'name', 'role']).where('id', 'in', ids).execute();
}
