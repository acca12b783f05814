import type { OutboxEntry } from '@orderflow/core';
import type { Kysely } from 'kysely';
import { insertDeliveries } from '../store/changes.js';
import type { DeliveryRow } from '../store/queue.js';
import type { DB } from '../store/schema.js';
import type { WorkerContext } from './context.js';
import { alertFoldKey, insertNotification, liquidLiteral, type Notification, raiseFolded } from './notifications.js';

/**
 * Raises a critical admin alert about a delivery: through the outbox (so it is durable and
 * emails admins), or directly for notify rows, which are pushed to `direct` for publishing after
 * the commit. Repeats for one endpoint or rule fold into one open notification.
 */
export async function raiseAlert(
  ctx: WorkerContext,
  tx: Kysely<DB>,
  row: DeliveryRow,
  type: string,
  message: string,
  direct: Notification[],
  endpoint: string | null = null,
): Promise<void> {
  const now = ctx.clock.now().toISOString();
  const order = (JSON.parse(row.envelope_json) as OutboxEntry['envelope']).data.order;
  const envelope = {
    id: ctx.newId('evt'),
    type,
    createdAt: now,
    data: { order, ...(row.rule_id ? { rule: row.rule_id } : {}), ...(endpoint ? { endpoint } : {}) },
  } as OutboxEntry['envelope'];
  if (row.type === 'notify') {
    // A failing notification must not raise another delivery that could fail the same way.
    const n = {
      id: ctx.newId('ntf'),
      channel: 'admins',
      severity: 'critical' as const,
      message,
      orderId: row.order_id,
      deliveryId: row.id,
      createdAt: now,
    };
    const key = alertFoldKey(envelope);
    direct.push(key ? (await raiseFolded(tx, n, key)).notification : await insertNotification(tx, n));
    return;
  }
  await insertDeliveries(tx, [
    {
      id: ctx.newId('dlv'),
      orderId: row.order_id,
      workflow: row.workflow,
      type: 'notify',
      ruleId: null,
      action: { type: 'notify', channel: 'admins', severity: 'critical', message: liquidLiteral(message) },
      envelope,
      createdAt: now,
    },
  ]);
}
