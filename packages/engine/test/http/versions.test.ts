import { afterEach, describe, expect, it } from 'vitest';
import { createSimulatedClock } from '../../src/runtime/clock.js';
import { DIALECTS } from '../dialects.js';
import { createOrder, move, publishWorkflow } from '../helpers/automation.js';
import { createTestOrderflow, expectProblem, json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

// biome-ignore lint/suspicious/noExplicitAny: definitions and answers are read loosely
type Loose = any;

/** A parcel workflow: an apology rule for delays, a 2 h timeout while packing. */
function parcels(): Loose {
  return {
    key: 'parcels',
    name: 'Parcels',
    states: [
      { key: 'placed', name: 'Placed', group: 'new', initial: true },
      { key: 'packing', name: 'Packing', group: 'processing', timeout: { after: '2h', to: 'held' } },
      { key: 'shipping', name: 'Shipping', group: 'processing' },
      { key: 'held', name: 'Held', group: 'processing' },
      { key: 'delayed', name: 'Delayed', group: 'processing' },
      { key: 'delivered', name: 'Delivered', group: 'completed' },
      { key: 'dropped', name: 'Dropped', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
    ],
    transitions: [
      { from: 'placed', to: 'packing' },
      { from: 'packing', to: 'shipping' },
      { from: 'shipping', to: 'delayed' },
      { from: 'shipping', to: 'held' },
      { from: 'delayed', to: 'shipping' },
      { from: 'held', to: 'shipping' },
      { from: 'shipping', to: 'delivered' },
      { from: '*', to: 'dropped' },
    ],
    rules: [
      {
        id: 'delay-apology',
        trigger: 'state_changed',
        conditions: { new_state: 'delayed' },
        actions: [{ type: 'notify', channel: 'ops', message: 'Sorry about {{ order.id }}' }],
      },
      { id: 'greet', trigger: 'order_created', actions: [{ type: 'set_data', set: { greeted: true } }] },
    ],
  };
}

/** The same value with every object's keys in reverse order. */
function reversedKeys(v: Loose): Loose {
  if (Array.isArray(v)) return v.map(reversedKeys);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(
    Object.keys(v)
      .reverse()
      .map((k) => [k, reversedKeys(v[k])]),
  );
}

async function publishDraft(x: TestOrderflow, def: Loose) {
  const put = await x.request('designer', { method: 'PUT', url: `/api/v1/workflows/${def.key}/draft`, body: def });
  expect(put.statusCode, put.body).toBe(200);
  const pub = await x.request('designer', { method: 'POST', url: `/api/v1/workflows/${def.key}/publish` });
  expect(pub.statusCode, pub.body).toBe(200);
}

const getOrder = async (x: TestOrderflow, id: string) => json(await x.request('viewer', { method: 'GET', url: `/api/v1/orders/${id}` }));
const historyOf = async (x: TestOrderflow, id: string) =>
  json(await x.request('viewer', { method: 'GET', url: `/api/v1/orders/${id}/history` })).items as Loose[];

for (const dialect of DIALECTS) {
  describe(`versions and migration (${dialect})`, () => {
    it('impact compares each pinned version with the draft, lists a rule whose conditions alone changed with in-flight orders per version, ignoring key order', async () => {
      t = await createTestOrderflow({ dialect, demo: false });
      await publishWorkflow(t, parcels());
      const v1Orders = [await createOrder(t, 'parcels'), await createOrder(t, 'parcels')];
      await move(t, v1Orders[0].id, 'packing');
      const finished = await createOrder(t, 'parcels');
      await move(t, finished.id, 'dropped');
      // v2 renames "placed"; orders on v1 sitting in it see that change, orders on v2 do not.
      const v2 = parcels();
      v2.states[0].name = 'Received';
      await publishDraft(t, v2);
      const v2Orders = [await createOrder(t, 'parcels'), await createOrder(t, 'parcels'), await createOrder(t, 'parcels')];

      // The draft: v2 with every key reordered, and only delay-apology's conditions changed.
      const draft = reversedKeys(v2);
      draft.rules[0].conditions = { new_state: 'held' };
      const res = await t.request('viewer', { method: 'POST', url: '/api/v1/workflows/parcels/impact', body: draft });
      expect(res.statusCode, res.body).toBe(200);
      const impact = json(res);
      expect(impact.versions.map((v: Loose) => [v.version, v.inFlight])).toEqual([
        [1, 2],
        [2, 3],
      ]);
      const [i1, i2] = impact.versions;
      expect(i1.rules).toEqual([
        {
          ruleId: 'delay-apology',
          change: 'changed',
          fields: ['conditions'],
          orders: 2,
          orderIds: v1Orders.map((o) => o.id).sort(),
        },
      ]);
      expect(i2.rules).toEqual([
        { ruleId: 'delay-apology', change: 'changed', fields: ['conditions'], orders: 3, orderIds: v2Orders.map((o) => o.id).sort() },
      ]);
      expect(i1.states).toEqual([{ state: 'placed', change: 'changed', fields: ['name'], count: 1, orderIds: [v1Orders[1].id] }]);
      expect(i2.states).toEqual([]);
      expect(i1.timers).toEqual([]);
      expect(impact.rules).toMatchObject({ added: [], removed: [], changed: ['delay-apology'] });

      // The stored draft is used when no definition is sent; an unchanged one (keys reordered) changes nothing for v2.
      const put = await t.request('designer', { method: 'PUT', url: '/api/v1/workflows/parcels/draft', body: reversedKeys(v2) });
      expect(put.statusCode).toBe(200);
      const same = json(await t.request('viewer', { method: 'POST', url: '/api/v1/workflows/parcels/impact' }));
      expect(same.versions[1]).toMatchObject({ states: [], timers: [], rules: [], affected: 0 });
    });

    it('impact counts every kind of pending timer that would change, by policy', async () => {
      t = await createTestOrderflow({ dialect, demo: false });
      await publishWorkflow(t, parcels());
      const o = await createOrder(t, 'parcels');
      await move(t, o.id, 'packing');
      const draft = parcels();
      draft.states[1].timeout = { after: '3h', to: 'held' };
      const impact = json(
        await t.request('viewer', { method: 'POST', url: '/api/v1/workflows/parcels/impact', body: { definition: draft } }),
      );
      expect(impact.versions[0].timers).toEqual([{ policy: 'recompute', kind: 'timeout', fate: 'retimed', count: 1, orderIds: [o.id] }]);
      expect(impact.versions[0].states).toMatchObject([{ state: 'packing', change: 'changed', fields: ['timeout'] }]);
      const removed = parcels();
      removed.states.splice(1, 1);
      removed.transitions = removed.transitions.filter((tr: Loose) => tr.from !== 'packing' && tr.to !== 'packing');
      removed.transitions.push({ from: 'placed', to: 'shipping' });
      const gone = json(
        await t.request('viewer', { method: 'POST', url: '/api/v1/workflows/parcels/impact', body: { definition: removed } }),
      );
      expect(gone.versions[0].states).toMatchObject([{ state: 'packing', change: 'removed', count: 1 }]);
      expect(gone.versions[0].timers.map((x: Loose) => [x.policy, x.kind, x.fate])).toEqual([
        ['keep', 'timeout', 'cancelled'],
        ['recompute', 'timeout', 'cancelled'],
      ]);
    });

    it('a dry run stores nothing and answers each order target state and timer fates; the real run matches it', async () => {
      const clock = createSimulatedClock(new Date('2026-05-01T08:00:00.000Z'));
      t = await createTestOrderflow({ dialect, demo: false, clock });
      await publishWorkflow(t, parcels());
      const a = await createOrder(t, 'parcels');
      await move(t, a.id, 'packing');
      const b = await createOrder(t, 'parcels');
      const v2 = parcels();
      v2.states.splice(1, 1);
      v2.transitions = v2.transitions.filter((tr: Loose) => tr.from !== 'packing' && tr.to !== 'packing');
      v2.transitions.push({ from: 'placed', to: 'shipping' });
      await publishDraft(t, v2);

      // An unmapped state refuses the whole run, dry or not (SPEC §5.6).
      const unmapped = await t.request('operator', {
        method: 'POST',
        url: '/api/v1/workflows/parcels/migrate',
        body: { toVersion: 2, dryRun: true },
      });
      expect(expectProblem(unmapped, 422, 'validation_failed').errors).toEqual([
        { path: 'stateMap.packing', message: 'must map "packing" to a state of version 2' },
      ]);

      const before = { a: await getOrder(t, a.id), history: await historyOf(t, a.id) };
      const body = { toVersion: 2, stateMap: { packing: 'shipping' }, timers: 'recompute', dryRun: true };
      const dry = await t.request('operator', { method: 'POST', url: '/api/v1/workflows/parcels/migrate', body });
      expect(dry.statusCode, dry.body).toBe(200);
      const plan = json(dry);
      expect(plan).toMatchObject({ dryRun: true, matched: 2, migrated: 0, failed: [] });
      const forA = plan.orders.find((x: Loose) => x.orderId === a.id);
      expect(forA).toMatchObject({ fromVersion: 1, toVersion: 2, from: 'packing', to: 'shipping', policy: 'recompute' });
      expect(forA.timers).toEqual([
        expect.objectContaining({
          kind: 'timeout',
          fate: 'cancelled',
          dueAt: '2026-05-01T10:00:00.000Z',
          why: expect.stringContaining('packing'),
        }),
      ]);
      expect(plan.orders.find((x: Loose) => x.orderId === b.id)).toMatchObject({ from: 'placed', to: 'placed', timers: [] });
      expect(await getOrder(t, a.id)).toEqual(before.a);
      expect(await historyOf(t, a.id)).toEqual(before.history);
      const pending = json(await t.request('viewer', { method: 'GET', url: `/api/v1/timers?orderId=${a.id}` })).items;
      expect(pending).toHaveLength(1);

      const real = json(
        await t.request('operator', { method: 'POST', url: '/api/v1/workflows/parcels/migrate', body: { ...body, dryRun: false } }),
      );
      expect(real).toMatchObject({ dryRun: false, matched: 2, migrated: 2, failed: [] });
      expect(real.orders).toEqual(plan.orders);
      const entry = (await historyOf(t, a.id)).at(-1);
      expect(entry).toMatchObject({ type: 'migrated', from: 'packing', to: 'shipping', timers: forA.timers });
      console.log(`dry run: ${JSON.stringify(plan)}\nhistory entry after the real run: ${JSON.stringify(entry)}`);
    });

    it('lists versions with publisher and time, and discards a draft', async () => {
      const clock = createSimulatedClock(new Date('2026-05-01T08:00:00.000Z'));
      t = await createTestOrderflow({ dialect, demo: false, clock });
      const created = await t.request('designer', { method: 'POST', url: '/api/v1/workflows', body: parcels() });
      expect(created.statusCode).toBe(201);
      expectProblem(await t.request('designer', { method: 'DELETE', url: '/api/v1/workflows/parcels/draft' }), 409, 'conflict');
      expect((await t.request('designer', { method: 'POST', url: '/api/v1/workflows/parcels/publish' })).statusCode).toBe(200);
      clock.advance(60_000);
      const v2 = parcels();
      v2.name = 'Parcels 2';
      await publishDraft(t, v2);
      await createOrder(t, 'parcels');
      const versions = json(await t.request('viewer', { method: 'GET', url: '/api/v1/workflows/parcels/versions' })).items;
      expect(versions.map((v: Loose) => [v.version, v.publishedAt, v.orders])).toEqual([
        [2, '2026-05-01T08:01:00.000Z', { total: 1, inFlight: 1 }],
        [1, '2026-05-01T08:00:00.000Z', { total: 0, inFlight: 0 }],
      ]);
      expect(versions[0].publishedBy).toMatch(/\S/);
      expect(versions[0]).toHaveProperty('publisherName');

      const put = await t.request('designer', { method: 'PUT', url: '/api/v1/workflows/parcels/draft', body: parcels() });
      expect(put.statusCode).toBe(200);
      expectProblem(await t.request('viewer', { method: 'DELETE', url: '/api/v1/workflows/parcels/draft' }), 403, 'forbidden');
      expect((await t.request('designer', { method: 'DELETE', url: '/api/v1/workflows/parcels/draft' })).statusCode).toBe(204);
      const wf = json(await t.request('viewer', { method: 'GET', url: '/api/v1/workflows/parcels' }));
      expect(wf).toMatchObject({ draft: null, publishedVersion: 2, definition: { name: 'Parcels 2' } });
      expectProblem(await t.request('designer', { method: 'DELETE', url: '/api/v1/workflows/parcels/draft' }), 404, 'not_found');
      expectProblem(await t.request('designer', { method: 'DELETE', url: '/api/v1/workflows/ghost/draft' }), 404, 'not_found');
    });

    it('previews an event, a fact and a transition under the draft rules, storing nothing', async () => {
      t = await createTestOrderflow({ dialect, demo: false });
      await publishWorkflow(t, parcels());
      const o = await createOrder(t, 'parcels');
      await move(t, o.id, 'packing');
      await move(t, o.id, 'shipping');
      const draft = parcels();
      draft.rules.push(
        {
          id: 'on-scan',
          trigger: 'event_received',
          event: 'parcel.scanned',
          actions: [{ type: 'set_data', set: { scanned: '{{ event.data.at }}' } }],
        },
        { id: 'on-delivered', trigger: 'fact_recorded', fact: 'delivered', actions: [{ type: 'transition', to: 'delivered' }] },
      );
      draft.rules[0].conditions = { new_state: 'held' };
      const before = await getOrder(t, o.id);

      const ev = await t.request('viewer', {
        method: 'POST',
        url: `/api/v1/orders/${o.id}/events/preview`,
        body: { type: 'parcel.scanned', data: { at: 'hub-3' }, definition: draft },
      });
      expect(ev.statusCode, ev.body).toBe(200);
      expect(json(ev)).toMatchObject({ stored: false, order: { data: { greeted: true, scanned: 'hub-3' } } });
      expect(json(ev).ruleRuns).toEqual([expect.objectContaining({ ruleId: 'on-scan', matched: true })]);
      // Without the draft the published rules run: nothing reacts to the event.
      const published = json(
        await t.request('viewer', { method: 'POST', url: `/api/v1/orders/${o.id}/events/preview`, body: { type: 'parcel.scanned' } }),
      );
      expect(published.ruleRuns).toEqual([]);

      const put = await t.request('designer', { method: 'PUT', url: '/api/v1/workflows/parcels/draft', body: draft });
      expect(put.statusCode).toBe(200);
      const fact = json(
        await t.request('viewer', {
          method: 'POST',
          url: `/api/v1/orders/${o.id}/facts/preview`,
          body: { fact: 'delivered', draft: true },
        }),
      );
      expect(fact.applied).toEqual([expect.objectContaining({ from: 'shipping', to: 'delivered', ruleId: 'on-delivered' })]);

      const tr = json(
        await t.request('viewer', { method: 'POST', url: `/api/v1/orders/${o.id}/transitions/preview`, body: { to: 'held', draft: true } }),
      );
      expect(tr.ruleRuns.find((r: Loose) => r.ruleId === 'delay-apology')).toMatchObject({ matched: true });
      expect(tr.deliveries).toHaveLength(1);

      expect(await getOrder(t, o.id)).toEqual(before);
      const other = parcels();
      other.key = 'other';
      expectProblem(
        await t.request('viewer', { method: 'POST', url: `/api/v1/orders/${o.id}/events/preview`, body: { type: 'x', definition: other } }),
        422,
        'validation_failed',
      );
      expectProblem(
        await t.request('viewer', {
          method: 'POST',
          url: `/api/v1/orders/${o.id}/facts/preview`,
          body: { fact: 'delivered', definition: { states: 1 } },
        }),
        422,
        'validation_failed',
      );
    });
  });
}
