import type { Kysely } from 'kysely';
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
