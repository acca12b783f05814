import type { Kysely, Selectable } from 'kysely';
import type { DB } from './schema.js';

/** A message the built-in mailbox keeps instead of sending it. */
export interface MailboxRow {
  id: string;
  deliveryId: string;
  to: readonly string[];
  cc: readonly string[];
  subject: string;
  html: string;
  text: string;
  messageId: string;
  createdAt: string;
}

/** Stores a message in the built-in mailbox. */
export async function insertMailboxMessage(db: Kysely<DB>, m: MailboxRow): Promise<void> {
  await db
    .insertInto('mailbox')
    .values({
      id: m.id,
      delivery_id: m.deliveryId,
      to_json: JSON.stringify(m.to),
      cc_json: JSON.stringify(m.cc),
      subject: m.subject,
      html: m.html,
      text: m.text,
      message_id: m.messageId,
      created_at: m.createdAt,
    })
    .execute();
}

/** A message the local mailbox caught. */
export type MailRow = Selectable<DB['mailbox']>;

/** Newest first, before the id `before`. */
export async function listMail(db: Kysely<DB>, f: { deliveryId?: string; before?: string; limit: number }): Promise<MailRow[]> {
  let q = db.selectFrom('mailbox').selectAll();
  if (f.deliveryId) q = q.where('delivery_id', '=', f.deliveryId);
  if (f.before) q = q.where('id', '<', f.before);
  return q.orderBy('id', 'desc').limit(f.limit).execute();
}

export async function getMail(db: Kysely<DB>, id: string): Promise<MailRow | undefined> {
  return db.selectFrom('mailbox').selectAll().where('id', '=', id).executeTakeFirst();
}

/** How many messages the mailbox holds. */
export async function countMail(db: Kysely<DB>): Promise<number> {
  const r = await db
    .selectFrom('mailbox')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirst();
  return Number(r?.n ?? 0);
}
