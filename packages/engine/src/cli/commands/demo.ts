import { setTimeout as sleep } from 'node:timers/promises';
import type { Caller, Order } from '@orderflow/core';
import type { Config } from '../../config.js';
import { createOrderflow } from '../../server.js';
import { countUnattempted } from '../../store/deliveries.js';
import { countMail } from '../../store/mailbox.js';
import { countDeliveriesByStatus } from '../../store/queue.js';
import * as repo from '../../store/repo.js';
import { UsageError } from '../context.js';

const CUSTOMERS = [
  { name: 'Ada Lovelace', email: 'ada@example.com' },
  { name: 'Grace Hopper', email: 'grace@example.com' },
  { name: 'Alan Turing', email: 'alan@example.com' },
  { name: 'Katherine Johnson', email: 'katherine@example.com' },
  { name: 'Edsger Dijkstra', email: 'edsger@example.com' },
  { name: 'Barbara Liskov', email: 'barbara@example.com' },
];

type Step = { to: string } | { event: string };
/** Paths through the demo `orders` workflow, with their rough share of the stream. */
const PATHS: { weight: number; steps: Step[] }[] = [
  { weight: 5, steps: [{ to: 'awaiting_payment' }, { event: 'payment.received' }, { to: 'shipping' }, { to: 'delivered' }] },
  {
    weight: 2,
    steps: [{ to: 'awaiting_payment' }, { event: 'payment.received' }, { to: 'shipping' }, { to: 'delayed' }, { to: 'delivered' }],
  },
  { weight: 1, steps: [{ to: 'awaiting_payment' }, { event: 'payment.received' }, { to: 'shipping' }, { event: 'package.lost' }] },
  { weight: 1, steps: [{ to: 'awaiting_payment' }, { to: 'customer_cancelled' }] },
  { weight: 1, steps: [{ to: 'awaiting_payment' }, { event: 'payment.received' }, { to: 'out_of_stock' }] },
  {
    weight: 1,
    steps: [{ to: 'awaiting_payment' }, { event: 'payment.received' }, { to: 'shipping' }, { to: 'damaged' }, { to: 'partial_refund' }],
  },
];

function pickPath(i: number): Step[] {
  const total = PATHS.reduce((n, p) => n + p.weight, 0);
  let r = (i * 7919) % total;
  for (const p of PATHS) {
    if (r < p.weight) return p.steps;
    r -= p.weight;
  }
  return (PATHS[0] as { steps: Step[] }).steps;
}

/**
 * `orderflow demo [--count N]`: seeds the demo (if needed) and moves a bounded stream of
 * orders through the `orders` workflow, with the worker sending what the rules queue.
 */
export async function runDemo(config: Readonly<Config>, values: { count?: string | undefined }): Promise<number> {
  const count = values.count === undefined ? 20 : Number(values.count);
  if (!Number.isInteger(count) || count < 1 || count > 10_000) {
    throw new UsageError('--count must be an integer from 1 to 10000');
  }
  const stepMs = Number(process.env.ORDERFLOW_DEMO_STEP_MS ?? 150);
  const of = await createOrderflow(
    { ...config, demo: true, logLevel: config.logLevel === 'info' ? 'error' : config.logLevel },
    { startWorker: false },
  );
  try {
    const wf = await repo.getWorkflow(of.store.db, 'orders');
    if (!wf?.definition) {
      console.error(
        'orderflow demo: the database has workflows but no published "orders" workflow; use a fresh database (ORDERFLOW_DATABASE_URL).',
      );
      return 1;
    }
    of.worker.start();
    const caller: Caller = { actor: { type: 'system', id: 'demo' }, roles: ['admin'] };
    const started = Date.now();
    console.log(`Moving ${count} orders through the "orders" workflow...`);
    const active: { order: Order; steps: Step[]; index: number }[] = [];
    let created = 0;
    let done = 0;
    let transitions = 0;
    while (done < count) {
      // Keep a handful of orders in flight so the stream interleaves.
      while (created < count && active.length < 5) {
        created++;
        const customer = CUSTOMERS[created % CUSTOMERS.length];
        const r = await of.runtime.applyCommand({
          command: {
            type: 'create',
            workflow: 'orders',
            workflowVersion: 0,
            externalRef: `DEMO-${Date.now().toString(36).toUpperCase()}-${created}`,
            data: {
              customer,
              items: [
                {
                  sku: `SKU-${100 + (created % 40)}`,
                  name: ['Desk lamp', 'Notebook', 'Coffee beans', 'Headphones'][created % 4],
                  qty: 1 + (created % 3),
                },
              ],
              total: 20 + ((created * 37) % 480),
              currency: 'EUR',
              deliveryEstimate: new Date(Date.now() + (3 + (created % 5)) * 86_400_000).toISOString().slice(0, 10),
              feedbackUrl: `https://shop.example.com/feedback/${created}`,
              loyaltyPoints: 10 + (created % 9) * 5,
            },
            caller,
          },
        });
        console.log(`  + ${r.body.order.id}  created (${r.body.order.state})`);
        active.push({ order: r.body.order, steps: pickPath(created), index: 0 });
      }
      const item = active[transitions % active.length];
      if (!item) break;
      const step = item.steps[item.index];
      if (step) {
        try {
          const r =
            'to' in step
              ? await of.runtime.applyCommand({
                  orderId: item.order.id,
                  command: { type: 'transition', to: step.to, caller, ...(step.to === 'delivered' ? { facts: ['delivered'] } : {}) },
                })
              : await of.runtime.applyCommand({ orderId: item.order.id, command: { type: 'event', event: { type: step.event }, caller } });
          const moves = r.body.applied.map((a) => `${a.from ?? '∅'} → ${a.to}${a.ruleId ? ` (rule ${a.ruleId})` : ''}`).join(', ');
          const label = 'to' in step ? '' : `event ${step.event}: `;
          console.log(
            `  ${item.order.id}  ${label}${moves || 'no change'}${r.body.deliveries.length ? `  [${r.body.deliveries.length} delivery queued]` : ''}`,
          );
          item.order = r.body.order;
        } catch (e) {
          console.log(
            `  ${item.order.id}  ${'to' in step ? step.to : step.event}: refused (${e instanceof Error ? e.message : String(e)})`,
          );
        }
        item.index++;
        transitions++;
      }
      if (item.index >= item.steps.length) {
        active.splice(active.indexOf(item), 1);
        done++;
      }
      await sleep(stepMs);
    }
    // Let the worker send what is due, within reason.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if ((await countUnattempted(of.store.db)) === 0) break;
      await sleep(200);
    }
    await of.worker.stop();
    const byStatus = await countDeliveriesByStatus(of.store.db);
    const mail = await countMail(of.store.db);
    console.log(
      `\nDone in ${((Date.now() - started) / 1000).toFixed(1)} s: ${count} orders, ${transitions} steps. Deliveries: ${byStatus.map((r) => `${r.status} ${r.n}`).join(', ') || 'none'}; mailbox holds ${mail} message(s).`,
    );
    console.log('Start `orderflow serve` on the same database to look at them in the UI.');
    return 0;
  } finally {
    await of.close();
  }
}
