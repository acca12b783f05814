import type { Store } from './store.js';

/** PostgreSQL store options. */
export interface PostgresStoreOptions {
  connectionString: string;
}

/** The PostgreSQL dialect leaf. */
export function createPostgresStore(_opts: PostgresStoreOptions): Store {
  throw new Error('ORDERFLOW_DATABASE_URL: PostgreSQL support is not available in this build; use sqlite:<path>.');
}
