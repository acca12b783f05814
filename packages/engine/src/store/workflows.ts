import type { Definition } from '@orderflow/core';
import { type Kysely, sql } from 'kysely';
import { bumpConfigEpoch } from './config-epoch.js';
import type { DB } from './schema.js';

type Db = Kysely<DB>;
const j = (v: unknown): string => JSON.stringify(v);

/** Each workflow's published version (null before the first publish), by key: what a change's configuration depends on. */
export async function listPublishedVersions(db: Db): Promise<{ key: string; published_version: number | null }[]> {
  const rows = await db.selectFrom('workflows').select(['key', 'published_version']).orderBy('key').execute();
  return rows.map((r) => ({ key: r.key, published_version: r.published_version === null ? null : Number(r.published_version) }));
}

export async function insertWorkflow(db: Db, key: string, name: string, draft: Definition, now: string): Promise<void> {
  await db
    .insertInto('workflows')
    .values({ key, name, draft_json: j(draft), draft_updated_at: now, published_version: null, created_at: now, updated_at: now })
    .execute();
}

export async function saveDraft(db: Db, key: string, draft: Definition | null, now: string): Promise<void> {
  const set: Partial<DB['workflows']> = { draft_json: draft === null ? null : j(draft), draft_updated_at: now, updated_at: now };
  if (draft) set.name = draft.name;
  await db.updateTable('workflows').set(set).where('key', '=', key).execute();
}

export async function publishVersion(db: Db, key: string, definition: Definition, by: string, now: string): Promise<number> {
  const last = await db
    .selectFrom('workflow_versions')
    .select((eb) => eb.fn.max('version').as('m'))
    .where('workflow', '=', key)
    .executeTakeFirst();
  const version = Number(last?.m ?? 0) + 1;
  await db
    .insertInto('workflow_versions')
    .values({ workflow: key, version, definition_json: j(definition), published_at: now, published_by: by })
    .execute();
  await db
    .updateTable('workflows')
    .set({ published_version: version, name: definition.name, draft_json: null, draft_updated_at: null, updated_at: now })
    .where('key', '=', key)
    .execute();
  bumpConfigEpoch();
  return version;
}

/** Published versions, newest first, with who published them (the token's name when it has one) and their orders. */
export async function listWorkflowVersions(db: Db, key: string) {
  const rows = await db
    .selectFrom('workflow_versions')
    .leftJoin('tokens', 'tokens.id', 'workflow_versions.published_by')
    .select([
      'workflow_versions.version',
      'workflow_versions.published_at',
      'workflow_versions.published_by',
      'tokens.name as publisher_name',
    ])
    .where('workflow_versions.workflow', '=', key)
    .orderBy('workflow_versions.version', 'desc')
    .execute();
  const counts = await db
    .selectFrom('orders')
    .select(['workflow_version', 'grp', (eb) => eb.fn.countAll<number>().as('n')])
    .where('workflow', '=', key)
    .groupBy(['workflow_version', 'grp'])
    .execute();
  return rows.map((r) => {
    const mine = counts.filter((c) => Number(c.workflow_version) === Number(r.version));
    const total = mine.reduce((sum, c) => sum + Number(c.n), 0);
    const inFlight = mine.filter((c) => c.grp !== 'completed' && c.grp !== 'cancelled').reduce((sum, c) => sum + Number(c.n), 0);
    return {
      version: Number(r.version),
      publishedAt: r.published_at,
      publishedBy: r.published_by,
      publisherName: r.publisher_name ?? (r.published_by === 'system' ? 'system' : null),
      orders: { total, inFlight },
    };
  });
}

/**
 * Drafts and published versions whose JSON contains `text` (a plain substring match: it only
 * narrows the rows, the caller parses the definitions to decide). Drafts by key, versions by
 * workflow and version.
 */
export async function definitionsContaining(
  db: Db,
  text: string,
): Promise<{
  drafts: { key: string; draft_json: string | null }[];
  versions: { workflow: string; version: number; definition_json: string }[];
}> {
  const like = `%${text}%`;
  const drafts = await db.selectFrom('workflows').select(['key', 'draft_json']).where('draft_json', 'like', like).orderBy('key').execute();
  const versions = await db
    .selectFrom('workflow_versions')
    .select(['workflow', 'version', 'definition_json'])
    .where('definition_json', 'like', like)
    .orderBy('workflow')
    .orderBy('version')
    .execute();
  return { drafts, versions };
}

/** Which orders of a workflow a bulk migration to `toVersion` takes (id and state), in id order, at most `limit`. */
export async function ordersToMigrate(
  db: Db,
  key: string,
  f: { toVersion: number; state?: string; group?: string; fromVersion?: number; ids?: string[]; limit: number },
): Promise<{ id: string; state: string }[]> {
  let q = db.selectFrom('orders').select(['id', 'state']).where('workflow', '=', key).where('workflow_version', '<', f.toVersion);
  if (f.state) q = q.where('state', '=', f.state);
  if (f.group) q = q.where('grp', '=', f.group);
  if (f.fromVersion) q = q.where('workflow_version', '=', f.fromVersion);
  if (f.ids) q = f.ids.length === 0 ? q.where(sql<boolean>`1 = 0`) : q.where('id', 'in', f.ids);
  return q.orderBy('id').limit(f.limit).execute();
}
