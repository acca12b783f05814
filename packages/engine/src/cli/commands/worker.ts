import type { Config } from '../../config.js';
import { createEngine } from '../../engine.js';

/** `orderflow worker`: deliveries and timers only, until SIGINT/SIGTERM. */
export async function runWorker(config: Readonly<Config>): Promise<number> {
  const engine = await createEngine(config);
  engine.worker.start();
  console.error(`Orderflow worker running on ${config.databaseUrl.replace(/\/\/[^@/]*@/, '//***@')} (Ctrl+C stops it)`);
  const stop = async (signal: string) => {
    console.error(`\n${signal}: finishing in-flight deliveries`);
    await engine.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  return -1;
}
