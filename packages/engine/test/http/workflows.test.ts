import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../dialects.js';
import { createTestOrderflow, expectProblem, json, minimalDefinition, type TestOrderflow } from '../helpers/orderflow.js';

/** The example rule of SPEC §2, exactly as written there. */
const SPEC_EXAMPLE_RULE = `{
  "trigger": "state_changed",
  "conditions": { "new_state": "delayed" },
  "actions": [
    { "type": "send_email", "template": "delay_notification", "to": "customer" },
    { "type": "webhook", "url": "https://api.example.com/notify" }
  ]
}`;

/** A workflow with a `delayed` state that the example rule can refer to. */
function withDelayed(key: string, extra: Record<string, unknown> = {}) {
  const def = minimalDefinition(key, extra) as { states: unknown[]; transitions: unknown[] };
  def.states.splice(2, 0, { key: 'delayed', name: 'Delayed', group: 'processing', color: '#f97316' });
  def.transitions.push({ from: 'working', to: 'delayed' }, { from: 'delayed', to: 'working' });
  return def;
}

let t: TestOrderflow;
afterEach(async () => {
  await t.close();
});

const errorsOf = (problem: { errors: { path: string; code?: string }[] }) => problem.errors;

for (const dialect of DIALECTS) {
  describe(`workflows API (${dialect})`, () => {
    describe('the example rule of SPEC §2', () => {
      it('validates and publishes pasted verbatim into a workflow (demo templates seeded)', async () => {
        t = await createTestOrderflow({ dialect, demo: true });
        const def = { ...withDelayed('parcels'), rules: [JSON.parse(SPEC_EXAMPLE_RULE)] };

        const validated = await t.request('viewer', { method: 'POST', url: '/api/v1/workflows/parcels/validate', body: def });
        expect(validated.statusCode, validated.body).toBe(200);
        expect(json(validated).ok).toBe(true);
        expect(json(validated).problems.filter((p: { severity: string }) => p.severity === 'error')).toEqual([]);

        const created = await t.request('designer', { method: 'POST', url: '/api/v1/workflows?publish=true', body: def });
        expect(created.statusCode, created.body).toBe(201);
        const view = json(created);
        expect(view).toMatchObject({ key: 'parcels', publishedVersion: 1 });
        expect(view.definition.rules).toHaveLength(1);
        expect(view.definition.rules[0]).toMatchObject(JSON.parse(SPEC_EXAMPLE_RULE));

        // The published rule runs: moving an order to delayed queues the email and the webhook.
        const order = json(
          await t.request('operator', { method: 'POST', url: '/api/v1/orders', body: { workflow: 'parcels', data: {} } }),
        ).order;
        for (const to of ['working', 'delayed']) {
          const res = await t.request('operator', { method: 'POST', url: `/api/v1/orders/${order.id}/transitions`, body: { to } });
          expect(res.statusCode, res.body).toBe(200);
          if (to === 'delayed')
            expect(
              json(res)
                .deliveries.map((d: { type: string }) => d.type)
                .sort(),
            ).toEqual(['email', 'webhook']);
        }
      });

      it('publishes through draft and publish once the template exists, and refuses it while the template is missing', async () => {
        t = await createTestOrderflow({ dialect, demo: false });
        const def = { ...withDelayed('parcels'), rules: [JSON.parse(SPEC_EXAMPLE_RULE)] };
        const created = await t.request('designer', { method: 'POST', url: '/api/v1/workflows', body: def });
        expect(created.statusCode, created.body).toBe(201);
        expect(json(created).publishedVersion).toBeNull();
        expect(json(created).problems).toContainEqual(
          expect.objectContaining({ code: 'unknown_template', severity: 'error', path: 'rules.0.actions.0.template' }),
        );

        const refused = expectProblem(
          await t.request('designer', { method: 'POST', url: '/api/v1/workflows/parcels/publish' }),
          422,
          'validation_failed',
        );
        expect(errorsOf(refused)).toContainEqual(expect.objectContaining({ path: 'rules.0.actions.0.template' }));

        const template = await t.request('designer', {
          method: 'PUT',
          url: '/api/v1/templates/delay_notification',
          body: { subject: 'Your order is delayed', html: '<p>New estimate: {{ order.data.deliveryEstimate }}</p>' },
        });
        expect(template.statusCode, template.body).toBe(201);
        const published = await t.request('designer', { method: 'POST', url: '/api/v1/workflows/parcels/publish' });
        expect(published.statusCode, published.body).toBe(200);
        expect(json(published)).toMatchObject({ key: 'parcels', publishedVersion: 1 });
      });
    });

    describe('publishing refuses terminal-state transitions', () => {
      it('answers 422 with a problem whose path points at the transition out of a terminal state', async () => {
        t = await createTestOrderflow({ dialect, demo: false });
        const def = minimalDefinition('returns') as { transitions: unknown[] };
        def.transitions.push({ from: 'done', to: 'working' });
        const index = def.transitions.length - 1;

        const res = await t.request('designer', { method: 'POST', url: '/api/v1/workflows?publish=true', body: def });
        const problem = expectProblem(res, 422, 'validation_failed');
        expect(errorsOf(problem)).toContainEqual(expect.objectContaining({ path: `transitions.${index}`, code: 'terminal_outgoing' }));
        // Nothing was stored: creation and publishing are one transaction.
        expectProblem(await t.request('viewer', { method: 'GET', url: '/api/v1/workflows/returns' }), 404, 'not_found');

        const draft = await t.request('designer', { method: 'POST', url: '/api/v1/workflows', body: def });
        expect(draft.statusCode, draft.body).toBe(201);
        expect(json(draft).problems).toContainEqual(
          expect.objectContaining({ path: `transitions.${index}`, code: 'terminal_outgoing', severity: 'error' }),
        );
        const publish = expectProblem(
          await t.request('designer', { method: 'POST', url: '/api/v1/workflows/returns/publish' }),
          422,
          'validation_failed',
        );
        expect(errorsOf(publish)).toContainEqual(expect.objectContaining({ path: `transitions.${index}` }));
        expect(json(await t.request('viewer', { method: 'GET', url: '/api/v1/workflows/returns' })).publishedVersion).toBeNull();
      });

      it('points at a group:completed transition too', async () => {
        t = await createTestOrderflow({ dialect, demo: false });
        const def = minimalDefinition('returns') as { transitions: unknown[] };
        def.transitions.unshift({ from: 'group:completed', to: 'received' });
        const problem = expectProblem(
          await t.request('designer', { method: 'POST', url: '/api/v1/workflows?publish=true', body: def }),
          422,
          'validation_failed',
        );
        expect(errorsOf(problem)).toContainEqual(expect.objectContaining({ path: 'transitions.0', code: 'terminal_outgoing' }));
      });
    });

    describe('workflow problem documents', () => {
      it('answers 422 validation_failed with paths for a definition that does not match the schema', async () => {
        t = await createTestOrderflow({ dialect, demo: false });
        const problem = expectProblem(
          await t.request('designer', {
            method: 'POST',
            url: '/api/v1/workflows',
            body: { key: 'Bad Key', name: 'x', states: 'none', transitions: [] },
          }),
          422,
          'validation_failed',
        );
        expect(problem.errors.length).toBeGreaterThan(0);
        for (const e of problem.errors) {
          expect(typeof e.path).toBe('string');
          expect(typeof e.message).toBe('string');
        }
        expect(problem.errors.map((e: { path: string }) => e.path)).toEqual(expect.arrayContaining(['key', 'states']));
      });

      it('answers 422 when the draft key does not match the URL', async () => {
        t = await createTestOrderflow({ dialect, demo: false });
        expect(
          (await t.request('designer', { method: 'POST', url: '/api/v1/workflows', body: minimalDefinition('alpha') })).statusCode,
        ).toBe(201);
        const problem = expectProblem(
          await t.request('designer', { method: 'PUT', url: '/api/v1/workflows/alpha/draft', body: minimalDefinition('beta') }),
          422,
          'validation_failed',
        );
        expect(problem.errors).toContainEqual(expect.objectContaining({ path: 'key' }));
      });

      it('answers 404 not_found for unknown workflows on every workflow route', async () => {
        t = await createTestOrderflow({ dialect, demo: false });
        expectProblem(await t.request('viewer', { method: 'GET', url: '/api/v1/workflows/ghost' }), 404, 'not_found');
        expectProblem(await t.request('viewer', { method: 'GET', url: '/api/v1/workflows/ghost/versions' }), 404, 'not_found');
        expectProblem(
          await t.request('designer', { method: 'PUT', url: '/api/v1/workflows/ghost/draft', body: minimalDefinition('ghost') }),
          404,
          'not_found',
        );
        expectProblem(await t.request('designer', { method: 'POST', url: '/api/v1/workflows/ghost/publish' }), 404, 'not_found');
      });

      it('answers 422 validation_failed when creating an order on a workflow that was never published', async () => {
        t = await createTestOrderflow({ dialect, demo: false });
        expect(
          (await t.request('designer', { method: 'POST', url: '/api/v1/workflows', body: minimalDefinition('alpha') })).statusCode,
        ).toBe(201);
        const problem = expectProblem(
          await t.request('operator', { method: 'POST', url: '/api/v1/orders', body: { workflow: 'alpha', data: {} } }),
          422,
          'validation_failed',
        );
        expect(problem.errors).toContainEqual(expect.objectContaining({ path: 'workflow' }));
      });
    });

    describe('versions', () => {
      it('keeps running orders on their version when a new one is published', async () => {
        t = await createTestOrderflow({ dialect, demo: false });
        expect(
          (await t.request('designer', { method: 'POST', url: '/api/v1/workflows?publish=true', body: minimalDefinition('alpha') }))
            .statusCode,
        ).toBe(201);
        const v1order = json(
          await t.request('operator', { method: 'POST', url: '/api/v1/orders', body: { workflow: 'alpha', data: {} } }),
        ).order;
        expect(v1order.workflowVersion).toBe(1);

        const v2 = minimalDefinition('alpha', { name: 'Alpha two' }) as { transitions: unknown[] };
        v2.transitions.push({ from: 'received', to: 'done' });
        expect((await t.request('designer', { method: 'PUT', url: '/api/v1/workflows/alpha/draft', body: v2 })).statusCode).toBe(200);
        const published = await t.request('designer', { method: 'POST', url: '/api/v1/workflows/alpha/publish' });
        expect(json(published).publishedVersion).toBe(2);

        const versions = json(await t.request('viewer', { method: 'GET', url: '/api/v1/workflows/alpha/versions' })).items;
        expect(versions).toHaveLength(2);
        expect(
          json(await t.request('viewer', { method: 'GET', url: '/api/v1/workflows/alpha?version=1' })).definition.transitions,
        ).toHaveLength(3);

        // The v1 order has no received → done edge; a new order on v2 does.
        expectProblem(
          await t.request('operator', { method: 'POST', url: `/api/v1/orders/${v1order.id}/transitions`, body: { to: 'done' } }),
          409,
          'transition_not_allowed',
        );
        const v2order = json(
          await t.request('operator', { method: 'POST', url: '/api/v1/orders', body: { workflow: 'alpha', data: {} } }),
        ).order;
        expect(v2order.workflowVersion).toBe(2);
        const moved = await t.request('operator', {
          method: 'POST',
          url: `/api/v1/orders/${v2order.id}/transitions`,
          body: { to: 'done' },
        });
        expect(moved.statusCode, moved.body).toBe(200);
      });
    });
  });
}
