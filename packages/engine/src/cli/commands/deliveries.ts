import type { Api, CliValues } from '../context.js';
import { UsageError } from '../context.js';

/** `deliveries retry <id> [--force]`, or `deliveries retry --status failed|dead`: sends again now. */
export async function retry(api: Api, id: string | undefined, values: CliValues): Promise<number> {
  if (id) {
    const d = await api.client.retryDelivery(id, values.force ? { force: true } : {});
    console.log(`delivery ${d.id} (${d.type}) is ${d.status}; the worker sends it now`);
    return 0;
  }
  if (values.status !== 'failed' && values.status !== 'dead')
    throw new UsageError('deliveries retry <id> [--force], or --status failed|dead');
  const r = await api.client.retryDeliveries({ status: values.status });
  console.log(`${r.retried} ${values.status} deliveries queued again`);
  return 0;
}
