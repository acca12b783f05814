import type { Kysely } from 'kysely';
import type { DB } from './schema.js';

type Db = Kysely<DB>;

/** An email template as stored. */
export interface TemplateRecord {
  key: string;
  subject: string;
  html: string;
  text: string | null;
  description: string | null;
  updatedAt: string;
}

export async function listTemplates(db: Db): Promise<TemplateRecord[]> {
  const rows = await db.selectFrom('templates').selectAll().orderBy('key').execute();
  return rows.map((r) => ({
    key: r.key,
    subject: r.subject,
    html: r.html,
    text: r.text,
    description: r.description,
    updatedAt: r.updated_at,
  }));
}

export async function getTemplate(db: Db, key: string): Promise<TemplateRecord | undefined> {
  const r = await db.selectFrom('templates').selectAll().where('key', '=', key).executeTakeFirst();
  return r
    ? { key: r.key, subject: r.subject, html: r.html, text: r.text, description: r.description, updatedAt: r.updated_at }
    : undefined;
}

export async function upsertTemplate(
  db: Db,
  t: { key: string; subject: string; html: string; text?: string | null; description?: string | null },
  now: string,
): Promise<void> {
  const values = {
    key: t.key,
    subject: t.subject,
    html: t.html,
    text: t.text ?? null,
    description: t.description ?? null,
    updated_at: now,
  };
  await db
    .insertInto('templates')
    .values(values)
    .onConflict((oc) =>
      oc
        .column('key')
        .doUpdateSet({ subject: values.subject, html: values.html, text: values.text, description: values.description, updated_at: now }),
    )
    .execute();
}

export async function deleteTemplate(db: Db, key: string): Promise<boolean> {
  const r = await db.deleteFrom('templates').where('key', '=', key).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
