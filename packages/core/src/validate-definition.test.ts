import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Definition, Rule, State } from './definition.js';
import { DEMO_WORKFLOWS } from './demo.js';
import { hasErrors, PROBLEM_CODES, type Problem, type ValidateOptions, validateDefinition } from './validate-definition.js';

/**
 * A small valid workflow. States: 0 order_created, 1 awaiting_payment,
 * 2 packing, 3 shipping, 4 payment_timeout, 5 delivered. Transitions:
 * 0 order_created → awaiting_payment, 1 awaiting_payment → packing,
 * 2 packing → shipping, 3 shipping → delivered.
 */
function fixture(): Definition {
  return {
    key: 'orders',
    name: 'Orders',
    states: [
      { key: 'order_created', name: 'Order created', group: 'new', initial: true, color: '#64748b' },
      { key: 'awaiting_payment', name: 'Awaiting payment', group: 'processing', timeout: { after: '48h', to: 'payment_timeout' } },
      { key: 'packing', name: 'Packing', group: 'processing' },
      { key: 'shipping', name: 'Shipping', group: 'processing' },
      {
        key: 'payment_timeout',
        name: 'Payment timeout',
        group: 'cancelled',
        cancellation: { initiator: 'customer', code: 'payment_timeout' },
      },
      { key: 'delivered', name: 'Delivered', group: 'completed', requires: ['delivered'] },
    ],
    transitions: [
      { from: 'order_created', to: 'awaiting_payment' },
      { from: 'awaiting_payment', to: 'packing' },
      { from: 'packing', to: 'shipping' },
      { from: 'shipping', to: 'delivered' },
    ],
    rules: [],
  };
}

const state = (d: Definition, key: string): State => {
  const s = d.states.find((x) => x.key === key);
  if (!s) throw new Error(`fixture has no state ${key}`);
  return s;
};
const withRules =
  (...rules: Rule[]) =>
  (d: Definition): void => {
    d.rules = rules;
  };
const notify = { type: 'notify', channel: 'admins', message: 'hello' } as const;

/**
 * A stand-in for the engine's Liquid parser: an output or tag that is not closed, `{% if %}`
 * without a condition, or an unknown filter `nope` does not parse.
 */
function fakeLiquid(source: string): string | undefined {
  if (/\{\{(?![\s\S]*\}\})/.test(source) || /\{%(?![\s\S]*%\})/.test(source)) return 'a tag or output is not closed';
  if (/\{%-?\s*if\s*-?%\}/.test(source)) return 'if needs a condition';
  if (/\|\s*nope\b/.test(source)) return 'undefined filter: nope';
  return undefined;
}

interface Case {
  name: string;
  edit: (d: Definition) => void;
  options?: ValidateOptions;
  code: keyof typeof PROBLEM_CODES;
  path: string;
  message?: RegExp;
}

const cases: Case[] = [
  {
    name: 'a schema violation',
    edit: (d) => {
      d.states[0]!.color = 'red';
    },
    code: 'schema',
    path: 'states.0.color',
  },
  {
    name: 'an unknown field in a rule',
    edit: (d) => {
      d.rules = [{ trigger: 'order_created', actions: [notify], bogus: 1 } as unknown as Rule];
    },
    code: 'schema',
    path: 'rules.0',
  },
  {
    name: 'a state key used twice',
    edit: (d) => {
      d.states.push({ key: 'packing', name: 'Packing again', group: 'processing' });
    },
    code: 'duplicate_state',
    path: 'states.6.key',
  },
  {
    name: 'no initial state',
    edit: (d) => {
      delete d.states[0]!.initial;
    },
    code: 'initial_state_count',
    path: 'states',
  },
  {
    name: 'two initial states',
    edit: (d) => {
      d.states.splice(1, 0, { key: 'imported', name: 'Imported', group: 'new', initial: true });
    },
    code: 'initial_state_count',
    path: 'states.1.initial',
  },
  {
    name: 'an initial state outside new',
    edit: (d) => {
      d.states[0]!.initial = false;
      d.states[2]!.initial = true;
    },
    code: 'initial_not_in_new',
    path: 'states.2.group',
  },
  {
    name: 'an empty completed group',
    edit: (d) => {
      d.states = d.states.filter((s) => s.group !== 'completed');
      d.transitions = d.transitions.filter((t) => t.to !== 'delivered');
    },
    code: 'empty_group',
    path: 'states',
    message: /"completed"/,
  },
  {
    name: 'an empty new group',
    edit: (d) => {
      d.states = d.states.filter((s) => s.group !== 'new');
      d.transitions = d.transitions.slice(1);
    },
    code: 'empty_group',
    path: 'states',
    message: /"new"/,
  },
  {
    name: 'a transition to a missing state',
    edit: (d) => {
      d.transitions[1]!.to = 'nowhere';
    },
    code: 'unknown_state',
    path: 'transitions.1.to',
  },
  {
    name: 'a transition from a missing state',
    edit: (d) => {
      d.transitions[1]!.from = 'nowhere';
    },
    code: 'unknown_state',
    path: 'transitions.1.from',
  },
  {
    name: 'a timeout to a missing state',
    edit: (d) => {
      state(d, 'awaiting_payment').timeout!.to = 'nowhere';
    },
    code: 'unknown_state',
    path: 'states.1.timeout.to',
  },
  {
    name: 'a time_in_state rule on a missing state',
    edit: withRules({ trigger: 'time_in_state', state: 'nowhere', after: '5d', actions: [notify] }),
    code: 'unknown_state',
    path: 'rules.0.state',
  },
  {
    name: 'a new_state condition naming a missing state',
    edit: withRules({ trigger: 'state_changed', conditions: { new_state: ['packing', 'nowhere'] }, actions: [notify] }),
    code: 'unknown_state',
    path: 'rules.0.conditions.new_state.1',
  },
  {
    name: 'a nested old_state condition naming a missing state',
    edit: withRules({
      trigger: 'state_changed',
      conditions: { all: [{ kind: 'order' }, { not: { old_state: 'nowhere' } }] },
      actions: [notify],
    }),
    code: 'unknown_state',
    path: 'rules.0.conditions.all.1.not.old_state',
  },
  {
    name: 'a transition guard naming a missing state',
    edit: (d) => {
      d.transitions[1]!.guard = { old_state: 'nowhere' };
    },
    code: 'unknown_state',
    path: 'transitions.1.guard.old_state',
  },
  {
    name: 'a transition action to a missing state',
    edit: withRules({ trigger: 'event_received', event: 'x', actions: [notify, { type: 'transition', to: 'nowhere' }] }),
    code: 'unknown_state',
    path: 'rules.0.actions.1.to',
  },
  {
    name: 'a new_group condition naming no group',
    edit: withRules({ trigger: 'state_changed', conditions: { new_group: 'done' }, actions: [notify] }),
    code: 'unknown_group',
    path: 'rules.0.conditions.new_group',
  },
  {
    name: 'a transition out of a completed state',
    edit: (d) => {
      d.transitions.push({ from: 'delivered', to: 'packing' });
    },
    code: 'terminal_outgoing',
    path: 'transitions.4',
  },
  {
    name: 'a transition out of group:cancelled',
    edit: (d) => {
      d.transitions.push({ from: 'shipping', to: 'packing' }, { from: 'group:cancelled', to: 'packing' });
    },
    code: 'terminal_outgoing',
    path: 'transitions.5',
  },
  {
    name: 'a timeout on a terminal state',
    edit: (d) => {
      state(d, 'delivered').timeout = { after: '1d', to: 'packing' };
    },
    code: 'terminal_outgoing',
    path: 'states.5.timeout',
  },
  {
    name: 'a rule that moves orders out of a completed state',
    edit: withRules({ trigger: 'state_changed', conditions: { new_state: 'delivered' }, actions: [{ type: 'transition', to: 'packing' }] }),
    code: 'terminal_outgoing',
    path: 'rules.0.actions.0',
  },
  {
    name: 'a timeout back to its own state',
    edit: (d) => {
      state(d, 'awaiting_payment').timeout!.to = 'awaiting_payment';
    },
    code: 'timeout_to_self',
    path: 'states.1.timeout.to',
  },
  {
    name: 'a cancellation default on a processing state',
    edit: (d) => {
      state(d, 'packing').cancellation = { initiator: 'provider', code: 'out_of_stock' };
    },
    code: 'cancellation_outside_cancelled',
    path: 'states.2.cancellation',
  },
  {
    name: 'requires on a processing state',
    edit: (d) => {
      state(d, 'shipping').requires = ['delivered'];
    },
    code: 'requires_outside_completed',
    path: 'states.3.requires',
  },
  {
    name: 'an undeclared required criterion',
    edit: (d) => {
      state(d, 'delivered').requires = ['delivered', 'signed'];
    },
    code: 'unknown_criterion',
    path: 'states.5.requires.1',
  },
  {
    name: 'a fact_recorded rule on an undeclared criterion',
    edit: withRules({ trigger: 'fact_recorded', fact: 'signed', actions: [notify] }),
    code: 'unknown_criterion',
    path: 'rules.0.fact',
  },
  {
    name: 'a record_fact action with an undeclared criterion',
    edit: withRules({ trigger: 'order_created', actions: [{ type: 'record_fact', fact: 'signed' }] }),
    code: 'unknown_criterion',
    path: 'rules.0.actions.0.fact',
  },
  {
    name: 'a cancellation default with another initiator’s code',
    edit: (d) => {
      state(d, 'payment_timeout').cancellation = { initiator: 'provider', code: 'payment_timeout' };
    },
    code: 'unknown_reason',
    path: 'states.4.cancellation.code',
  },
  {
    name: 'a timeout with an unknown reason',
    edit: (d) => {
      state(d, 'awaiting_payment').timeout!.reason = { initiator: 'customer', code: 'too_slow' };
    },
    code: 'unknown_reason',
    path: 'states.1.timeout.reason.code',
  },
  {
    name: 'a transition action with an unknown reason',
    edit: withRules({
      trigger: 'event_received',
      event: 'payment.failed',
      actions: [{ type: 'transition', to: 'payment_timeout', reason: { initiator: 'customer', code: 'card_declined' } }],
    }),
    code: 'unknown_reason',
    path: 'rules.0.actions.0.reason.code',
  },
  {
    name: 'a timeout into a cancelled state without any reason',
    edit: (d) => {
      delete state(d, 'payment_timeout').cancellation;
    },
    code: 'reason_missing',
    path: 'states.1.timeout',
  },
  {
    name: 'a transition action into a cancelled state without any reason',
    edit: (d) => {
      d.states.push({ key: 'customer_cancelled', name: 'Customer cancelled', group: 'cancelled' });
      d.transitions.push({ from: '*', to: 'customer_cancelled' });
      d.rules = [{ trigger: 'event_received', event: 'cancel.requested', actions: [{ type: 'transition', to: 'customer_cancelled' }] }];
    },
    code: 'reason_missing',
    path: 'rules.0.actions.0',
  },
  {
    name: 'an email with an unknown template',
    edit: withRules({ trigger: 'order_created', actions: [{ type: 'send_email', template: 'nope', to: 'customer' }] }),
    options: { templates: ['order_confirmation'] },
    code: 'unknown_template',
    path: 'rules.0.actions.0.template',
  },
  {
    name: 'a webhook to an unknown endpoint',
    edit: withRules({ trigger: 'order_created', actions: [notify, { type: 'webhook', endpoint: 'crm' }] }),
    options: { endpoints: ['erp'] },
    code: 'unknown_endpoint',
    path: 'rules.0.actions.1.endpoint',
  },
  {
    name: 'create_order into an unknown workflow',
    edit: withRules({ trigger: 'order_created', actions: [{ type: 'create_order', workflow: 'returns' }] }),
    options: { workflows: ['subscriptions'] },
    code: 'unknown_workflow',
    path: 'rules.0.actions.0.workflow',
  },
  {
    name: 'a webhook with neither url nor endpoint',
    edit: withRules({ trigger: 'order_created', actions: [{ type: 'webhook' }] }),
    code: 'webhook_target',
    path: 'rules.0.actions.0',
  },
  {
    name: 'a webhook with both url and endpoint',
    edit: withRules({ trigger: 'order_created', actions: [{ type: 'webhook', url: 'https://example.com/x', endpoint: 'crm' }] }),
    code: 'webhook_target',
    path: 'rules.0.actions.0',
  },
  {
    name: 'event_received without event',
    edit: withRules({ trigger: 'event_received', actions: [notify] }),
    code: 'trigger_field_missing',
    path: 'rules.0.event',
  },
  {
    name: 'time_in_state without after',
    edit: withRules({ trigger: 'time_in_state', state: 'shipping', actions: [notify] }),
    code: 'trigger_field_missing',
    path: 'rules.0.after',
  },
  {
    name: 'time_in_state without state',
    edit: withRules({ trigger: 'time_in_state', after: '5d', actions: [notify] }),
    code: 'trigger_field_missing',
    path: 'rules.0.state',
  },
  {
    name: 'fact_recorded without fact',
    edit: withRules({ trigger: 'fact_recorded', actions: [notify] }),
    code: 'trigger_field_missing',
    path: 'rules.0.fact',
  },
  {
    name: 'two rules with the same id',
    edit: withRules(
      { id: 'greet', trigger: 'order_created', actions: [notify] },
      { id: 'greet', trigger: 'order_created', actions: [notify] },
    ),
    code: 'duplicate_rule_id',
    path: 'rules.1.id',
  },
  {
    name: 'an explicit id equal to another rule’s generated one',
    edit: withRules({ id: 'rule-2', trigger: 'order_created', actions: [notify] }, { trigger: 'order_created', actions: [notify] }),
    code: 'duplicate_rule_id',
    path: 'rules.1',
  },
  {
    name: 'an event on a state_changed rule',
    edit: withRules({ trigger: 'state_changed', event: 'package.lost', actions: [notify] }),
    code: 'trigger_field_unexpected',
    path: 'rules.0.event',
  },
  {
    name: 'a rule without actions',
    edit: withRules({ trigger: 'order_created', actions: [] }),
    code: 'rule_no_actions',
    path: 'rules.0.actions',
  },
  {
    name: 'a rule transition with no transition edge',
    edit: withRules({
      trigger: 'state_changed',
      conditions: { new_state: 'shipping' },
      actions: [{ type: 'transition', to: 'awaiting_payment' }],
    }),
    code: 'rule_transition_no_edge',
    path: 'rules.0.actions.0.to',
  },
  {
    name: 'a layout entry for a missing state',
    edit: (d) => {
      d.layout = { order_created: { x: 0, y: 0 }, ghost: { x: 10, y: 10 } };
    },
    code: 'layout_unknown_state',
    path: 'layout.ghost',
  },
  {
    name: 'a timeout back into new',
    edit: (d) => {
      state(d, 'awaiting_payment').timeout!.to = 'order_created';
    },
    code: 'timeout_backwards',
    path: 'states.1.timeout.to',
  },
  {
    name: 'a state nothing leads to',
    edit: (d) => {
      d.states.push({ key: 'limbo', name: 'Limbo', group: 'processing' });
      d.transitions.push({ from: 'limbo', to: 'delivered' });
    },
    code: 'unreachable_state',
    path: 'states.6',
  },
  {
    name: 'a state with no way out',
    edit: (d) => {
      d.states.push({ key: 'stuck', name: 'Stuck', group: 'processing' });
      d.transitions.push({ from: 'packing', to: 'stuck' });
    },
    code: 'no_path_to_terminal',
    path: 'states.6',
  },
  {
    name: 'a timeout and a state_changed rule that feed each other',
    edit: (d) => {
      d.states.push({ key: 'delayed', name: 'Delayed', group: 'processing' });
      state(d, 'packing').timeout = { after: '3d', to: 'delayed' };
      d.transitions.push({ from: 'delayed', to: 'packing' });
      d.rules = [
        { trigger: 'state_changed', conditions: { new_state: 'delayed' }, actions: [notify, { type: 'transition', to: 'packing' }] },
      ];
    },
    code: 'automated_cycle',
    path: 'rules.0.actions.1',
    message: /packing → delayed → packing/,
  },
  {
    name: 'a time_in_state rule and a state_changed rule that feed each other',
    edit: (d) => {
      d.transitions.push({ from: 'shipping', to: 'packing' });
      d.rules = [
        { trigger: 'time_in_state', state: 'shipping', after: '5d', actions: [{ type: 'transition', to: 'packing' }] },
        { trigger: 'state_changed', conditions: { new_state: 'packing' }, actions: [{ type: 'transition', to: 'shipping' }] },
      ];
    },
    code: 'automated_cycle',
    path: 'rules.1.actions.0',
    message: /packing → shipping → packing/,
  },
  {
    name: 'an unconditional state_changed rule moving into a state it also fires in',
    edit: (d) => {
      d.transitions.push({ from: '*', to: 'packing' });
      d.rules = [{ trigger: 'state_changed', actions: [{ type: 'transition', to: 'packing' }] }];
    },
    code: 'automated_cycle',
    path: 'rules.0.actions.0',
    message: /packing → packing/,
  },
  ...[
    'ftp://files.example.com/drop',
    'file:///etc/passwd',
    'https://user:pass@api.example.com/hook',
    'https://token@api.example.com/hook',
  ].map(
    (url): Case => ({
      name: `a webhook URL ${url}`,
      edit: withRules({ trigger: 'state_changed', actions: [{ type: 'webhook', url }] }),
      code: 'webhook_url',
      path: 'rules.0.actions.0.url',
    }),
  ),
  ...['Authorization', 'cookie', 'X-Api-Key', 'x-auth-token', 'X-Client-Secret', 'db-password', 'Proxy-Authorization'].map(
    (name): Case => ({
      name: `an inline webhook header ${name}`,
      edit: withRules({
        trigger: 'state_changed',
        actions: [{ type: 'webhook', url: 'https://api.example.com/hook', headers: { [name]: 'x' } }],
      }),
      code: 'webhook_credential_header',
      path: `rules.0.actions.0.headers.${name}`,
      message: /named endpoint/,
    }),
  ),
  {
    name: 'an order_created rule that creates orders of its own workflow',
    edit: (d) => {
      d.rules = [
        {
          trigger: 'order_created',
          actions: [
            { type: 'create_order', workflow: d.key },
            { type: 'create_order', workflow: d.key },
          ],
        },
      ];
    },
    code: 'automated_cycle',
    path: 'rules.0.actions.0',
    message: /\(order created\) → \(order created\)/,
  },
  {
    name: "a fact_recorded rule and a state_changed rule that record each other's facts",
    edit: (d) => {
      d.criteria = ['checked'];
      d.transitions.push({ from: '*', to: 'packing' });
      d.rules = [
        { trigger: 'fact_recorded', fact: 'checked', actions: [{ type: 'transition', to: 'packing' }] },
        { trigger: 'state_changed', conditions: { new_state: 'packing' }, actions: [{ type: 'record_fact', fact: 'checked' }] },
      ];
    },
    code: 'automated_cycle',
    path: 'rules.1.actions.0',
    message: /packing → \(fact "checked"\) → packing/,
  },
  {
    name: 'an event rule whose webhook posts the same event back to an order',
    edit: (d) => {
      d.rules = [
        {
          trigger: 'event_received',
          event: 'ping',
          actions: [{ type: 'webhook', url: 'https://orders.example.com/api/v1/orders/{{ order.id }}/events', body: { type: 'ping' } }],
        },
      ];
    },
    code: 'automated_cycle',
    path: 'rules.0.actions.0',
    message: /\(event "ping"\) → \(event "ping"\)/,
  },
  {
    name: 'a comparison without a value',
    edit: withRules({ trigger: 'state_changed', conditions: { path: 'order.data.total', op: 'gt' }, actions: [notify] }),
    code: 'condition_value',
    path: 'rules.0.conditions.value',
    message: /needs a "value"/,
  },
  {
    name: 'a nested comparison without a value in a transition guard',
    edit: (d) => {
      d.transitions[1]!.guard = { all: [{ kind: 'order' }, { not: { path: 'order.data.note', op: 'startsWith' } }] };
    },
    code: 'condition_value',
    path: 'transitions.1.guard.all.1.not.value',
  },
  {
    name: 'an "in" comparison whose value is not a list',
    edit: withRules({ trigger: 'state_changed', conditions: { path: 'order.data.country', op: 'in', value: 'DE' }, actions: [notify] }),
    code: 'condition_value',
    path: 'rules.0.conditions.value',
    message: /list/,
  },
  ...['bad header\r\n', 'x-ü', 'two words', '', 'x'.repeat(101)].map(
    (name): Case => ({
      name: `a webhook header name ${JSON.stringify(name.slice(0, 20))}`,
      edit: withRules({
        trigger: 'state_changed',
        actions: [{ type: 'webhook', url: 'https://api.example.com/hook', headers: { 'x-ok': 'fine', [name]: 'x' } }],
      }),
      code: 'webhook_header_name',
      path: `rules.0.actions.0.headers.${name}`,
    }),
  ),
  ...(
    [
      ['to', 'not an address'],
      ['to', 'admins'],
      ['to', 'customer, Ops <ops@example.com>'],
      ['to', ' ; , '],
      ['cc', 'customer; nobody'],
    ] as const
  ).map(
    ([field, value]): Case => ({
      name: `a send_email ${field} of ${JSON.stringify(value)}`,
      edit: withRules({
        trigger: 'order_created',
        actions: [notify, { type: 'send_email', template: 'order_confirmation', to: 'customer', [field]: value }],
      }),
      code: 'email_recipient',
      path: `rules.0.actions.1.${field}`,
    }),
  ),
  ...(
    [
      ['a set_data value', { type: 'set_data', set: { q: '{% if %}' } }, 'set.q'],
      ['a nested set_data value', { type: 'set_data', set: { a: { b: ['ok', 'x {{ order.id'] } } }, 'set.a.b.1'],
      ['a webhook body string', { type: 'webhook', url: 'https://api.example.com/hook', body: '{{ order.id' }, 'body'],
      [
        'a webhook body leaf',
        { type: 'webhook', url: 'https://api.example.com/hook', body: { order: { id: '{{ order.id | nope }}' } } },
        'body.order.id',
      ],
      [
        'a leaf of a webhook body given as JSON text',
        { type: 'webhook', url: 'https://api.example.com/hook', body: '{"id": "{{ order.id"}' },
        'body',
      ],
      [
        'a webhook header value',
        { type: 'webhook', url: 'https://api.example.com/hook', headers: { 'x-order': '{{ order.id' } },
        'headers.x-order',
      ],
      ['a notify message', { type: 'notify', channel: 'admins', message: 'Order {{ order.id is late' }, 'message'],
      ['a create_order data value', { type: 'create_order', workflow: 'orders', data: { source: '{{ order.id' } }, 'data.source'],
      ['create_order data text', { type: 'create_order', workflow: 'orders', data: '{"source": "{{ order.id"}' }, 'data'],
      ['a send_email recipient expression', { type: 'send_email', template: 'x', to: '{{ order.data.email' }, 'to'],
      ['a send_email cc expression', { type: 'send_email', template: 'x', to: 'customer', cc: '{% if %}' }, 'cc'],
    ] as const
  ).map(
    ([what, action, field]): Case => ({
      name: `a Liquid syntax error in ${what}`,
      edit: withRules({ trigger: 'state_changed', actions: [notify, action as Rule['actions'][number]] }),
      options: { checkTemplate: fakeLiquid },
      code: 'template_syntax',
      path: `rules.0.actions.1.${field}`,
      message: /does not parse/,
    }),
  ),
  {
    name: 'two states whose timeouts point at each other',
    edit: (d) => {
      state(d, 'packing').timeout = { after: '1m', to: 'shipping' };
      state(d, 'shipping').timeout = { after: '1m', to: 'packing' };
    },
    code: 'automated_cycle',
    path: 'states.2.timeout',
    message: /packing → shipping → packing/,
  },
];

function run(edit: (d: Definition) => void, options?: ValidateOptions) {
  const d = fixture();
  edit(d);
  return validateDefinition(d, options);
}

describe('validateDefinition', () => {
  it('accepts the fixture without any problem', () => {
    const result = validateDefinition(fixture());
    expect(result.problems).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.definition).toEqual(fixture());
  });

  describe.each(cases)('reports $code for $name', ({ edit, options, code, path, message }) => {
    it(`at ${path}`, () => {
      const result = run(edit, options);
      const found = result.problems.filter((p) => p.code === code && p.path === path);
      expect(found, JSON.stringify(result.problems, null, 2)).toHaveLength(1);
      const problem = found[0] as Problem;
      expect(problem.severity).toBe(PROBLEM_CODES[code]);
      if (message) expect(problem.message).toMatch(message);
      expect(result.ok).toBe(!hasErrors(result.problems));
      if (PROBLEM_CODES[code] === 'error') expect(result.ok).toBe(false);
    });
  });

  it('has a case for every problem code', () => {
    expect(new Set(cases.map((c) => c.code))).toEqual(new Set(Object.keys(PROBLEM_CODES)));
  });

  it('reports schema problems alone, without a definition', () => {
    const result = run((d) => {
      d.states[0]!.color = 'red';
      d.transitions[0]!.to = 'nowhere';
    });
    expect(result.ok).toBe(false);
    expect(result.definition).toBeUndefined();
    expect(result.problems.map((p) => p.code)).toEqual(['schema']);
  });

  it('returns the parsed definition alongside semantic errors', () => {
    const result = run((d) => {
      d.transitions[0]!.to = 'nowhere';
    });
    expect(result.ok).toBe(false);
    expect(result.definition?.transitions[0]?.to).toBe('nowhere');
  });

  it.each<[string, (d: Definition) => void, ValidateOptions | undefined]>([
    ['a transition back into new', (d) => void d.transitions.push({ from: 'awaiting_payment', to: 'order_created' }), undefined],
    [
      'transitions from * and group:processing',
      (d) => {
        d.transitions.push({ from: '*', to: 'payment_timeout' }, { from: 'group:processing', to: 'packing' });
      },
      undefined,
    ],
    [
      'declared criteria and reasons',
      (d) => {
        d.criteria = ['signed'];
        d.reasons = { provider: ['warehouse_fire'] };
        state(d, 'delivered').requires = ['delivered', 'signed'];
        state(d, 'payment_timeout').cancellation = { initiator: 'provider', code: 'warehouse_fire' };
      },
      undefined,
    ],
    [
      'a template when no template list is given',
      withRules({ trigger: 'order_created', actions: [{ type: 'send_email', template: 'anything', to: 'customer' }] }),
      undefined,
    ],
    [
      'a replacement order in the same workflow',
      withRules({
        trigger: 'event_received',
        event: 'package.lost',
        actions: [{ type: 'create_order', workflow: 'orders', link: 'replacement' }],
      }),
      { workflows: [] },
    ],
    [
      'a disabled rule that would loop',
      (d) => {
        d.transitions.push({ from: '*', to: 'packing' });
        d.rules = [{ trigger: 'state_changed', enabled: false, actions: [{ type: 'transition', to: 'packing' }] }];
      },
      undefined,
    ],
    [
      'a rule moving on an outside event',
      (d) => {
        d.transitions.push({ from: 'shipping', to: 'packing' });
        d.rules = [
          {
            trigger: 'event_received',
            event: 'package.returned',
            conditions: { new_state: 'shipping' },
            actions: [{ type: 'transition', to: 'packing' }],
          },
          { trigger: 'state_changed', conditions: { new_state: 'packing' }, actions: [notify] },
        ];
      },
      undefined,
    ],
    [
      'a second new state, where orders may also be created',
      (d) => {
        d.states.splice(1, 0, { key: 'imported', name: 'Imported', group: 'new' });
        d.transitions.push({ from: 'imported', to: 'packing' });
      },
      undefined,
    ],
    [
      'recipients that are keywords, addresses or Liquid',
      withRules({
        trigger: 'order_created',
        actions: [
          { type: 'send_email', template: 'a', to: 'customer, admin', cc: '  ' },
          { type: 'send_email', template: 'b', to: 'ops@example.com; sales.team+orders@mail.example.com', cc: 'customer' },
          {
            type: 'send_email',
            template: 'c',
            to: '{{ order.data.contact.email }}',
            cc: '{% if order.data.vip %}vip@example.com{% endif %}',
          },
        ],
      }),
      { checkTemplate: fakeLiquid },
    ],
    [
      'header names that are HTTP tokens',
      withRules({
        trigger: 'state_changed',
        actions: [
          {
            type: 'webhook',
            url: 'https://api.example.com/hook',
            headers: { 'X-Request-Id': '{{ order.id }}', "x-b!#$%&'*+.^_`|~9": 'v' },
          },
        ],
      }),
      { checkTemplate: fakeLiquid },
    ],
    [
      'comparisons with values, and exists without one',
      withRules({
        trigger: 'state_changed',
        conditions: {
          all: [
            { path: 'order.data.total', op: 'gt', value: 0 },
            { path: 'order.data.note', op: 'exists' },
            { path: 'order.data.country', op: 'nin', value: ['DE', 'AT'] },
            { path: 'order.data.coupon', op: 'eq', value: null },
          ],
        },
        actions: [notify],
      }),
      undefined,
    ],
    [
      'Liquid errors when no template checker is given',
      withRules({
        trigger: 'state_changed',
        actions: [
          { type: 'set_data', set: { q: '{% if %}' } },
          { type: 'notify', channel: 'ops', message: '{{ x' },
        ],
      }),
      undefined,
    ],
    [
      'Liquid-looking text in values that are never rendered',
      withRules({
        trigger: 'state_changed',
        conditions: { path: 'order.data.q', op: 'eq', value: '{{ x' },
        actions: [
          { type: 'record_fact', fact: 'delivered', evidence: { note: '{{ x' } },
          { type: 'webhook', url: 'https://api.example.com/hook', body: { id: '{{ order.id }}', n: 1, ok: true, none: null } },
        ],
      }),
      { checkTemplate: fakeLiquid },
    ],
  ])('reports nothing for %s', (_name, edit, options) => {
    expect(run(edit, options).problems).toEqual([]);
  });

  it('accepts the SPEC §2 example rule exactly as written', () => {
    const example: unknown = JSON.parse(`{
  "trigger": "state_changed",
  "conditions": { "new_state": "delayed" },
  "actions": [
    { "type": "send_email", "template": "delay_notification", "to": "customer" },
    { "type": "webhook", "url": "https://api.example.com/notify" }
  ]
}`);
    const d = fixture();
    d.states.splice(4, 0, { key: 'delayed', name: 'Delayed', group: 'processing' });
    d.transitions.push({ from: 'shipping', to: 'delayed' }, { from: 'delayed', to: 'delivered' });
    const input = { ...d, rules: [example] };
    const result = validateDefinition(input, { templates: ['delay_notification'], endpoints: [] });
    expect(result.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.definition?.rules).toEqual([example]);
  });

  it('passes exactly the rule values that are rendered, as rendered, to checkTemplate', () => {
    const seen: string[] = [];
    const result = run(
      withRules({
        trigger: 'state_changed',
        actions: [
          {
            type: 'set_data',
            set: { plain: 'text', copy: '{{ order.data.total }}', text: 'Hi {{ order.id }}', n: 3, list: ['{% if a %}x{% endif %}'] },
          },
          { type: 'notify', channel: 'ops', message: 'plain message' },
          {
            type: 'webhook',
            url: 'https://api.example.com/hook',
            headers: { 'x-a': 'plain header' },
            body: { id: '{{ order.id }}', text: 'no liquid', nested: ['{{ order.state }} now'] },
          },
          { type: 'webhook', url: 'https://api.example.com/hook', body: '{"k": "{{ order.kind }}"}' },
          { type: 'webhook', url: 'https://api.example.com/hook', body: 'plain {{ order.id }} text' },
          { type: 'create_order', workflow: 'orders', data: '{"from": "{{ order.id }}"}' },
          { type: 'create_order', workflow: 'orders', data: { from: '{{ order.id }}', label: 'Copy of {{ order.id }}' } },
          { type: 'send_email', template: 'x', to: 'customer', cc: '{{ order.data.cc }}' },
          { type: 'transition', to: 'packing', note: '{{ not rendered' },
        ],
      }),
      {
        checkTemplate: (source) => {
          seen.push(source);
          return undefined;
        },
      },
    );
    expect(result.problems.filter((p) => p.code === 'template_syntax')).toEqual([]);
    expect(seen).toEqual([
      // set_data: a value that is exactly {{ path }} is copied without Liquid; text without Liquid is kept.
      'Hi {{ order.id }}',
      '{% if a %}x{% endif %}',
      'plain message',
      'plain header',
      '{{ order.id }}',
      '{{ order.state }} now',
      '{{ order.kind }}',
      'plain {{ order.id }} text',
      '{"from": "{{ order.id }}"}',
      'Copy of {{ order.id }}',
      '{{ order.data.cc }}',
    ]);
  });

  it('reports a template checker that throws as a template problem, not as an unreadable document', () => {
    const result = run(withRules({ trigger: 'state_changed', actions: [{ type: 'notify', channel: 'ops', message: 'x' }] }), {
      checkTemplate: () => {
        throw new Error('boom');
      },
    });
    expect(result.problems).toMatchObject([{ code: 'template_syntax', path: 'rules.0.actions.0.message', message: /boom/ }]);
  });

  it('reports each automated cycle once', () => {
    const result = run((d) => {
      d.transitions.push({ from: '*', to: 'packing' }, { from: '*', to: 'shipping' });
      d.rules = [
        { trigger: 'state_changed', conditions: { new_state: 'packing' }, actions: [{ type: 'transition', to: 'shipping' }] },
        { trigger: 'state_changed', conditions: { new_state: 'shipping' }, actions: [{ type: 'transition', to: 'packing' }] },
        { trigger: 'state_changed', conditions: { new_state: ['packing', 'shipping'] }, actions: [notify] },
      ];
    });
    expect(result.problems.filter((p) => p.code === 'automated_cycle')).toHaveLength(1);
  });

  it.each<[string, unknown]>([
    ['null', null],
    ['undefined', undefined],
    ['an array', [fixture()]],
    ['a string', 'orders'],
    ['a number', 42],
  ])('reports a schema problem for %s', (_name, input) => {
    const result = validateDefinition(input);
    expect(result.ok).toBe(false);
    expect(result.problems.length).toBeGreaterThan(0);
    expect(result.problems.every((p) => p.code === 'schema' && p.severity === 'error')).toBe(true);
  });

  it('does not throw on a circular or absurdly deep condition', () => {
    const circular: Record<string, unknown> = {};
    circular.not = circular;
    let deep: unknown = { new_state: 'packing' };
    for (let i = 0; i < 100_000; i++) deep = { not: deep };
    for (const conditions of [circular, deep]) {
      const d = { ...fixture(), rules: [{ trigger: 'state_changed', conditions, actions: [notify] }] };
      const result = validateDefinition(d);
      expect(result.ok).toBe(false);
      expect(result.problems.every((p) => p.code === 'schema')).toBe(true);
    }
  });

  it('ignores malformed options', () => {
    const result = validateDefinition(fixture(), { templates: 'x', endpoints: null } as unknown as ValidateOptions);
    expect(result.problems).toEqual([]);
  });
});

function wellFormed(result: ReturnType<typeof validateDefinition>): void {
  expect(Array.isArray(result.problems)).toBe(true);
  for (const p of result.problems) {
    expect(p.code in PROBLEM_CODES).toBe(true);
    expect(p.severity).toBe(PROBLEM_CODES[p.code as keyof typeof PROBLEM_CODES]);
    expect(typeof p.path).toBe('string');
    expect(typeof p.message).toBe('string');
  }
  expect(result.ok).toBe(!hasErrors(result.problems));
  if (result.ok) expect(result.definition).toBeDefined();
  // The catch-all is for stack exhaustion only; shallow input must get real answers.
  expect(result.problems.filter((p) => /cannot be read/.test(p.message))).toEqual([]);
}

/** The fixture with rules that exercise every trigger and action, as the base for mutations. */
function richFixture(): Definition {
  const d = fixture();
  d.states.splice(4, 0, { key: 'delayed', name: 'Delayed', group: 'processing' });
  d.transitions.push(
    { from: 'shipping', to: 'delayed' },
    { from: 'delayed', to: 'shipping' },
    { from: 'group:processing', to: 'payment_timeout' },
  );
  d.criteria = ['signed'];
  d.reasons = { customer: ['gift_card_expired'], provider: [] };
  d.layout = { order_created: { x: 40, y: 80 } };
  d.rules = [
    {
      id: 'delay-apology',
      trigger: 'state_changed',
      conditions: { new_state: 'delayed' },
      actions: [
        { type: 'send_email', template: 'delay_notification', to: 'customer' },
        { type: 'webhook', url: 'https://api.example.com/notify' },
      ],
    },
    {
      trigger: 'event_received',
      event: 'payment.received',
      conditions: { old_state: 'awaiting_payment' },
      actions: [{ type: 'transition', to: 'packing' }],
    },
    { trigger: 'time_in_state', state: 'shipping', after: '5d', actions: [{ type: 'transition', to: 'delayed', delay: '1h' }] },
    {
      trigger: 'fact_recorded',
      fact: 'delivered',
      conditions: { all: [{ new_group: 'processing' }, { path: 'order.data.total', op: 'gte', value: 100 }] },
      actions: [{ type: 'transition', to: 'delivered' }],
    },
    {
      trigger: 'order_created',
      actions: [
        { type: 'record_fact', fact: 'signed' },
        { type: 'create_order', workflow: 'orders', link: 'replacement' },
      ],
    },
  ];
  return d;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path to a value inside `value`, the root excluded. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [];
  const entries: [string | number, unknown][] = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  return entries.flatMap(([k, v]) => [[...prefix, k], ...paths(v, [...prefix, k])]);
}

function mutate(base: Definition, at: (string | number)[], replacement: unknown, remove: boolean): unknown {
  const copy = JSON.parse(JSON.stringify(base)) as Json;
  let parent: unknown = copy;
  for (const k of at.slice(0, -1)) parent = (parent as Record<string | number, unknown>)[k];
  const last = at[at.length - 1] as string | number;
  const target = parent as Record<string | number, unknown>;
  if (remove) {
    if (Array.isArray(target)) target.splice(last as number, 1);
    else delete target[last];
  } else {
    target[last] = replacement;
  }
  return copy;
}

describe('validateDefinition (properties)', () => {
  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(
        fc.anything({ withObjectString: true, withNullPrototype: true, withBigInt: true, withDate: true, withMap: true, withSet: true }),
        (input) => {
          wellFormed(validateDefinition(input));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never throws on mutations of a valid definition', () => {
    const base = richFixture();
    expect(validateDefinition(base).ok).toBe(true);
    const all = paths(base);
    const keys = base.states.map((s) => s.key);
    const replacement = fc.oneof(
      fc.anything(),
      fc.constantFrom<unknown>(
        ...keys,
        '*',
        'group:completed',
        'group:new',
        'nowhere',
        '48h',
        true,
        [],
        {},
        'cancelled',
        'completed',
        'new',
      ),
      fc.record({ after: fc.constant('1d'), to: fc.constantFrom(...keys) }),
      fc.record({ type: fc.constant('transition'), to: fc.constantFrom(...keys) }),
    );
    const mutation = fc.record({ at: fc.constantFrom(...all), value: replacement, remove: fc.boolean() });
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        let doc: unknown = base;
        for (const m of mutations) {
          const current = paths(doc);
          const stillThere = current.some((p) => p.join('.') === m.at.join('.'));
          if (stillThere) doc = mutate(doc as Definition, m.at, m.value, m.remove);
        }
        wellFormed(validateDefinition(doc, { templates: ['delay_notification'], endpoints: ['crm'], workflows: ['orders'] }));
      }),
      { numRuns: 500 },
    );
  });
});

describe('the demo workflows', () => {
  it.each(DEMO_WORKFLOWS.map((d) => [d.key, d] as const))('%s validates without any problem', (_key, d) => {
    expect(validateDefinition(d).problems).toEqual([]);
  });
});
