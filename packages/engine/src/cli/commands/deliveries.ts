import type { Api, CliValues } from '../context.js';
import { UsageError } from '../context.js';

/** What `deliveries retry` sends again: one delivery, or all of a status; checked before anything is opened. */
export type RetryTarget = { id: string; force: boolean } | { status: 'failed' | 'dead' };

export function retryTarget(id: string | undefined, values: CliValues): RetryTarget {
  if (id) return { id, force: values.force === true };
  if (values.status !== 'failed' && values.status !== 'dead')
    throw new UsageError('deliveries retry needs a delivery <id> [--force], or --status failed|dead');
  return { status: values.status };
}

/** `deliveries retry <id> [--force]`, or `deliveries retry --status failed|dead`: sends again now. */
export async function retry(api: Api, target: RetryTarget): Promise<number> {
  if ('id' in target) {
    const d = await api.client.retryDelivery(target.id, target.force ? { force: true } : {});
    console.log(`delivery ${d.id} (${d.type}) is ${d.status}; the worker sends it now`);
    return 0;
  }
  const r = await api.client.retryDeliveries({ status: target.status });
  console.log(`${r.retried} ${target.status} deliveries queued again`);
  return 0;
}
