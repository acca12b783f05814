import { ROLES, type Role } from '@orderflow/core';
import { createToken } from '../../bootstrap.js';
import type { Config } from '../../config.js';
import { systemClock } from '../../runtime/clock.js';
import { createIdGenerator } from '../../runtime/ids.js';
import { openStore } from '../../store/open.js';
import type { Api, CliValues } from '../context.js';
import { UsageError } from '../context.js';

function roleOf(values: CliValues): Role {
  const role = values.role as Role | undefined;
  if (!role || !ROLES.includes(role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
  return role;
}

/**
 * `token create --role R [--name N] [--expires-at T]`. Against a server it goes through
 * `POST /tokens`; on the local database it needs no token at all (that is how the first one is made).
 */
export async function create(values: CliValues, api: (() => Promise<Api>) | undefined, config: () => Readonly<Config>): Promise<number> {
  const role = roleOf(values);
  if (api) {
    const a = await api();
    try {
      const t = await a.client.createToken({
        name: values.name ?? `cli ${role}`,
        role,
        ...(values['expires-at'] ? { expiresAt: values['expires-at'] } : {}),
      });
      console.log(t.token);
      console.error(`created ${t.role} token ${t.id} on ${a.where}; it is shown only once`);
      return 0;
    } finally {
      await a.close();
    }
  }
  const store = await openStore(config().databaseUrl);
  try {
    await store.migrate();
    const t = await createToken(store, createIdGenerator(systemClock), role, values.name ?? null, new Date().toISOString());
    console.log(t.token);
    console.error(`created ${t.role} token ${t.id}; it is shown only once`);
    return 0;
  } finally {
    await store.close();
  }
}

/** `token list`: id, name, role, created, last used, expiry. */
export async function list(api: Api): Promise<number> {
  // Every page: an admin with many tokens sees them all.
  const items = [];
  let cursor: string | undefined;
  do {
    const page = await api.client.listTokens({ limit: 200, ...(cursor ? { cursor } : {}) });
    items.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  for (const t of items) {
    console.log(
      [
        t.id,
        t.role.padEnd(8),
        t.name,
        `created ${t.createdAt}`,
        `last used ${t.lastUsedAt ?? 'never'}`,
        `expires ${t.expiresAt ?? 'never'}`,
      ].join('  '),
    );
  }
  return 0;
}

/** `token revoke <id>`: the token stops working at once. */
export async function revoke(api: Api, id: string): Promise<number> {
  await api.client.revokeToken(id);
  console.log(`revoked ${id}`);
  return 0;
}
