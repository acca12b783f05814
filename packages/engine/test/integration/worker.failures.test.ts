import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../dialects.js';
import { createAutomationTest, createOrder, publishWorkflow, type Receiver, startReceiver } from '../helpers/automation.js';
import { json, type TestOrderflow } from '../helpers/orderflow.js';

/**
 * An action that cannot be made when the worker delivers it — a template that runs past its limit
 * for this order's data, a recipient that renders to no address — fails its delivery for good, and
 * the failure is as visible as one made while deciding: a `rule_failed` entry and a critical
 * notification (SPEC §9.3, docs/rules.md "Render limits").
 */

let t: TestOrderflow;
let receiver: Receiver;
afterEach(async () => {
  await t?.close();
  await receiver?.close();
});

/** Fine for small `n`; for n = 3000, nine million steps: past the per-template render limit. */
const SQUARE = '{% for i in (1..order.data.n) %}{% for j in (1..order.data.n) %}x{% endfor %}{% endfor %}';

for (const dialect of DIALECTS) {
  describe(`actions that fail at delivery (${dialect})`, () => {
    it('record rule_failed in the order history and raise one critical notification per rule', async () => {
      receiver = await startReceiver();
      t = await createAutomationTest({ dialect, demo: true, env: { ORDERFLOW_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' } });
      await publishWorkflow(t, {
        key: 'late',
        name: 'Late failures',
        states: [
          { key: 'open', name: 'Open', group: 'new', initial: true },
          { key: 'done', name: 'Done', group: 'completed' },
          { key: 'dropped', name: 'Dropped', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
        ],
        transitions: [
          { from: 'open', to: 'done' },
          { from: 'open', to: 'dropped' },
        ],
        rules: [
          {
            id: 'heavy-body',
            trigger: 'event_received',
            event: 'heavy',
            actions: [{ type: 'webhook', url: `${receiver.url}/hook`, body: `{"x":"${SQUARE}"}` }],
          },
          {
            id: 'mail-contact',
            trigger: 'event_received',
            event: 'mail',
            actions: [{ type: 'send_email', template: 'order_confirmation', to: '{{ order.data.contact }}' }],
          },
        ],
      });
      const order = await createOrder(t, 'late', { n: 3000, contact: 'not an address', customer: { email: 'c@example.com' } });
      for (const type of ['heavy', 'mail']) {
        const res = await t.request('operator', { method: 'POST', url: `/api/v1/orders/${order.id}/events`, body: { type } });
        expect(res.statusCode, res.body).toBe(200);
      }
      await t.of.worker.runOnce();

      const deliveries = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}/deliveries` })).items as {
        type: string;
        status: string;
        lastError: string | null;
      }[];
      const own = deliveries.filter((d) => d.type !== 'notify');
      expect(own.map((d) => d.status).sort()).toEqual(['failed', 'failed']);
      expect(receiver.requests).toHaveLength(0);

      const history = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}/history` })).items as {
        type: string;
        ruleId?: string;
        version?: number;
        error?: { code: string; message: string };
      }[];
      const failed = history.filter((h) => h.type === 'rule_failed');
      expect(failed).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ ruleId: 'heavy-body', error: expect.objectContaining({ code: 'render_failed' }) }),
          expect.objectContaining({ ruleId: 'mail-contact', error: expect.objectContaining({ code: 'action_failed' }) }),
        ]),
      );
      expect(failed).toHaveLength(2);
      // Written outside a decision, each entry still says which version of the order it happened at.
      const current = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}` })).version;
      for (const f of failed) expect(f.version).toBe(current);
      expect(JSON.stringify(failed)).not.toContain('{%');

      // The alerts go out through the outbox like every critical notification.
      await t.of.worker.runOnce();
      const notes = json(await t.request('viewer', { method: 'GET', url: '/api/v1/notifications' })).items as {
        severity: string;
        message: string;
      }[];
      const critical = notes.filter((n) => n.severity === 'critical').map((n) => n.message);
      expect(critical).toEqual(
        expect.arrayContaining([
          expect.stringContaining('Rule "heavy-body" failed'),
          expect.stringContaining('Rule "mail-contact" failed'),
        ]),
      );
      expect(critical).toHaveLength(2);
    });
  });
}
