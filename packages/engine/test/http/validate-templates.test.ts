import { DEMO_WORKFLOWS, validateDefinition } from '@orderflow/core';
import { afterEach, describe, expect, it } from 'vitest';
import { isValidEmailAddress } from '../../src/actions/email.js';
import { DIALECTS } from '../dialects.js';
import { createTestOrderflow, expectProblem, json, minimalDefinition, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow;
afterEach(async () => {
  await t.close();
});

interface WireProblem {
  severity: string;
  code: string;
  path: string;
  message: string;
}

const HOOK = 'https://api.example.com/hook';

/** A workflow whose one rule carries `actions`, and optionally `conditions`. */
function withRule(key: string, actions: unknown[], conditions?: unknown) {
  return minimalDefinition(key, {
    rules: [{ id: 'r', trigger: 'state_changed', ...(conditions === undefined ? {} : { conditions }), actions }],
  });
}

/** Every action with a value that is certain to fail when the rule runs, and where validation must point. */
const BROKEN: [string, unknown, string, string][] = [
  ['a set_data value', { type: 'set_data', set: { q: '{% if %}' } }, 'rules.0.actions.0.set.q', 'template_syntax'],
  ['a webhook body', { type: 'webhook', url: HOOK, body: '{{ order.id' }, 'rules.0.actions.0.body', 'template_syntax'],
  [
    'a webhook body leaf with an unknown filter',
    { type: 'webhook', url: HOOK, body: { id: '{{ order.id | no_such_filter }}' } },
    'rules.0.actions.0.body.id',
    'template_syntax',
  ],
  [
    'a webhook header value',
    { type: 'webhook', url: HOOK, headers: { 'x-order': '{{ order.id' } },
    'rules.0.actions.0.headers.x-order',
    'template_syntax',
  ],
  ['a notify message', { type: 'notify', channel: 'admins', message: 'Late: {% for %}' }, 'rules.0.actions.0.message', 'template_syntax'],
  [
    'a notify message that loads another template',
    { type: 'notify', channel: 'admins', message: "{% include 'secrets' %}" },
    'rules.0.actions.0.message',
    'template_syntax',
  ],
  [
    'a create_order data value',
    { type: 'create_order', workflow: 'checked', data: { source: '{{ order.id' } },
    'rules.0.actions.0.data.source',
    'template_syntax',
  ],
  [
    'a send_email recipient expression',
    { type: 'send_email', template: 'order_confirmation', to: '{{ order.data.email' },
    'rules.0.actions.0.to',
    'template_syntax',
  ],
  [
    'a webhook header name with a line break',
    { type: 'webhook', url: HOOK, headers: { 'bad header\r\n': 'x' } },
    'rules.0.actions.0.headers.bad header\r\n',
    'webhook_header_name',
  ],
  [
    'a non-ASCII webhook header name',
    { type: 'webhook', url: HOOK, headers: { 'x-ü': 'x' } },
    'rules.0.actions.0.headers.x-ü',
    'webhook_header_name',
  ],
  [
    'a send_email to that is no address',
    { type: 'send_email', template: 'order_confirmation', to: 'not an address' },
    'rules.0.actions.0.to',
    'email_recipient',
  ],
];

for (const dialect of DIALECTS) {
  describe(`workflow validation of values certain to fail at run time (${dialect})`, () => {
    it('reports each one with its code and exact path, and publishing refuses them', async () => {
      t = await createTestOrderflow({ dialect, demo: true });
      for (const [what, action, path, code] of BROKEN) {
        const def = withRule('checked', [action]);
        const res = await t.request('viewer', { method: 'POST', url: '/api/v1/workflows/checked/validate', body: def });
        expect(res.statusCode, res.body).toBe(200);
        const body = json(res) as { ok: boolean; problems: WireProblem[] };
        expect(body.ok, what).toBe(false);
        const errors = body.problems.filter((p) => p.severity === 'error');
        expect(errors, what).toEqual([{ severity: 'error', code, path, message: expect.any(String) }]);
      }

      // Saving keeps the draft (with its problems); publishing refuses it, naming every error.
      const draft = withRule(
        'checked',
        BROKEN.map(([, action]) => action),
      );
      const created = await t.request('designer', { method: 'POST', url: '/api/v1/workflows', body: draft });
      expect(created.statusCode, created.body).toBe(201);
      expect(json(created).problems.filter((p: WireProblem) => p.severity === 'error')).toHaveLength(BROKEN.length);
      const refused = expectProblem(
        await t.request('designer', { method: 'POST', url: '/api/v1/workflows/checked/publish' }),
        422,
        'validation_failed',
      );
      expect(refused.errors.map((e: { path: string; code: string }) => `${e.code} ${e.path}`).sort()).toEqual(
        BROKEN.map(([, , path, code], j) => `${code} ${path.replace('actions.0', `actions.${j}`)}`).sort(),
      );
    });

    it('reports a comparison without a value', async () => {
      t = await createTestOrderflow({ dialect, demo: false });
      const def = withRule('checked', [{ type: 'notify', channel: 'admins', message: 'big' }], {
        path: 'order.data.total',
        op: 'gt',
      });
      const res = await t.request('viewer', { method: 'POST', url: '/api/v1/workflows/checked/validate', body: def });
      expect(json(res)).toMatchObject({
        ok: false,
        problems: [{ severity: 'error', code: 'condition_value', path: 'rules.0.conditions.value' }],
      });
    });

    it('says where a Liquid template breaks and what to do', async () => {
      t = await createTestOrderflow({ dialect, demo: false });
      const def = withRule('checked', [{ type: 'webhook', url: HOOK, body: { id: '{{ order.id' } }]);
      const res = await t.request('viewer', { method: 'POST', url: '/api/v1/workflows/checked/validate', body: def });
      const [problem] = (json(res) as { problems: WireProblem[] }).problems;
      expect(problem?.message).toMatch(/not closed/);
      expect(problem?.message).toMatch(/line:1/);
    });

    it('accepts valid Liquid everywhere it is rendered, and the demo workflows', async () => {
      t = await createTestOrderflow({ dialect, demo: true });
      const fine = withRule('checked', [
        { type: 'set_data', set: { copy: '{{ order.data.total }}', label: 'Order {{ order.id | upcase }}', n: 1 } },
        {
          type: 'webhook',
          url: HOOK,
          headers: { 'X-Order': '{{ order.id }}', 'x-plain': 'value' },
          body: { id: '{{ order.id }}', state: '{% if new_state %}{{ new_state.key }}{% endif %}', n: 3 },
        },
        { type: 'webhook', url: HOOK, body: '{"id": "{{ order.id }}"}' },
        { type: 'notify', channel: 'admins', message: '{{ order.id }} is {{ new_state.name | default: "somewhere" }}' },
        { type: 'create_order', workflow: 'checked', data: '{"source": "{{ order.id }}"}' },
        { type: 'send_email', template: 'order_confirmation', to: 'customer, admin', cc: '{{ order.data.cc }}' },
      ]);
      const res = await t.request('viewer', { method: 'POST', url: '/api/v1/workflows/checked/validate', body: fine });
      expect(json(res).problems.filter((p: WireProblem) => p.severity === 'error')).toEqual([]);

      for (const demo of DEMO_WORKFLOWS) {
        const answer = await t.request('viewer', { method: 'POST', url: `/api/v1/workflows/${demo.key}/validate`, body: demo });
        expect(json(answer), demo.key).toEqual({ ok: true, problems: [] });
      }
    });
  });
}

describe('email addresses in send_email recipients', () => {
  const samples = [
    'a@b',
    'jane.doe+orders@example.com',
    "o'brien@mail.example.co.uk",
    'a..b@example.com',
    '.a@example.com',
    'a.@example.com',
    'a@-example.com',
    'a@example-.com',
    'a@example..com',
    'a@@example.com',
    '@example.com',
    'a@',
    'a"b@example.com',
    'a@[192.0.2.1]',
    'ü@example.com',
    'a@bücher.de',
    `${'x'.repeat(64)}@example.com`,
    `${'x'.repeat(65)}@example.com`,
    `a@${'x'.repeat(63)}.com`,
    `a@${'x'.repeat(64)}.com`,
    `a@${Array.from({ length: 4 }, () => 'x'.repeat(61)).join('.')}.com`,
    `a@${Array.from({ length: 4 }, () => 'x'.repeat(62)).join('.')}.com`,
  ];
  it.each(samples)('validation agrees with the email sender about %s', (address) => {
    const result = validateDefinition(withRule('checked', [{ type: 'send_email', template: 'x', to: address }]));
    const refused = result.problems.some((p) => p.code === 'email_recipient');
    expect(refused).toBe(!isValidEmailAddress(address));
  });
});
