import type { MigrateWorkflowInput } from '@orderflow/core';
import type { Config } from '../../config.js';
import { openStore } from '../../store/open.js';
import type { Api, CliValues } from '../context.js';
import { UsageError } from '../context.js';

/** `migrate` without a workflow: applies the database migrations (local only). */
export async function database(config: Readonly<Config>): Promise<number> {
  const store = await openStore(config.databaseUrl);
  try {
    const applied = await store.migrate();
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
    return 0;
  } finally {
    await store.close();
  }
}

/** The body of `migrate <workflow> --to N [--timers keep|recompute|cancel] [--state S] [--dry-run]`, checked before anything is opened. */
export function ordersBody(values: CliValues): MigrateWorkflowInput {
  const toVersion = Number(values.to);
  if (!Number.isInteger(toVersion) || toVersion < 1)
    throw new UsageError('--to must be a version number: migrate <workflow> --to <version>');
  const timers = values.timers;
  if (timers !== undefined && timers !== 'keep' && timers !== 'recompute' && timers !== 'cancel') {
    throw new UsageError('--timers must be keep, recompute or cancel');
  }
  return {
    toVersion,
    ...(timers ? { timers } : {}),
    ...(values.state ? { filter: { state: values.state } } : {}),
    ...(values['dry-run'] ? { dryRun: true } : {}),
  };
}

/** `migrate <workflow> --to N ...`: moves orders to a newer version; exit 1 when any is refused. */
export async function orders(api: Api, workflow: string, body: MigrateWorkflowInput): Promise<number> {
  const toVersion = body.toVersion;
  const r = await api.client.migrateOrders(workflow, body);
  for (const o of r.orders ?? []) {
    const fates = o.timers.map((t) => `${t.kind} ${t.fate}`).join(', ');
    console.log(`${o.orderId}  ${o.from} → ${o.to}${fates ? `  timers: ${fates}` : ''}`);
  }
  for (const f of r.failed) console.log(`${f.orderId}  refused: ${f.code} ${f.message}`);
  console.log(
    `${r.dryRun ? 'dry run: would migrate' : 'migrated'} ${r.dryRun ? r.matched - r.failed.length : r.migrated} of ${r.matched} order(s) to version ${toVersion}${r.failed.length ? `, ${r.failed.length} refused` : ''}`,
  );
  return r.failed.length > 0 ? 1 : 0;
}
