import type { HistoryEntry, OutboxEntry } from '@orderflow/core';
import type { Kysely } from 'kysely';
import { appendHistory, insertDeliveries } from '../store/changes.js';
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

/**
 * A rule's email, webhook or notification that cannot be made when the worker delivers it (its
 * template fails to render or runs past a limit, its recipient or a header is not valid): the
 * delivery has failed for good, and the failure is made visible as one made while deciding is — a
 * `rule_failed` entry in the order's history and a critical notification, folded per rule.
 */
export async function actionFailedAtDelivery(
  ctx: WorkerContext,
  tx: Kysely<DB>,
  row: DeliveryRow,
  failure: { error: string; code?: 'render_failed' },
  direct: Notification[],
): Promise<void> {
  const message = `${describeType(row.type)} ${row.id} could not be made: ${failure.error}`;
  if (row.rule_id) {
    const entry: HistoryEntry = {
      id: ctx.newId('hst'),
      at: ctx.clock.now().toISOString(),
      type: 'rule_failed',
      actor: { type: 'rule', id: row.rule_id },
      ruleId: row.rule_id,
      error: { code: failure.code ?? 'action_failed', message },
    };
    // No known seq: appendHistory looks it up, moves the order row's counter on, and adds the order's version.
    await appendHistory(tx, row.order_id, [entry]);
  }
  await raiseAlert(
    ctx,
    tx,
    row,
    'order.rule_failed',
    row.rule_id ? `Rule "${row.rule_id}" failed on order ${row.order_id}: ${message}` : `Order ${row.order_id}: ${message}`,
    direct,
  );
}

const describeType = (type: string): string => (type === 'email' ? 'Email' : type === 'webhook' ? 'Webhook' : 'Notification');
