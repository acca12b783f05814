import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { ChangeConnection, CommitWritesFailed, FLUSH, type TransactionHooks } from './changes-postgres.js';
import { createGroupCommit } from './group-commit.js';
import { migrate, migrationsDone } from './migrations.js';
import type { DB } from './schema.js';
import type { Store } from './store.js';

/** PostgreSQL store options. */
export interface PostgresStoreOptions {
  connectionString: string;
  /** Schema to use (created if missing); tests give each suite its own. @default the server's search_path */
  schema?: string;
  /** @default 10 */
  poolSize?: number;
  /** Called with the number of changes each shared transaction committed. */
  onBatch?: (size: number) => void;
}

const WAKE_CHANNEL = 'orderflow_wake';
/** Notified by triggers on `settings` and `workflows` (migration 0003). */
const CONFIG_CHANNEL = 'orderflow_config';
/** Distinct statement texts given a name (prepared once per connection); later ones run unnamed. */
const NAMED_STATEMENTS = 2000;
/** How long a change in a shared transaction waits for another transaction's row lock before it is retried. */
const LOCK_WAIT_MS = 100;
const PREPARABLE = /^\s*(select|insert|update|delete|with)\b/i;

/**
 * True when PostgreSQL refuses a prepared statement because its table changed shape since it was
 * planned (another process migrated): "cached plan must not change result type".
 */
const isStalePlan = (e: unknown): boolean =>
  (e as { code?: string })?.code === '0A000' && /cached plan/i.test((e as { message?: string })?.message ?? '');

/**
 * A pool whose clients run every query as a named prepared statement: PostgreSQL parses and
 * plans each distinct text once per connection instead of on every call. A statement whose
 * plan went stale gets a new name, so every connection prepares it again; outside a
 * transaction the call is simply repeated, inside one the error ends the change and the group
 * commit runs it again in a later transaction. Each client holds a change's writes and its
 * transaction control back so they travel in fewer round trips (changes-postgres.ts).
 */
function preparedPool(pool: pg.Pool, hooks: TransactionHooks) {
  const names = new Map<string, string>();
  let counter = 0;
  const nameOf = (text: string): string | undefined => {
    let name = names.get(text);
    if (name === undefined && names.size < NAMED_STATEMENTS && PREPARABLE.test(text)) {
      name = `of${counter++}`;
      names.set(text, name);
    }
    return name;
  };
  /** Runs a statement named; a stale plan is prepared again under a new name (at once outside a transaction). */
  const prepared = (client: pg.PoolClient) => async (text: string, values: unknown[], inTransaction: boolean) => {
    const name = nameOf(text);
    if (name === undefined) return client.query(text, values);
    try {
      return await client.query({ name, text, values });
    } catch (e) {
      if (!isStalePlan(e)) throw e;
      if (names.get(text) === name) names.set(text, `of${counter++}`);
      if (inTransaction) throw e;
      return client.query({ name: names.get(text) as string, text, values });
    }
  };
  return {
    async connect() {
      const client = await pool.connect();
      // Holds a change's writes and transaction control until they can travel together.
      // The server's transaction status comes with each ReadyForQuery. A failed query is answered
      // before its ReadyForQuery arrives, so an empty query (sent only after it) waits for it.
      const status = async (): Promise<string | null> => {
        await client.query('');
        return client.getTransactionStatus();
      };
      const conn = new ChangeConnection(prepared(client), (text) => client.query(text) as never, hooks, status);
      return {
        query(text: unknown, values?: unknown[]) {
          if (typeof text === 'string') return conn.query(text, values);
          // Submittables (cursors) are not used on the change path; they must not overtake held statements.
          if (conn.holding) return Promise.reject(new Error('a submittable query cannot follow held statements'));
          return client.query(text as string, values);
        },
        release: (discard?: boolean) => {
          // Something still held means a change was cut off mid-way: the connection is not reused.
          const broken = discard === true || conn.holding;
          conn.reset();
          client.release(broken || undefined);
        },
      };
    },
    end: () => pool.end(),
  };
}
// Any constant shared by every Orderflow process: serialises migrations across them.
const MIGRATION_LOCK = 7_210_421_337;

// int8 (count(*), sums) as numbers: counts here stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

/**
 * The PostgreSQL dialect leaf: a pg pool under the shared Kysely code.
 * Transactions run at READ COMMITTED; correctness comes from version checks on
 * orders and from `FOR UPDATE SKIP LOCKED` claims with fencing tokens, never
 * from SERIALIZABLE. Migrations are serialised with an advisory lock.
 * Commits wake other processes through LISTEN/NOTIFY.
 */
export function createPostgresStore(opts: PostgresStoreOptions): Store {
  if (opts.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(opts.schema)) throw new Error(`invalid schema name ${opts.schema}`);
  const clientConfig: pg.PoolConfig = { connectionString: opts.connectionString };
  if (opts.schema) clientConfig.options = `-c search_path=${opts.schema}`;
  const pool = new pg.Pool({ ...clientConfig, max: opts.poolSize ?? 10 });
  // An idle client that dies (server restart) must not crash the process.
  pool.on('error', () => undefined);
  // Wake-ups asked for while a transaction of this store is open travel with its COMMIT (see wake()).
  let openTransactions = 0;
  let riders: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  const notifyFor = (waiting: typeof riders): void => {
    if (waiting.length === 0) return;
    notify().then(
      () => {
        for (const w of waiting) w.resolve();
      },
      (e: unknown) => {
        for (const w of waiting) w.reject(e);
      },
    );
  };
  const hooks: TransactionHooks = {
    began: () => {
      openTransactions++;
    },
    committing: () => {
      if (riders.length === 0) return undefined;
      const taken = riders;
      riders = [];
      return {
        text: `notify ${WAKE_CHANNEL}`,
        // Not committed: the notification never went out, so it is sent on its own.
        done: (committed) => {
          if (!committed) return notifyFor(taken);
          for (const w of taken) w.resolve();
        },
      };
    },
    ended: () => {
      openTransactions--;
      // No COMMIT left to ride with: the wake-ups still waiting go out on their own.
      if (openTransactions === 0 && riders.length > 0) {
        const taken = riders;
        riders = [];
        notifyFor(taken);
      }
    },
  };
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool: preparedPool(pool, hooks) as unknown as pg.Pool }) });
  let schemaReady: Promise<void> | undefined;
  const ensureSchema = () => {
    if (!opts.schema) return Promise.resolve();
    schemaReady ??= sql
      .raw(`create schema if not exists ${opts.schema}`)
      .execute(db)
      .then(() => undefined);
    return schemaReady;
  };
  const listeners: pg.Client[] = [];
  const groupCommit = createGroupCommit(db, {
    begin: 'begin',
    // Batches hold their row locks until the shared commit, so two of them can wait on each other
    // (deadlock) or on a twin's unique key. Waiting briefly and retrying the one change in a later
    // batch beats PostgreSQL's one-second deadlock detection holding up every change of both.
    afterBegin: [`set local lock_timeout = '${LOCK_WAIT_MS}ms'`],
    // Half the pool writes; the other half stays free for reads and LISTEN-driven work.
    runners: Math.max(1, Math.floor((opts.poolSize ?? 10) / 2)),
    retryable: (e) => ['40P01', '40001', '55P03'].includes((e as { code?: string })?.code ?? '') || isStalePlan(e),
    // Each change's held writes go out at its end, inside its savepoint, so a failure is the
    // change's own; the last change of a batch sends them with the COMMIT.
    lastWritesWithCommit: { flush: FLUSH, ownFailure: (e) => (e instanceof CommitWritesFailed ? e.cause : undefined) },
    ...(opts.onBatch ? { onBatch: opts.onBatch } : {}),
  });

  let waking: Promise<void> | null = null;
  let wakeAgain: Promise<void> | null = null;
  const notify = (): Promise<void> => {
    const sent = sql`select pg_notify(${WAKE_CHANNEL}, '')`.execute(db).then(() => undefined);
    waking = sent;
    const clear = () => {
      if (waking === sent) waking = null;
    };
    sent.then(clear, clear);
    return sent;
  };

  // Workflow and settings caches are valid while no change notification arrived.
  let configCounter = 0;
  let configListening: Promise<boolean> | null = null;
  const listenConfig = async (): Promise<boolean> => {
    const client = new pg.Client(clientConfig);
    const lost = () => {
      configListening = null;
      configCounter++;
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (n) => {
      if (n.channel === CONFIG_CHANNEL) configCounter++;
    });
    try {
      await client.connect();
      await client.query(`listen ${CONFIG_CHANNEL}`);
    } catch {
      lost();
      await client.end().catch(() => undefined);
      return false;
    }
    listeners.push(client);
    return true;
  };

  return {
    dialect: 'postgres',
    capabilities: { rowLocks: true, caseInsensitiveLike: 'ilike' },
    db,
    async transaction(fn) {
      await ensureSchema();
      return groupCommit(fn);
    },
    async configVersion() {
      configListening ??= listenConfig();
      // Without a listener nothing would say when the cache goes stale: never reuse it then.
      return (await configListening) ? configCounter : ++configCounter;
    },
    async migrate() {
      await ensureSchema();
      return db.connection().execute(async (conn) => {
        await sql`select pg_advisory_lock(${MIGRATION_LOCK})`.execute(conn);
        try {
          return await migrate(conn, 'postgres');
        } finally {
          await sql`select pg_advisory_unlock(${MIGRATION_LOCK})`.execute(conn);
        }
      });
    },
    async ready() {
      try {
        await sql`select 1`.execute(db);
        return await migrationsDone(db);
      } catch {
        return false;
      }
    },
    async onWake(fn) {
      const client = new pg.Client(clientConfig);
      client.on('error', () => undefined);
      await client.connect();
      client.on('notification', (n) => {
        if (n.channel === WAKE_CHANNEL) fn();
      });
      await client.query(`listen ${WAKE_CHANNEL}`);
      listeners.push(client);
      return async () => {
        await client.end().catch(() => undefined);
      };
    },
    wake() {
      // Every caller is answered by a notification sent after it asked. While a transaction of
      // this store is open (under load, a shared one nearly always is), the notification goes
      // as `notify` in the same simple query as its COMMIT, which saves a round trip on a
      // connection of its own; PostgreSQL delivers it once that transaction commits.
      if (openTransactions > 0) {
        return new Promise<void>((resolve, reject) => {
          riders.push({ resolve, reject });
        });
      }
      // Otherwise it is sent at once; callers that ask while one is on its way share the next
      // one (a burst of commits costs two, not one per commit).
      if (waking) {
        wakeAgain ??= waking
          .then(
            () => undefined,
            () => undefined,
          )
          .then(() => {
            wakeAgain = null;
            return notify();
          });
        return wakeAgain;
      }
      return notify();
    },
    async close() {
      await Promise.all(listeners.map((c) => c.end().catch(() => undefined)));
      await db.destroy();
    },
  };
}

/** Drops a schema (tests clean up after themselves). */
export async function dropPostgresSchema(connectionString: string, schema: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid schema name ${schema}`);
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(`drop schema if exists ${schema} cascade`);
  } finally {
    await client.end();
  }
}
