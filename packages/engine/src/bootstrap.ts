import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Caller, DEMO_TEMPLATES, DEMO_WORKFLOWS, type Role } from '@orderflow/core';
import type { Config } from './config.js';
import { hashToken } from './http/app.js';
import type { Runtime } from './runtime/runtime.js';
import * as repo from './store/repo.js';
import { isUniqueViolation, type Store } from './store/store.js';

/** Creates a new API token for a role; only its hash is stored. */
export async function createToken(store: Store, newId: (p: string) => string, role: Role, name: string | null, now: string) {
  const token = `of_${randomBytes(32).toString('base64url')}`;
  const id = newId('tok');
  await repo.insertToken(store.db, { id, hash: hashToken(token), role, name, now });
  return { id, token, role };
}

/**
 * Makes sure an admin token exists. With ORDERFLOW_ADMIN_TOKEN it is that one;
 * otherwise one is generated on first start and written to `<dataDir>/admin-token`.
 * Returns the token when it is known to this process (to print it), else null.
 */
export async function ensureAdminToken(
  store: Store,
  config: Config,
  newId: (p: string) => string,
  now: string,
): Promise<{ token: string | null; created: boolean; file: string }> {
  const file = join(config.dataDir, 'admin-token');
  if (config.adminToken) {
    if (!(await repo.findTokenByHash(store.db, hashToken(config.adminToken)))) {
      try {
        await repo.insertToken(store.db, {
          id: newId('tok'),
          hash: hashToken(config.adminToken),
          role: 'admin',
          name: 'bootstrap (ORDERFLOW_ADMIN_TOKEN)',
          now,
        });
        return { token: config.adminToken, created: true, file };
      } catch (e) {
        // Another process sharing the database stored the same token first.
        if (!isUniqueViolation(e)) throw e;
      }
    }
    return { token: config.adminToken, created: false, file };
  }
  const anyAdmin = await store.db
    .selectFrom('tokens')
    .select('id')
    .where('role', '=', 'admin')
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (anyAdmin) {
    const saved = existsSync(file) ? readFileSync(file, 'utf8').trim() : null;
    const valid = saved ? await repo.findTokenByHash(store.db, hashToken(saved)) : undefined;
    return { token: valid ? saved : null, created: false, file };
  }
  const { token } = await createToken(store, newId, 'admin', 'bootstrap', now);
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${token}\n`, { mode: 0o600 });
  } catch {
    // An in-memory or read-only setup still gets the printed token.
  }
  return { token, created: true, file };
}

const SAMPLE_CUSTOMERS = [
  { name: 'Ada Lovelace', email: 'ada@example.com' },
  { name: 'Grace Hopper', email: 'grace@example.com' },
  { name: 'Alan Turing', email: 'alan@example.com' },
  { name: 'Katherine Johnson', email: 'katherine@example.com' },
  { name: 'Edsger Dijkstra', email: 'edsger@example.com' },
  { name: 'Barbara Liskov', email: 'barbara@example.com' },
];

/**
 * Seeds the demo workflows, templates and a few sample orders on first start
 * (when no workflow exists yet). Orders go through the runtime like any other.
 */
export async function seedDemo(store: Store, runtime: Runtime, now: () => Date): Promise<boolean> {
  const existing = await repo.listWorkflowRows(store.db);
  if (existing.length > 0 || (await repo.getSetting(store.db, 'demo_seeded'))) return false;
  const at = now().toISOString();
  try {
    await store.transaction(async (tx) => {
      // The marker first: a second process seeding the same database at once fails here and stops.
      await tx
        .insertInto('settings')
        .values({ key: 'demo_seeded', value_json: JSON.stringify({ at }) })
        .execute();
      for (const t of DEMO_TEMPLATES) await repo.upsertTemplate(tx, t, at);
      for (const def of DEMO_WORKFLOWS) {
        await repo.insertWorkflow(tx, def.key, def.name, def, at);
        await repo.publishVersion(tx, def.key, def, 'system', at);
      }
    });
  } catch (e) {
    if (isUniqueViolation(e)) return false;
    throw e;
  }
  const caller: Caller = { actor: { type: 'system', id: 'demo' }, roles: ['admin'] };
  const paths: string[][] = [
    [],
    ['awaiting_payment'],
    ['awaiting_payment', 'packing'],
    ['awaiting_payment', 'packing', 'shipping'],
    ['awaiting_payment', 'packing', 'shipping'],
    ['awaiting_payment', 'packing', 'shipping', 'delayed'],
    ['customer_cancelled'],
    ['awaiting_payment', 'packing', 'shipping', 'delivered'],
  ];
  let i = 0;
  for (const path of paths) {
    const customer = SAMPLE_CUSTOMERS[i % SAMPLE_CUSTOMERS.length];
    i++;
    const created = await runtime.applyCommand({
      command: {
        type: 'create',
        workflow: 'orders',
        workflowVersion: 0,
        externalRef: `DEMO-${1000 + i}`,
        data: {
          customer,
          items: [{ sku: `SKU-${100 + i}`, name: ['Desk lamp', 'Notebook', 'Coffee beans', 'Headphones'][i % 4], qty: 1 + (i % 3) }],
          total: 25 * i,
          currency: 'EUR',
          deliveryEstimate: new Date(now().getTime() + (3 + i) * 86_400_000).toISOString().slice(0, 10),
          feedbackUrl: `https://shop.example.com/feedback/DEMO-${1000 + i}`,
        },
        caller,
      },
    });
    const id = created.body.order.id;
    for (const to of path) {
      await runtime.applyCommand({
        orderId: id,
        command: { type: 'transition', to, caller, ...(to === 'delivered' ? { facts: ['delivered'] } : {}) },
      });
    }
  }
  return true;
}
