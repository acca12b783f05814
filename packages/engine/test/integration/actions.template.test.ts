import { DEMO_ORDERS, DEMO_TEMPLATES, type EventEnvelope, type Order } from '@orderflow/core';
import { describe, expect, it } from 'vitest';
import {
  createTemplateChecker,
  createTemplateRenderer,
  hasHeaderInjection,
  htmlToText,
  TemplateError,
  templateVars,
} from '../../src/actions/template.js';

const order: Order = {
  id: 'ord_01TEST',
  workflow: 'orders',
  workflowVersion: 3,
  kind: 'order',
  externalRef: 'A-1001',
  state: 'delayed',
  group: 'processing',
  data: { customer: { name: 'Ada <b>Lovelace</b>', email: 'ada@example.com' }, deliveryEstimate: '2026-03-14', total: 42 },
  facts: {},
  cancellation: null,
  links: [],
  version: 4,
  visit: 1,
  createdAt: '2026-03-01T10:00:00.000Z',
  updatedAt: '2026-03-02T10:00:00.000Z',
  stateEnteredAt: '2026-03-02T10:00:00.000Z',
};

const envelope: EventEnvelope = {
  id: 'evt_01TEST',
  type: 'order.state_changed',
  createdAt: '2026-03-02T10:00:00.000Z',
  data: { order, from: 'packing', to: 'delayed', rule: 'delay-apology' },
};

const vars = templateVars(envelope, DEMO_ORDERS, { now: '2026-03-02T10:00:01.000Z' });

describe('template renderer', () => {
  const renderer = createTemplateRenderer();

  it('renders order data', () => {
    expect(renderer.render('Hello {{ order.data.customer.name }}', vars)).toBe('Hello Ada <b>Lovelace</b>');
  });

  it('builds the SPEC §3 variables with states looked up in the definition', () => {
    expect(vars.old_state).toEqual({ key: 'packing', name: 'Packing', publicName: 'Packing', group: 'processing' });
    expect(vars.new_state).toEqual({ key: 'delayed', name: 'Delayed', publicName: 'Delayed in transit', group: 'processing' });
    expect(vars.workflow).toEqual({ key: 'orders', version: 3, name: DEMO_ORDERS.name });
    expect(vars.now).toBe('2026-03-02T10:00:01.000Z');
    expect(vars.event).toBeNull();
    expect(renderer.render('{{ old_state.name }} → {{ new_state.key }} ({{ new_state.group }})', vars)).toBe(
      'Packing → delayed (processing)',
    );
  });

  it('falls back to state keys without a definition', () => {
    const v = templateVars({ ...envelope, data: { ...envelope.data, event: { type: 'package.lost', data: { carrier: 'X' } } } });
    expect(v.old_state).toEqual({ key: 'packing', name: 'packing', publicName: 'packing', group: null });
    expect(v.new_state).toEqual({ key: 'delayed', name: 'delayed', publicName: 'delayed', group: 'processing' });
    expect(renderer.render('{{ event.type }}/{{ event.data.carrier }}', v)).toBe('package.lost/X');
  });

  it('escapes HTML output in HTML templates and leaves text raw', () => {
    const evil = { ...vars, order: { ...order, data: { note: '<script>alert(1)</script>' } } };
    const html = renderer.render('<p>{{ order.data.note }}</p>', evil, { escape: true });
    expect(html).toBe('<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>');
    expect(html).not.toContain('<script>');
    expect(renderer.render('{{ order.data.note }}', evil)).toBe('<script>alert(1)</script>');
  });

  it('refuses include, render and layout when parsing', () => {
    for (const source of [
      "{% include 'x' %}",
      "{% render 'x' %}",
      "{% layout 'x' %}",
      '{% include x %}',
      "{% render '../../../etc/passwd' %}",
    ]) {
      expect(() => renderer.render(source, vars), source).toThrow(TemplateError);
    }
    expect(() => renderer.render("{% include 'x' %}", vars)).toThrow(/not available/);
  });

  it('cannot reach prototypes or constructors', () => {
    for (const source of [
      '{{ order.constructor }}',
      '{{ order.__proto__ }}',
      '{{ order.constructor.constructor }}',
      '{{ order.data.customer.name.constructor }}',
      '{{ order.__proto__.toString }}',
      '{{ order.hasOwnProperty }}',
      '{{ order.data.toString }}',
    ]) {
      expect(renderer.render(source, vars), source).toBe('');
    }
  });

  it('fails on unknown filters at parse time', () => {
    expect(() => renderer.render('{{ order.id | no_such_filter }}', vars)).toThrow(TemplateError);
  });

  it('renders unknown variables as empty', () => {
    expect(renderer.render('[{{ order.data.nope.deeper }}]', vars)).toBe('[]');
  });

  it('stops a huge range quickly instead of hanging', () => {
    const started = performance.now();
    expect(() => renderer.render('{% for i in (1..100000000) %}{{ i }}{% endfor %}', vars)).toThrow(/limit exceeded/);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('stops a long-running render at the render time limit', () => {
    const fast = createTemplateRenderer({ renderLimitMs: 100 });
    const xs = Array.from({ length: 2_000 }, (_, i) => i);
    const started = performance.now();
    expect(() =>
      fast.render('{% for a in xs %}{% for b in xs %}{% for c in xs %}{% endfor %}{% endfor %}{% endfor %}', { ...vars, xs }),
    ).toThrow(/render limit exceeded/);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('refuses templates over the parse limit and output over the output limit', () => {
    const small = createTemplateRenderer({ parseLimit: 100, maxOutputLength: 50 });
    expect(() => small.render('x'.repeat(101), vars)).toThrow(TemplateError);
    expect(() => small.render('{% for i in (1..60) %}x{% endfor %}', vars)).toThrow(/output/);
  });

  it('renders the demo delay apology with the delivery estimate, subject raw and html escaped', () => {
    const template = DEMO_TEMPLATES.find((t) => t.key === 'delay_notification')!;
    const email = renderer.renderEmail(template, vars);
    expect(email.subject).toBe('Your order A-1001 is delayed');
    expect(email.html).toContain('<strong>2026-03-14</strong>');
    expect(email.html).toContain('Ada &lt;b&gt;Lovelace&lt;/b&gt;');
    expect(email.text).toContain('The new delivery estimate is 2026-03-14.');
  });

  it('derives a text part from the HTML when the template has none', () => {
    const email = renderer.renderEmail({ subject: ' Hi \n', html: '<p>Hello {{ order.data.customer.name }}</p><p>Bye</p>' }, vars);
    expect(email.subject).toBe('Hi');
    expect(email.text).toBe('Hello Ada <b>Lovelace</b>\nBye');
    expect(htmlToText('a&amp;b<br>c')).toBe('a&b\nc');
  });

  it('detects header injection', () => {
    expect(hasHeaderInjection('fine subject')).toBe(false);
    expect(hasHeaderInjection('a\r\nBcc: x@example.com')).toBe(true);
    expect(hasHeaderInjection('a\nb')).toBe(true);
    expect(hasHeaderInjection('a\rb')).toBe(true);
    expect(hasHeaderInjection('a\0b')).toBe(true);
  });
});

describe('template checker', () => {
  const sources = [
    'Hello {{ order.data.customer.name | upcase }}',
    '{% if order.data.total > 10 %}big{% else %}small{% endif %}',
    'plain text',
    '{{ order.id',
    '{% if %}',
    '{% for x in order.data.items %}',
    '{{ order.id | no_such_filter }}',
    "{% include 'other' %}",
    '{% render "other" %}',
    '{{ }}',
  ];

  it.each(sources)('agrees with the renderer about %s, rendering nothing', (source) => {
    const check = createTemplateChecker();
    let renderError: string | undefined;
    try {
      createTemplateRenderer().render(source, vars);
    } catch (err) {
      renderError = (err as TemplateError).message;
    }
    expect(check(source)).toBe(renderError);
    // A second look answers the same (from its cache).
    expect(check(source)).toBe(renderError);
  });

  it('refuses a source past the parse limit, as the renderer does', () => {
    const check = createTemplateChecker({ parseLimit: 50 });
    expect(check('x'.repeat(50))).toBeUndefined();
    expect(check('x'.repeat(51))).toMatch(/longer than 50 characters/);
  });
});
