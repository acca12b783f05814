import type { OutboxEntry } from '@orderflow/core';
import { type Kysely, sql } from 'kysely';
import { destinationOf } from './destination.js';
import type { DB } from './schema.js';
import type { DialectName } from './store.js';

/** One migration: an id (applied in order) and its schema change, written once for every dialect. */
interface Migration {
  id: string;
  up: (db: Kysely<DB>, dialect: DialectName) => Promise<void>;
}

// Kysely's schema builder renders each dialect's own types; text, integer and bigint are common ground.
export const MIGRATIONS: Migration[] = [
  {
    id: '0001_initial',
    async up(db) {
      await db.schema
        .createTable('workflows')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('draft_json', 'text')
        .addColumn('draft_updated_at', 'text')
        .addColumn('published_version', 'integer')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('workflow_versions')
        .addColumn('workflow', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('definition_json', 'text', (c) => c.notNull())
        .addColumn('published_at', 'text', (c) => c.notNull())
        .addColumn('published_by', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('workflow_versions_pk', ['workflow', 'version'])
        .execute();
      await db.schema
        .createTable('orders')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workflow', 'text', (c) => c.notNull())
        .addColumn('workflow_version', 'integer', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('external_ref', 'text')
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('grp', 'text', (c) => c.notNull())
        .addColumn('data_json', 'text', (c) => c.notNull())
        .addColumn('facts_json', 'text', (c) => c.notNull())
        .addColumn('cancellation_json', 'text')
        .addColumn('links_json', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('visit', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('state_entered_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('orders_external_ref').unique().on('orders').columns(['workflow', 'external_ref']).execute();
      await db.schema.createIndex('orders_workflow_state').on('orders').columns(['workflow', 'state']).execute();
      await db.schema.createIndex('orders_created').on('orders').columns(['created_at', 'id']).execute();
      await db.schema
        .createTable('history')
        .addColumn('order_id', 'text', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('to_state', 'text')
        .addColumn('rule_id', 'text')
        .addColumn('actor_type', 'text', (c) => c.notNull())
        .addColumn('entry_json', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('history_pk', ['order_id', 'seq'])
        .execute();
      await db.schema
        .createTable('deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('order_id', 'text', (c) => c.notNull())
        .addColumn('workflow', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('rule_id', 'text')
        .addColumn('action_json', 'text', (c) => c.notNull())
        .addColumn('envelope_json', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', 'text', (c) => c.notNull())
        .addColumn('lease_until', 'text')
        .addColumn('lease_token', 'text')
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('delivered_at', 'text')
        .execute();
      await db.schema.createIndex('deliveries_due').on('deliveries').columns(['status', 'next_attempt_at']).execute();
      await db.schema.createIndex('deliveries_order').on('deliveries').columns(['order_id']).execute();
      await db.schema
        .createTable('delivery_attempts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('delivery_id', 'text', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('duration_ms', 'integer', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('response_body', 'text')
        .addColumn('error', 'text')
        .execute();
      await db.schema.createIndex('delivery_attempts_delivery').on('delivery_attempts').columns(['delivery_id', 'attempt']).execute();
      await db.schema
        .createTable('timers')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('order_id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('due_at', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('visit', 'integer', (c) => c.notNull())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('rule_id', 'text')
        .addColumn('action_index', 'integer')
        .addColumn('payload_json', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('lease_until', 'text')
        .addColumn('lease_token', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('fired_at', 'text')
        .execute();
      await db.schema.createIndex('timers_due').on('timers').columns(['status', 'due_at']).execute();
      await db.schema.createIndex('timers_order').on('timers').columns(['order_id', 'status']).execute();
      await db.schema
        .createTable('idempotency_keys')
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('request_hash', 'text', (c) => c.notNull())
        .addColumn('response_status', 'integer', (c) => c.notNull())
        .addColumn('response_json', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('idempotency_keys_pk', ['scope', 'key'])
        .execute();
      await db.schema
        .createTable('tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('revoked_at', 'text')
        .execute();
      await db.schema
        .createTable('templates')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('html', 'text', (c) => c.notNull())
        .addColumn('text', 'text')
        .addColumn('description', 'text')
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('endpoints')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('headers_json', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('consecutive_failures', 'integer', (c) => c.notNull())
        .addColumn('disabled_reason', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('notifications')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('severity', 'text', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('order_id', 'text')
        .addColumn('delivery_id', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('read_at', 'text')
        .execute();
      await db.schema
        .createTable('mailbox')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('delivery_id', 'text')
        .addColumn('to_json', 'text', (c) => c.notNull())
        .addColumn('cc_json', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('html', 'text', (c) => c.notNull())
        .addColumn('text', 'text')
        .addColumn('message_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('rule_runs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('order_id', 'text', (c) => c.notNull())
        .addColumn('workflow', 'text', (c) => c.notNull())
        .addColumn('rule_id', 'text', (c) => c.notNull())
        .addColumn('trigger', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('matched', 'integer', (c) => c.notNull())
        .addColumn('run_json', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('rule_runs_order').on('rule_runs').columns(['order_id', 'at']).execute();
      await db.schema
        .createTable('settings')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value_json', 'text', (c) => c.notNull())
        .execute();
    },
  },
  {
    id: '0003_order_counters',
    async up(db, dialect) {
      // The last history seq and the recent rule-caused entries live on the order row, which every
      // change reads anyway: no max(seq) and no count over the history per change.
      await db.schema
        .alterTable('orders')
        .addColumn('history_seq', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.alterTable('orders').addColumn('rule_entries_json', 'text').execute();
      await sql`update orders set history_seq = coalesce((select max(h.seq) from history h where h.order_id = orders.id), 0)`.execute(db);
      if (dialect === 'postgres') {
        // Other processes cache workflows and settings; a commit that changes them tells them so.
        await sql`create or replace function orderflow_config_changed() returns trigger language plpgsql as $$
          begin perform pg_notify('orderflow_config', ''); return null; end $$`.execute(db);
        await sql`create trigger settings_changed after insert or update or delete on settings
          for each statement execute function orderflow_config_changed()`.execute(db);
        await sql`create trigger workflows_changed after insert or update or delete on workflows
          for each statement execute function orderflow_config_changed()`.execute(db);
      }
    },
  },
  {
    id: '0004_tokens_alert_folding',
    async up(db) {
      await db.schema.alterTable('tokens').addColumn('last_used_at', 'text').execute();
      await db.schema.alterTable('tokens').addColumn('expires_at', 'text').execute();
      await db.schema.alterTable('notifications').addColumn('fold_key', 'text').execute();
      await db.schema
        .alterTable('notifications')
        .addColumn('count', 'integer', (c) => c.notNull().defaultTo(1))
        .execute();
      await db.schema.alterTable('notifications').addColumn('last_at', 'text').execute();
      // One open alert per key, even with several workers raising it at once.
      await sql`create unique index notifications_open_fold on notifications (fold_key) where read_at is null`.execute(db);
      await db.schema.createIndex('idempotency_keys_created').on('idempotency_keys').column('created_at').execute();
    },
  },
  {
    id: '0005_order_timers_visit',
    async up(db) {
      // The last visit with pending visit-bound timers lives on the order row: leaving a visit after
      // it needs no update of the timers table.
      await db.schema.alterTable('orders').addColumn('timers_visit', 'integer').execute();
      await sql`update orders set timers_visit = coalesce((select max(t.visit) from timers t
        where t.order_id = orders.id and t.scope = 'visit' and t.status = 'pending'), 0)`.execute(db);
    },
  },
  {
    id: '0006_tokens_changed_notify',
    async up(db, dialect) {
      // Other processes cache looked-up tokens; a revocation (or a new expiry) tells them, so it
      // takes effect there at once. SQLite needs nothing: another connection's commit moves
      // data_version, which the cache checks.
      if (dialect === 'postgres') {
        await sql`create trigger tokens_changed after update of revoked_at, expires_at, role or delete on tokens
          for each statement execute function orderflow_config_changed()`.execute(db);
      }
    },
  },
  {
    id: '0007_delivery_destination',
    async up(db) {
      // Where each delivery goes, so a claim can pass over the rows of a destination the worker
      // already holds enough of (one slow receiver's backlog must not fill its claims).
      await db.schema.alterTable('deliveries').addColumn('destination', 'text').execute();
      // Rows that can still be sent (or retried by hand) get theirs now; delivered rows keep null,
      // which a claim treats as a destination of its own it never holds back.
      const rows = await db.selectFrom('deliveries').select(['id', 'action_json']).where('status', '<>', 'delivered').execute();
      const byDestination = new Map<string, string[]>();
      for (const r of rows) {
        let destination: string;
        try {
          destination = destinationOf(JSON.parse(r.action_json) as OutboxEntry['action']);
        } catch {
          continue;
        }
        const ids = byDestination.get(destination);
        if (ids) ids.push(r.id);
        else byDestination.set(destination, [r.id]);
      }
      for (const [destination, ids] of byDestination) {
        for (let at = 0; at < ids.length; at += 500) {
          await db
            .updateTable('deliveries')
            .set({ destination })
            .where('id', 'in', ids.slice(at, at + 500))
            .execute();
        }
      }
    },
  },
  {
    // The rule runs of one change are stored in one row per order instead of one row per run:
    // a change writes one row and two index entries where it wrote four rows and eight entries.
    // Rows in `rule_runs` stay where they are and are read with these (a process of an earlier
    // version, during a rolling upgrade, still writes there).
    id: '0008_rule_run_sets',
    async up(db) {
      await db.schema
        .createTable('rule_run_sets')
        .addColumn('last_id', 'text', (c) => c.primaryKey())
        .addColumn('first_id', 'text', (c) => c.notNull())
        .addColumn('order_id', 'text', (c) => c.notNull())
        .addColumn('workflow', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('rule_ids', 'text', (c) => c.notNull())
        .addColumn('runs', 'integer', (c) => c.notNull())
        .addColumn('matched', 'integer', (c) => c.notNull())
        .addColumn('runs_json', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('rule_run_sets_order').on('rule_run_sets').columns(['order_id', 'last_id']).execute();
    },
  },
  {
    // A change that appends history for an order stores that order's rule runs in its last history
    // row: the row is written anyway, so the runs cost one entry in a small index (which only rows
    // with runs enter) instead of a row and two index entries. The columns are those of
    // `rule_run_sets`, which keeps the runs of changes that append no history.
    id: '0009_history_rule_runs',
    async up(db) {
      for (const [name, type] of [
        ['runs_key', 'text'],
        ['runs_first', 'text'],
        ['runs_workflow', 'text'],
        ['runs_rule_ids', 'text'],
        ['runs_count', 'integer'],
        ['runs_matched', 'integer'],
        ['runs_json', 'text'],
      ] as const) {
        await db.schema.alterTable('history').addColumn(name, type).execute();
      }
      await sql`create index history_runs on history (runs_key) where runs_key is not null`.execute(db);
    },
  },
];

/** Applies pending migrations in order, each in its own transaction. Safe to call on every start. */
export async function migrate(db: Kysely<DB>, dialect: DialectName): Promise<string[]> {
  await db.schema
    .createTable('schema_migrations')
    .ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('applied_at', 'text', (c) => c.notNull())
    .execute();
  const done = new Set((await db.selectFrom('schema_migrations').select('id').execute()).map((r) => r.id));
  const applied: string[] = [];
  for (const m of MIGRATIONS) {
    if (done.has(m.id)) continue;
    await db.transaction().execute(async (tx) => {
      await m.up(tx, dialect);
      await tx.insertInto('schema_migrations').values({ id: m.id, applied_at: new Date().toISOString() }).execute();
    });
    applied.push(m.id);
  }
  return applied;
}

/** True when every migration has been applied (for `/readyz`). */
export async function migrationsDone(db: Kysely<DB>): Promise<boolean> {
  try {
    const rows = await db.selectFrom('schema_migrations').select('id').execute();
    const have = new Set(rows.map((r) => r.id));
    return MIGRATIONS.every((m) => have.has(m.id));
  } catch {
    return false;
  }
}

export { sql };
