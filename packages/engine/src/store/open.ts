import { createSqliteStore } from './sqlite.js';
import type { Store } from './store.js';

/** Opens the store named by ORDERFLOW_DATABASE_URL (`sqlite:<path>`, `sqlite::memory:`, `postgres://...`). */
export async function openStore(databaseUrl: string): Promise<Store> {
  if (databaseUrl.startsWith('sqlite:')) {
    return createSqliteStore({ path: databaseUrl.slice('sqlite:'.length) });
  }
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    const { createPostgresStore } = await import('./postgres.js');
    return createPostgresStore({ connectionString: databaseUrl });
  }
  throw new Error(`ORDERFLOW_DATABASE_URL: unsupported "${databaseUrl}"`);
}
