import type { Kysely } from 'kysely';
import * as endpoints from '../store/endpoints.js';
import type { DeliveryRow } from '../store/queue.js';
import type { DB } from '../store/schema.js';
import { raiseAlert } from './alerts.js';
import type { WorkerContext } from './context.js';
import type { Notification } from './notifications.js';
import type { DeliveryVerdict } from './verdict.js';

/** Disables an endpoint loudly (log and admin alert), once: true when this call disabled it. */
export async function disableEndpointLoudly(
  ctx: WorkerContext,
  tx: Kysely<DB>,
  row: DeliveryRow,
  key: string,
  reason: string,
  direct: Notification[],
): Promise<boolean> {
  if (!(await endpoints.disableEndpoint(tx, key, reason, ctx.clock.now().toISOString()))) return false;
  ctx.log.error({ endpoint: key, deliveryId: row.id, orderId: row.order_id, reason }, 'webhook endpoint disabled');
  await raiseAlert(
    ctx,
    tx,
    row,
    'endpoint.disabled',
    `Webhook endpoint "${key}" was disabled: ${reason}. Its deliveries fail until it is enabled again.`,
    direct,
    key,
  );
  return true;
}

/**
 * Applies what an attempt means for its endpoint, inside the completing transaction: a delivery
 * ends the run of failures; a 410 disables the endpoint; a final failure counts toward the limit
 * (`ORDERFLOW_ENDPOINT_FAILURE_LIMIT`), at which the endpoint is disabled. True when an alert was raised.
 */
export async function applyEndpointHealth(
  ctx: WorkerContext,
  tx: Kysely<DB>,
  row: DeliveryRow,
  verdict: DeliveryVerdict,
  status: number | undefined,
  direct: Notification[],
): Promise<boolean> {
  const ep = verdict.endpoint;
  if (ep === null) return false;
  switch (ep.effect) {
    case 'reset':
      await endpoints.resetEndpointFailures(tx, ep.key);
      return false;
    case 'gone':
      await disableEndpointLoudly(ctx, tx, row, ep.key, `it answered ${status ?? 410} Gone`, direct);
      return true;
    case 'failure': {
      const health = await endpoints.countEndpointFailure(tx, ep.key);
      const n = health?.consecutiveFailures ?? 0;
      if (!health?.enabled || n < ctx.config.endpointFailureLimit) return false;
      await disableEndpointLoudly(ctx, tx, row, ep.key, `${n} deliveries in a row failed (last: ${verdict.error})`, direct);
      return true;
    }
  }
}
