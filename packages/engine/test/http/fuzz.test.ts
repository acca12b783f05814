import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestOrderflow, demoOrder, json, minimalDefinition, type TestOrderflow } from '../helpers/orderflow.js';

/**
 * G7 (reduced): thousands of generated malformed bodies against the order and
 * workflow routes. Nothing may answer ≥ 500, and every 4xx is a problem document
 * with a string `code`. A failure prints fast-check's seed and path to replay it
 * (set FUZZ_SEED to replay a seed).
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 2400);
const SEED = process.env.FUZZ_SEED === undefined ? 20260101 : Number(process.env.FUZZ_SEED);

type Method = 'POST' | 'PUT' | 'PATCH';
interface Route {
  method: Method;
  url: (ids: Ids) => string;
  /** Field names the route reads, used to build wrong-typed bodies. */
  fields: string[];
  /** A valid body, to mutate one field at a time. */
  valid: Record<string, unknown>;
  contentType?: string;
}
interface Ids {
  order: string;
}

const DEFINITION_FIELDS = ['key', 'name', 'description', 'kinds', 'states', 'transitions', 'rules', 'reasons', 'criteria', 'layout'];
const TRANSITION_FIELDS = ['to', 'reason', 'note', 'facts', 'force', 'expectedVersion'];
const ROUTES: Route[] = [
  {
    method: 'POST',
    url: () => '/api/v1/orders',
    fields: ['workflow', 'kind', 'externalRef', 'data', 'state'],
    valid: { workflow: 'orders', data: {} },
  },
  { method: 'POST', url: (i) => `/api/v1/orders/${i.order}/transitions`, fields: TRANSITION_FIELDS, valid: { to: 'awaiting_payment' } },
  {
    method: 'POST',
    url: (i) => `/api/v1/orders/${i.order}/transitions/preview`,
    fields: TRANSITION_FIELDS,
    valid: { to: 'awaiting_payment' },
  },
  { method: 'POST', url: (i) => `/api/v1/orders/${i.order}/facts`, fields: ['fact', 'evidence'], valid: { fact: 'delivered' } },
  { method: 'POST', url: (i) => `/api/v1/orders/${i.order}/events`, fields: ['type', 'data'], valid: { type: 'package.scanned' } },
  { method: 'PATCH', url: (i) => `/api/v1/orders/${i.order}/data`, fields: ['customer', 'total', 'items'], valid: { note: 'x' } },
  {
    method: 'PATCH',
    url: (i) => `/api/v1/orders/${i.order}/data`,
    fields: ['customer', 'total'],
    valid: { note: 'y' },
    contentType: 'application/merge-patch+json',
  },
  { method: 'POST', url: () => '/api/v1/workflows', fields: DEFINITION_FIELDS, valid: minimalDefinition('fuzzed') },
  { method: 'PUT', url: () => '/api/v1/workflows/orders/draft', fields: DEFINITION_FIELDS, valid: minimalDefinition('orders') },
  { method: 'POST', url: () => '/api/v1/workflows/orders/validate', fields: DEFINITION_FIELDS, valid: minimalDefinition('orders') },
  { method: 'POST', url: () => '/api/v1/tokens', fields: ['name', 'role', 'expiresAt'], valid: { name: 'fuzzed', role: 'viewer' } },
  { method: 'POST', url: () => '/api/v1/deliveries/dlv_missing/retry', fields: ['force'], valid: { force: false } },
];

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', ''];
const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'application/merge-patch+json',
  'text/plain',
  'text/html',
  'application/xml',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  'application/problem+json',
  'json',
  '',
];

/** What one generated request sends. */
interface Body {
  payload?: string | Buffer;
  contentType?: string;
  label: string;
}

/** A JSON text of an object whose keys are written as is (so `__proto__` stays an own key in the text). */
const objectText = (entries: [string, string][]) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
const safeStringify = (v: unknown): string => {
  try {
    return JSON.stringify(v) ?? 'null';
  } catch {
    return 'null';
  }
};

const hugeString = fc.constantFrom(10_000, 100_000, 600_000, 1_100_000).map((n) => 'x'.repeat(n));
const oddString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '\ud800',
    '\udfff',
    'a\ud83d',
    '\u0000',
    '\u202e',
    '\ufeff',
    '%00',
    '{{ 7*7 }}',
    '<script>',
    '../../etc/passwd',
    'ord_',
    'group:cancelled',
    '*',
  ),
);
const scalar = fc.oneof(
  oddString,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom('1e999', '-0', '123456789012345678901234567890', '0.0000000000000000001', '9007199254740993'),
);
const weirdValueText: fc.Arbitrary<string> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map(safeStringify),
  fc.anything({ maxDepth: 3 }).map(safeStringify),
  scalar.map(safeStringify),
  fc.constantFrom('1e999', '-0', '123456789012345678901234567890', 'true', 'null', '[]', '{}', '""', '"\\ud800"', '"\\u0000"'),
  fc.integer({ min: 20, max: 3000 }).map((d) => `${'['.repeat(d)}${']'.repeat(d)}`),
  fc.integer({ min: 20, max: 400 }).map((d) => `${'{"a":'.repeat(d)}1${'}'.repeat(d)}`),
  fc.constantFrom('{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}', '{"__proto__":null}'),
);

function bodyArbitrary(route: Route): fc.Arbitrary<Body> {
  const json = (label: string) => (payload: string) => ({ payload, contentType: route.contentType ?? 'application/json', label });
  return fc.oneof(
    // Random JSON values (most of them the wrong shape entirely).
    fc.jsonValue({ maxDepth: 5 }).map((v) => json('json value')(safeStringify(v))),
    // The route's own fields (and prototype keys) with wrong types.
    fc
      .array(fc.tuple(fc.constantFrom(...route.fields, ...PROTO_KEYS), weirdValueText), { maxLength: 6 })
      .map((entries) => json('wrong types')(objectText(entries))),
    // A valid body with one field replaced.
    fc
      .tuple(fc.constantFrom(...Object.keys(route.valid), ...route.fields), weirdValueText)
      .map(([k, v]) =>
        json('mutated valid')(
          objectText([...Object.entries(route.valid).map(([a, b]): [string, string] => [a, JSON.stringify(b)]), [k, v]]),
        ),
      ),
    // Huge strings.
    fc.tuple(fc.constantFrom(...route.fields), hugeString).map(([k, v]) => json('huge string')(objectText([[k, JSON.stringify(v)]]))),
    // Deep nesting, inside a valid body.
    fc
      .integer({ min: 25, max: 5000 })
      .map((d) => json('deep')(objectText([[route.fields[0] as string, `${'['.repeat(d)}${']'.repeat(d)}`]]))),
    // Prototype keys at the top and inside.
    fc
      .constantFrom(...PROTO_KEYS)
      .map((k) =>
        json('proto key')(`{"${route.fields[0]}":{${JSON.stringify(k)}:{"polluted":true}},${JSON.stringify(k)}:{"polluted":true}}`),
      ),
    // Invalid UTF-8 and raw bytes sent as JSON.
    fc
      .uint8Array({ maxLength: 200 })
      .map((bytes) => ({ payload: Buffer.from(bytes), contentType: 'application/json', label: 'raw bytes' })),
    fc.constantFrom([0xc0, 0x80], [0xff, 0xfe], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]).map((bad) => ({
      payload: Buffer.concat([Buffer.from('{"to":"'), Buffer.from(bad), Buffer.from('"}')]),
      contentType: 'application/json',
      label: 'invalid utf-8',
    })),
    // Text that is not JSON at all, declared as JSON.
    fc.string({ maxLength: 200 }).map(json('not json')),
    // Wrong content types, with JSON or text bodies, or no body.
    fc
      .tuple(fc.constantFrom(...CONTENT_TYPES), fc.oneof(fc.string({ maxLength: 100 }), fc.constant(JSON.stringify(route.valid))))
      .map(([contentType, payload]) => ({
        payload,
        ...(contentType ? { contentType } : {}),
        label: 'content type',
      })),
    fc.constant({ label: 'no body' }),
  );
}

// Schema-plausible definitions: they pass the schema often and the semantic checks sometimes,
// so generated workflows reach publish, decide() and the rule cascade.
const DEF_RUNS = Number(process.env.FUZZ_DEF_RUNS ?? 200);
const URL_RUNS = Number(process.env.FUZZ_URL_RUNS ?? 600);
/** FUZZ_KNOWN_BUGS=0 also generates what reaches the known bugs. */
const KNOWN_BUGS = process.env.FUZZ_KNOWN_BUGS !== '0';
const STATE_KEYS = ['s_a', 's_b', 's_c', 's_d', 's_e', 's_f'];
const GROUP_KEYS = ['new', 'processing', 'cancelled', 'completed'] as const;
const stateKey = fc.constantFrom(...STATE_KEYS);
const reasonArb = fc.oneof(
  {
    arbitrary: fc.constantFrom({ initiator: 'customer', code: 'customer_request' }, { initiator: 'provider', code: 'out_of_stock' }),
    weight: 4,
  },
  {
    arbitrary: fc.record({ initiator: fc.constantFrom('customer', 'provider'), code: fc.constantFrom('refund_full', 'no_such_code') }),
    weight: 1,
  },
);
/** Mostly absent. */
const rarely = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, { arbitrary: arb, weight: 1 });
const criterionArb = fc.constantFrom('delivered', 'service_provided', 'customer_confirmed', 'unknown_fact');
const durationArb = fc.constantFrom('0s', '1s', '2h', '1d', 'PT2H', '1w', '999999999w', '100000000d');
const conditionArb = fc.letrec<{ cond: unknown }>((tie) => ({
  cond: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ new_state: fc.oneof(stateKey, fc.array(stateKey, { maxLength: 3 })) }),
    fc.record({ new_group: fc.constantFrom(...GROUP_KEYS, 'nowhere') }),
    fc.record({ old_state: stateKey, actor_type: fc.constantFrom('api', 'rule', 'timer') }),
    fc.record({
      path: fc.constantFrom(
        'order.data.total',
        'order.state',
        'order.facts.delivered',
        'event.data.x',
        'nope.deeper.still',
        'order.__proto__',
        'order.constructor',
      ),
      op: fc.constantFrom('eq', 'neq', 'in', 'nin', 'gt', 'gte', 'lt', 'lte', 'contains', 'startsWith', 'exists'),
      value: fc.oneof(fc.integer(), fc.string({ maxLength: 5 }), fc.array(fc.integer(), { maxLength: 3 }), fc.constant(null), fc.boolean()),
    }),
    fc.record({ all: fc.array(tie('cond'), { maxLength: 3 }) }),
    fc.record({ any: fc.array(tie('cond'), { maxLength: 3 }) }),
    fc.record({ not: tie('cond') }),
  ),
})).cond;
const actionArb = fc.oneof(
  fc.record({ type: fc.constant('transition'), to: stateKey, reason: rarely(reasonArb) }, { requiredKeys: ['type', 'to'] }),
  fc.record({
    type: fc.constant('set_data'),
    set: fc.dictionary(fc.constantFrom('a', 'b', 'total'), fc.oneof(fc.integer(), fc.constant('{{ order.id }}'))),
  }),
  fc.record({ type: fc.constant('record_fact'), fact: criterionArb }),
  fc.record({
    type: fc.constant('send_email'),
    template: fc.constantFrom('order_confirmation', 'delay_notification'),
    to: fc.constantFrom('customer', 'admin', 'x@example.com'),
  }),
  fc.record({ type: fc.constant('webhook'), url: fc.constant('https://api.example.com/notify') }),
  fc.record({ type: fc.constant('notify'), channel: fc.constant('admins'), message: fc.constant('{{ order.id }}') }),
  fc.record({ type: fc.constant('create_order'), workflow: fc.constantFrom('orders', 'subscriptions'), link: fc.constant('replacement') }),
  fc.record({ type: fc.constant('transition'), to: stateKey, delay: durationArb, onlyIfStillIn: fc.boolean() }),
);
const ruleArb = fc.record(
  {
    trigger: fc.constantFrom('state_changed', 'order_created', 'event_received', 'time_in_state', 'fact_recorded'),
    event: fc.constantFrom('package.lost', 'ping'),
    state: stateKey,
    after: durationArb,
    fact: criterionArb,
    conditions: conditionArb,
    actions: fc.array(actionArb, { maxLength: 3 }),
  },
  { requiredKeys: ['trigger', 'actions'] },
);
const definitionArb = fc
  .record({
    // Each skeleton state may get a random extra (a timeout, a default reason, required criteria).
    timeouts: fc.array(rarely(fc.record({ after: durationArb, to: stateKey })), { minLength: 3, maxLength: 3 }),
    cancellation: fc.option(reasonArb, { nil: undefined }),
    requires: fc.option(fc.array(criterionArb, { maxLength: 2 }), { nil: undefined }),
    extraGroup: fc.option(fc.constantFrom(...GROUP_KEYS), { nil: undefined }),
    transitions: fc.array(
      fc.record(
        {
          from: fc.oneof(fc.constantFrom('s_a', 's_b', 's_c'), fc.constantFrom('*', 'group:new', 'group:processing'), stateKey),
          to: stateKey,
          guard: conditionArb,
          roles: fc.subarray(['admin', 'operator', 'designer', 'viewer']),
        },
        { requiredKeys: ['from', 'to'] },
      ),
      { maxLength: 12 },
    ),
    rules: fc.array(ruleArb, { maxLength: 4 }),
    criteria: fc.option(fc.constant(['unknown_fact']), { nil: undefined }),
  })
  .map(({ timeouts, cancellation, requires, extraGroup, transitions, rules, criteria }) => ({
    name: 'Fuzzed',
    states: [
      { key: 's_a', name: 'A', group: 'new', initial: true, ...(timeouts[0] ? { timeout: timeouts[0] } : {}) },
      { key: 's_b', name: 'B', group: 'processing', ...(timeouts[1] ? { timeout: timeouts[1] } : {}) },
      { key: 's_c', name: 'C', group: 'processing', ...(timeouts[2] ? { timeout: timeouts[2] } : {}) },
      { key: 's_d', name: 'D', group: 'cancelled', ...(cancellation ? { cancellation } : {}) },
      { key: 's_e', name: 'E', group: 'completed', ...(requires ? { requires } : {}) },
      ...(extraGroup ? [{ key: 's_f', name: 'F', group: extraGroup }] : []),
    ],
    transitions: [{ from: 's_a', to: 's_b' }, ...transitions],
    rules,
    ...(criteria ? { criteria } : {}),
  }));
const commandArb = fc.oneof(
  fc
    .record(
      {
        to: stateKey,
        reason: reasonArb,
        facts: fc.array(criterionArb, { maxLength: 2 }),
        force: fc.boolean(),
        note: fc.string({ maxLength: 10 }),
      },
      { requiredKeys: ['to'] },
    )
    .map((body) => ({ path: 'transitions', body })),
  fc.record({ to: stateKey }).map((body) => ({ path: 'transitions/preview', body })),
  fc.record({ type: fc.constantFrom('package.lost', 'ping') }).map((body) => ({ path: 'events', body })),
  fc.record({ fact: criterionArb }).map((body) => ({ path: 'facts', body })),
);

let t: TestOrderflow;
let ids: Ids;
beforeEach(async () => {
  t = await createTestOrderflow();
  ids = { order: (await demoOrder(t, ['awaiting_payment', 'packing', 'shipping'])).id };
});
afterEach(async () => {
  await t.close();
});

describe('fuzzed request bodies (G7, reduced)', () => {
  it(`answers ${RUNS} malformed bodies on the order and workflow routes without a 5xx, every 4xx a problem document`, async () => {
    const statuses = new Map<number, number>();
    let sent = 0;
    const requestArb = fc
      .integer({ min: 0, max: ROUTES.length - 1 })
      .chain((i) => fc.tuple(fc.constant(ROUTES[i] as Route), bodyArbitrary(ROUTES[i] as Route)));
    await fc.assert(
      fc.asyncProperty(requestArb, async ([route, body]) => {
        const headers: Record<string, string> = { authorization: `Bearer ${t.tokens.admin}` };
        if (body.contentType !== undefined) headers['content-type'] = body.contentType;
        const res = await t.of.app.inject({
          method: route.method,
          url: route.url(ids),
          headers,
          ...(body.payload === undefined ? {} : { payload: body.payload }),
        });
        sent++;
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        const where = `${route.method} ${route.url(ids)} [${body.label}] → ${res.statusCode} ${res.body.slice(0, 300)}`;
        expect(res.statusCode, where).toBeLessThan(500);
        if (res.statusCode >= 400) {
          expect(String(res.headers['content-type']), where).toMatch(/^application\/problem\+json/);
          const problem = json(res);
          expect(typeof problem.code, where).toBe('string');
          expect(problem.status, where).toBe(res.statusCode);
        }
        // Nothing leaked into Object.prototype.
        expect(({} as Record<string, unknown>).polluted, where).toBeUndefined();
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    expect(sent).toBeGreaterThanOrEqual(Math.min(RUNS, 2000));
    // The generators reach past the parser: some bodies are refused by validation, some by parsing, some by size.
    for (const status of [400, 413, 422])
      expect(statuses.get(status) ?? 0, `no ${status} in ${JSON.stringify([...statuses])}`).toBeGreaterThan(0);

    const health = await t.request('anonymous', { method: 'GET', url: '/readyz' });
    expect(health.statusCode).toBe(200);
    const order = await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${ids.order}` });
    expect(order.statusCode).toBe(200);
  }, 120_000);

  it(`answers ${URL_RUNS} fuzzed paths and query strings without a 5xx`, async () => {
    const segment = fc.oneof(
      fc.webSegment(),
      fc.string({ maxLength: 80 }).map(encodeURIComponent),
      fc.string({ unit: 'binary', maxLength: 40 }).map((v) => encodeURIComponent(v.replace(/[\ud800-\udfff]/g, ''))),
      fc.constantFrom('..', '.', '%2e%2e', '%2F', '%00', 'ord_', 'orders', '__proto__', 'constructor', '%E0%A4%A', '%', 'x'.repeat(201)),
      fc.constant(ids.order),
    );
    const query = fc.oneof(
      fc.constant(''),
      fc.webQueryParameters().map((q) => `?${q}`),
      fc
        .array(
          fc.tuple(
            fc.constantFrom(
              'limit',
              'cursor',
              'state',
              'group',
              'workflow',
              'q',
              'createdAfter',
              'version',
              'draft',
              'publish',
              'rule',
              '__proto__',
            ),
            fc.oneof(
              fc.string({ maxLength: 30 }),
              fc.constantFrom('-1', '0', '501', '1e3', 'NaN', 'true', '[]', 'orders', 'orders:delay-apology', 'x'.repeat(500)),
            ),
          ),
          { maxLength: 4 },
        )
        .map((pairs) => `?${pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}`),
    );
    const template = fc.constantFrom(
      ['GET', '/api/v1/orders/:s'],
      ['GET', '/api/v1/orders/:s/transitions'],
      ['GET', '/api/v1/orders/:s/history'],
      ['GET', '/api/v1/orders'],
      ['GET', '/api/v1/workflows/:s'],
      ['GET', '/api/v1/workflows/:s/versions'],
      ['POST', '/api/v1/workflows/:s/publish'],
      ['POST', '/api/v1/orders/:s/transitions'],
      ['DELETE', '/api/v1/templates/:s'],
      ['GET', '/api/v1/orders/:s/deliveries'],
      ['GET', '/api/v1/tokens'],
      ['DELETE', '/api/v1/tokens/:s'],
      ['POST', '/api/v1/deliveries/:s/retry'],
      ['POST', '/api/v1/automation/pause'],
      ['POST', '/api/v1/automation/resume'],
      ['GET', '/api/v1/:s'],
    );
    await fc.assert(
      fc.asyncProperty(template, segment, query, async ([method, path], s, q) => {
        const url = `${path.replace(':s', s)}${q}`;
        const res = await t.of.app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${t.tokens.admin}` } });
        const where = `${method} ${url.slice(0, 300)} → ${res.statusCode} ${res.body.slice(0, 300)}`;
        expect(res.statusCode, where).toBeLessThan(500);
        if (res.statusCode >= 400) {
          // Known bug (see limits.test.ts, "malformed URLs"): the router answers these two itself, in its own format.
          const routerError = /FST_ERR_(MAX_PARAM_LENGTH|BAD_URL)/.test(res.body);
          if (!(KNOWN_BUGS && routerError)) {
            expect(String(res.headers['content-type']), where).toMatch(/^application\/problem\+json/);
            expect(typeof json(res).code, where).toBe('string');
          }
        }
      }),
      { numRuns: URL_RUNS, seed: SEED, endOnFailure: true },
    );
  });

  it(`runs ${DEF_RUNS} schema-plausible workflows through validate, publish, create and moves without a 5xx`, async () => {
    let published = 0;
    let moved = 0;
    const check = (res: { statusCode: number; headers: Record<string, unknown>; body: string }, where: string) => {
      const label = `${where} → ${res.statusCode} ${res.body.slice(0, 300)}`;
      expect(res.statusCode, label).toBeLessThan(500);
      if (res.statusCode >= 400) {
        expect(String(res.headers['content-type']), label).toMatch(/^application\/problem\+json/);
        expect(typeof json(res as never).code, label).toBe('string');
      }
    };
    let n = 0;
    await fc.assert(
      fc.asyncProperty(definitionArb, fc.array(commandArb, { minLength: 1, maxLength: 8 }), async (def, commands) => {
        const key = `wf-${n++}`;
        const body = { ...def, key };
        const where = JSON.stringify(body).slice(0, 2000);
        const validated = await t.request('viewer', { method: 'POST', url: `/api/v1/workflows/${key}/validate`, body });
        check(validated, `validate ${where}`);
        const created = await t.request('designer', { method: 'POST', url: '/api/v1/workflows?publish=true', body });
        check(created, `publish ${where}`);
        if (created.statusCode !== 201) return;
        // Known bug (see orders.test.ts, "rule cascades"): a fact_recorded rule that records a fact recurses
        // without the depth bound and answers 500. Such workflows stop at publishing until it is fixed.
        if (KNOWN_BUGS && def.rules.some((r) => r.trigger === 'fact_recorded' && r.actions.some((a) => a.type === 'record_fact'))) return;
        published++;
        const order = await t.request('operator', { method: 'POST', url: '/api/v1/orders', body: { workflow: key, data: { total: 10 } } });
        check(order, `create order on ${where}`);
        if (order.statusCode !== 201) return;
        const id = json(order).order.id;
        for (const c of commands) {
          const res = await t.request('admin', { method: 'POST', url: `/api/v1/orders/${id}/${c.path}`, body: c.body });
          check(res, `${c.path} ${JSON.stringify(c.body)} on ${where}`);
          if (res.statusCode === 200) moved++;
          check(await t.request('viewer', { method: 'GET', url: `/api/v1/orders/${id}/transitions` }), `available transitions on ${where}`);
        }
      }),
      { numRuns: DEF_RUNS, seed: SEED, endOnFailure: true },
    );
    // The generator must reach the runtime, not only the validator.
    expect(published).toBeGreaterThan(DEF_RUNS / 20);
    expect(moved).toBeGreaterThan(0);
  });
});
