import { adminTokenBanner, dataDirWarning } from '../../bootstrap.js';
import type { Config } from '../../config.js';
import { createOrderflow } from '../../server.js';
import { openStore } from '../../store/open.js';
import { ensureWebhookSecret } from '../../worker/settings.js';

/**
 * `serve`: API, web UI and worker in one process, until SIGINT/SIGTERM. With `worker: false`
 * (`--no-worker`) the process serves the API and UI only; deliveries and timers wait for an
 * `orderflow worker` process on the same database.
 */
export async function serve(config: Readonly<Config>, opts: { worker?: boolean } = {}): Promise<number> {
  const worker = opts.worker !== false;
  const of = await createOrderflow(config, { startWorker: worker });
  const address = await of.listen();
  const shown = address.replace('[::1]', 'localhost');
  console.log(`\nOrderflow is running at ${shown}/  (API: ${shown}/api/v1, docs: ${shown}/docs)`);
  console.log(adminTokenBanner(of.admin));
  if (!worker)
    console.log('No worker in this process (--no-worker): deliveries and timers wait for `npx orderflow worker` on this database.');
  const dirWarning = dataDirWarning(config.dataDir);
  if (dirWarning) console.log(dirWarning);
  if (!config.webhookSecret)
    console.log('Webhook signing secret: `npx orderflow webhook-secret` prints it (or set ORDERFLOW_WEBHOOK_SECRET).');
  const stop = async (signal: string) => {
    console.log(`\n${signal}: shutting down`);
    await of.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  return -1;
}

/** `webhook-secret`: the global signing secret receivers verify with. */
export async function webhookSecret(config: Readonly<Config>): Promise<number> {
  const store = await openStore(config.databaseUrl);
  try {
    await store.migrate();
    const { secret } = await ensureWebhookSecret(store.db, config.webhookSecret);
    console.log(secret);
    return 0;
  } finally {
    await store.close();
  }
}
