import type { Config } from './config.js';

/** Commands added by the automation runtime (`worker`, `demo`); undefined when unknown. */
export async function run(_cmd: string, _args: string[], _values: Record<string, unknown>, _config: Readonly<Config>): Promise<number | undefined> {
  return undefined;
}
