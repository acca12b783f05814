import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { EventEnvelope, Order } from '@orderflow/core';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTemplateRenderer } from '../../src/actions/template.js';
import {
  createWebhookSender,
  isPublicAddress,
  type LookupFn,
  parseRetryAfter,
  RESPONSE_BODY_LIMIT,
  signWebhook,
  type WebhookSender,
  webhookBody,
} from '../../src/actions/webhook.js';

/**
 * The CommonJS exports of `node:net`, where undici looks up `connect`: the spies go on this
 * object. The ES module namespace is read-only, and the type declarations give it no default.
 */
const net: typeof import('node:net') = createRequire(import.meta.url)('node:net');

interface Receiver {
  port: number;
  url: string;
  requests: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[];
  connections: number;
  respond: (req: IncomingMessage, res: ServerResponse, body: string) => void;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const receiver: Receiver = {
    port: 0,
    url: '',
    requests: [],
    connections: 0,
    respond: (_req, res) => res.writeHead(204).end(),
    close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      receiver.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      receiver.respond(req, res, body);
    });
  });
  server.on('connection', () => {
    receiver.connections++;
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}/hook`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const nowSeconds = () => Math.floor(Date.now() / 1000);
const headersOf = (h: IncomingMessage['headers']): Record<string, string> =>
  Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));

describe('webhook sender', () => {
  let receiver: Receiver;
  let redirectTarget: Receiver;
  let sender: WebhookSender;
  let seq = 0;
  const nextId = () => `dlv_${String(++seq).padStart(6, '0')}`;
  const send = (overrides: Partial<Parameters<WebhookSender['send']>[0]> = {}) =>
    sender.send({ deliveryId: nextId(), url: receiver.url, body: '{"hello":"world"}', secret, timestamp: nowSeconds(), ...overrides });

  beforeAll(async () => {
    receiver = await startReceiver();
    redirectTarget = await startReceiver();
    sender = createWebhookSender({ allowHosts: ['127.0.0.1'], userAgent: 'Orderflow-Test/1', timeoutMs: 5_000 });
  });
  afterAll(async () => {
    await sender.close();
    await receiver.close();
    await redirectTarget.close();
  });
  afterEach(() => {
    receiver.requests.length = 0;
    receiver.respond = (_req, res) => res.writeHead(204).end();
  });

  it('sends a signed request that the standardwebhooks package verifies', async () => {
    const envelope = {
      id: 'evt_1',
      type: 'order.state_changed',
      createdAt: '2026-03-02T10:00:00.000Z',
      data: { note: 'ünïcödé ✓ "quotes"' },
    };
    const body = JSON.stringify(envelope);
    const outcome = await send({ deliveryId: 'dlv_01SIGNED', body, headers: { 'X-Tenant': 'acme' } });
    expect(outcome).toMatchObject({ ok: true, status: 204 });
    expect(receiver.requests).toHaveLength(1);
    const got = receiver.requests[0]!;
    expect(got.method).toBe('POST');
    expect(got.body).toBe(body);
    expect(got.headers['webhook-id']).toBe('dlv_01SIGNED');
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['user-agent']).toBe('Orderflow-Test/1');
    expect(got.headers['x-tenant']).toBe('acme');
    expect(new Webhook(secret).verify(got.body, headersOf(got.headers))).toEqual(envelope);
  });

  it('signs every delivery so that it verifies (varied ids, bodies and methods)', async () => {
    const methods = ['POST', 'PUT', 'PATCH'] as const;
    for (let i = 0; i < 30; i++) {
      const body = JSON.stringify({ i, s: 'x'.repeat(i * 37), u: '\u2028\u{1F4E6}' });
      const outcome = await send({ body, method: methods[i % 3]! });
      expect(outcome.ok).toBe(true);
    }
    const verifier = new Webhook(secret);
    expect(receiver.requests).toHaveLength(30);
    for (const r of receiver.requests) expect(() => verifier.verify(r.body, headersOf(r.headers))).not.toThrow();
    // A tampered body does not verify, so the check above is meaningful.
    const r0 = receiver.requests[0]!;
    expect(() => verifier.verify(`${r0.body} `, headersOf(r0.headers))).toThrow();
  });

  it('computes the Standard Webhooks signature', () => {
    const wh = new Webhook(secret);
    const at = new Date(1_767_225_600_000);
    expect(signWebhook(secret, 'dlv_x', 1_767_225_600, '{"a":1}')).toBe(wh.sign('dlv_x', at, '{"a":1}'));
  });

  it('fails for good on an invalid secret without sending', async () => {
    const outcome = await send({ secret: 'whsec_not base64!' });
    expect(outcome).toMatchObject({ ok: false, retryable: false });
    expect(receiver.requests).toHaveLength(0);
  });

  it('retries a 500 and keeps status and the start of the body', async () => {
    receiver.respond = (_req, res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
    expect(await send()).toMatchObject({ ok: false, retryable: true, status: 500, responseBody: 'boom' });
  });

  it('retries a 408 and fails other 4xx for good', async () => {
    receiver.respond = (_req, res) => res.writeHead(408).end();
    expect(await send()).toMatchObject({ ok: false, retryable: true, status: 408 });
    receiver.respond = (_req, res) => res.writeHead(422).end('bad payload');
    expect(await send()).toMatchObject({ ok: false, retryable: false, status: 422, responseBody: 'bad payload' });
  });

  it('honours Retry-After in seconds on 429 and as an HTTP-date on 503', async () => {
    receiver.respond = (_req, res) => res.writeHead(429, { 'retry-after': '7' }).end();
    expect(await send()).toMatchObject({ ok: false, retryable: true, status: 429, retryAfterMs: 7000 });

    const fixedNow = Date.parse('2026-03-02T10:00:00Z');
    const dated = createWebhookSender({ allowHosts: ['127.0.0.1'], now: () => fixedNow });
    try {
      receiver.respond = (_req, res) => res.writeHead(503, { 'retry-after': 'Mon, 02 Mar 2026 10:02:00 GMT' }).end();
      const outcome = await dated.send({ deliveryId: 'dlv_01DATE', url: receiver.url, body: '{}', secret, timestamp: nowSeconds() });
      expect(outcome).toMatchObject({ ok: false, retryable: true, status: 503, retryAfterMs: 120_000 });
    } finally {
      await dated.close();
    }
  });

  it('flags the endpoint for disabling on 410', async () => {
    receiver.respond = (_req, res) => res.writeHead(410).end();
    expect(await send()).toMatchObject({ ok: false, retryable: false, disableEndpoint: true, status: 410 });
  });

  it('does not follow redirects', async () => {
    receiver.respond = (_req, res) => res.writeHead(302, { location: redirectTarget.url }).end();
    const outcome = await send();
    expect(outcome).toMatchObject({ ok: false, retryable: false, status: 302 });
    if (!outcome.ok) expect(outcome.error).toMatch(/redirects are not followed/);
    expect(receiver.requests).toHaveLength(1);
    expect(redirectTarget.requests).toHaveLength(0);
    expect(redirectTarget.connections).toBe(0);
  });

  it('keeps at most 1 KiB of a large response body', async () => {
    receiver.respond = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('a'.repeat(1024 * 1024));
    };
    const outcome = await send();
    expect(outcome.ok).toBe(true);
    expect(outcome.responseBody).toHaveLength(RESPONSE_BODY_LIMIT);
  });

  it('retries when the receiver does not answer in time', async () => {
    const quick = createWebhookSender({ allowHosts: ['127.0.0.1'], timeoutMs: 200 });
    receiver.respond = () => {
      // never answers
    };
    try {
      const started = performance.now();
      const outcome = await quick.send({ deliveryId: 'dlv_01SLOW', url: receiver.url, body: '{}', secret, timestamp: nowSeconds() });
      expect(outcome).toMatchObject({ ok: false, retryable: true });
      if (!outcome.ok) expect(outcome.error).toMatch(/timed out/);
      expect(performance.now() - started).toBeLessThan(3_000);
      expect(receiver.requests).toHaveLength(1);
    } finally {
      await quick.close();
    }
  });

  it('answers within the time limit with the status and the body so far when the body keeps dripping', async () => {
    const quick = createWebhookSender({ allowHosts: ['127.0.0.1'], timeoutMs: 300 });
    let drip: NodeJS.Timeout | undefined;
    receiver.respond = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first ');
      // One byte every 50 ms: never a 300 ms gap (undici's body timeout), never the end.
      drip = setInterval(() => res.write('.'), 50);
    };
    try {
      const started = performance.now();
      const outcome = await quick.send({ deliveryId: 'dlv_01DRIP', url: receiver.url, body: '{}', secret, timestamp: nowSeconds() });
      const took = performance.now() - started;
      expect(outcome).toMatchObject({ ok: true, status: 200 });
      expect(outcome.responseBody?.startsWith('first ')).toBe(true);
      expect(took).toBeGreaterThanOrEqual(250);
      expect(took).toBeLessThan(3_000);
    } finally {
      clearInterval(drip);
      await quick.close();
    }
  });

  it('retries when connecting takes longer than the time limit', async () => {
    // The host name never resolves: the request never reaches a socket.
    const lookup: LookupFn = () => new Promise(() => undefined);
    const quick = createWebhookSender({ allowHosts: ['stuck.test'], lookup, timeoutMs: 200 });
    try {
      const started = performance.now();
      const outcome = await quick.send({
        deliveryId: 'dlv_01STUCK',
        url: 'http://stuck.test/hook',
        body: '{}',
        secret,
        timestamp: nowSeconds(),
      });
      expect(outcome).toMatchObject({ ok: false, retryable: true });
      if (!outcome.ok) expect(outcome.error).toMatch(/timed out after 200 ms/);
      expect(performance.now() - started).toBeLessThan(3_000);
    } finally {
      await quick.close();
    }
  });

  it('retries when nothing listens', async () => {
    const gone = await startReceiver();
    await gone.close();
    const outcome = await send({ url: `http://127.0.0.1:${gone.port}/` });
    expect(outcome).toMatchObject({ ok: false, retryable: true });
  });

  it('refuses header injection and reserved headers without sending', async () => {
    const refused: Record<string, string>[] = [
      { 'X-A': 'a\r\nX-Injected: 1' },
      { 'X-A': 'a\n' },
      { 'Bad Name': 'x' },
      { Host: 'evil.example' },
      { 'Content-Length': '1' },
      { 'webhook-signature': 'v1,forged' },
      { 'Transfer-Encoding': 'chunked' },
    ];
    for (const headers of refused) {
      expect(await send({ headers }), JSON.stringify(headers)).toMatchObject({ ok: false, retryable: false });
    }
    expect(receiver.requests).toHaveLength(0);
  });

  it('refuses unsupported URLs', async () => {
    for (const url of ['ftp://127.0.0.1/x', 'file:///etc/passwd', 'not a url', `http://user:pw@127.0.0.1:${receiver.port}/`]) {
      expect(await send({ url }), url).toMatchObject({ ok: false, retryable: false });
    }
    expect(receiver.requests).toHaveLength(0);
  });
});

describe('webhook destination guard', () => {
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const request = (url: string) => ({ deliveryId: 'dlv_01GUARD', url, body: '{}', secret, timestamp: nowSeconds() });

  it('refuses loopback in every notation when nothing is allowed, without connecting', async () => {
    const connect = vi.spyOn(net, 'connect');
    const sender = createWebhookSender({ allowHosts: [] });
    const p = receiver.port;
    try {
      for (const url of [
        `http://127.0.0.1:${p}/`,
        `http://2130706433:${p}/`,
        `http://0x7f000001:${p}/`,
        `http://0177.0.0.1:${p}/`,
        `http://127.1:${p}/`,
        `http://[::ffff:127.0.0.1]:${p}/`,
        `http://[::1]:${p}/`,
        `http://localhost:${p}/`,
        `http://LOCALHOST.:${p}/`,
        `http://0.0.0.0:${p}/`,
        `http://[::]:${p}/`,
        `http://[::127.0.0.1]:${p}/`,
        `https://127.0.0.1:${p}/`,
      ]) {
        const outcome = await sender.send(request(url));
        expect(outcome, url).toMatchObject({ ok: false, retryable: false });
        if (!outcome.ok) expect(outcome.error, url).toMatch(/destination refused/);
      }
    } finally {
      await sender.close();
    }
    expect(receiver.connections).toBe(0);
    expect(receiver.requests).toHaveLength(0);
    expect(connect).not.toHaveBeenCalled();
  });

  it('refuses host names that resolve to private, link-local or metadata addresses before connecting', async () => {
    const answers: Record<string, string[]> = {
      'internal.test': ['10.0.0.5'],
      'metadata.test': ['169.254.169.254'],
      'cgnat.test': ['100.64.1.2'],
      'ula.test': ['fd00::1'],
      'mapped.test': ['::ffff:10.0.0.5'],
      'mixed.test': ['93.184.216.34', '192.168.1.1'],
    };
    const asked: string[] = [];
    const lookup: LookupFn = async (host) => {
      asked.push(host);
      return (answers[host] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    };
    const connect = vi.spyOn(net, 'connect');
    const sender = createWebhookSender({ allowHosts: [], lookup });
    try {
      for (const host of Object.keys(answers)) {
        const outcome = await sender.send(request(`https://${host}/hook`));
        expect(outcome, host).toMatchObject({ ok: false, retryable: false });
        if (!outcome.ok) expect(outcome.error, host).toMatch(/destination refused/);
      }
    } finally {
      await sender.close();
    }
    expect(asked.sort()).toEqual(Object.keys(answers).sort());
    expect(connect).not.toHaveBeenCalled();
  });

  it('lets allowed hosts through', async () => {
    const connect = vi.spyOn(net, 'connect');
    const sender = createWebhookSender({ allowHosts: ['127.0.0.1'] });
    try {
      expect(await sender.send(request(`http://127.0.0.1:${receiver.port}/ok`))).toMatchObject({ ok: true, status: 204 });
      expect(await sender.send(request(`http://127.1:${receiver.port}/ok`))).toMatchObject({ ok: true, status: 204 });
    } finally {
      await sender.close();
    }
    expect(receiver.requests.map((r) => r.url)).toEqual(['/ok', '/ok']);
    expect(connect).toHaveBeenCalled();
    receiver.requests.length = 0;
  });

  it('lets an allowed host name through, connecting to the address the lookup gave', async () => {
    const lookup: LookupFn = async (host) => (host === 'hooks.test' ? [{ address: '127.0.0.1', family: 4 }] : []);
    const sender = createWebhookSender({ allowHosts: ['Hooks.Test'], lookup });
    try {
      expect(await sender.send(request(`http://hooks.test:${receiver.port}/named`))).toMatchObject({ ok: true });
      // The allowance is for the name as written, not for whatever it resolves to.
      const other: LookupFn = async () => [{ address: '127.0.0.1', family: 4 }];
      const strict = createWebhookSender({ allowHosts: ['hooks.test'], lookup: other });
      const refused = await strict.send(request(`http://other.test:${receiver.port}/named`));
      await strict.close();
      expect(refused).toMatchObject({ ok: false, retryable: false });
    } finally {
      await sender.close();
    }
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0]!.headers.host).toBe(`hooks.test:${receiver.port}`);
    receiver.requests.length = 0;
  });

  it('classifies addresses', () => {
    for (const a of ['8.8.8.8', '93.184.216.34', '2606:4700:4700::1111', '2a00:1450:4001:80b::200e'])
      expect(isPublicAddress(a), a).toBe(true);
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.0.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '255.255.255.255',
      '192.0.2.1',
      '198.18.0.1',
      '240.0.0.1',
      '::1',
      '::',
      'fe80::1',
      'fc00::1',
      'fd00:ec2::254',
      'ff02::1',
      '::ffff:8.8.8.8',
      '::ffff:127.0.0.1',
      '::7f00:1',
      '64:ff9b::a00:5',
      '2001:db8::1',
      '2002:7f00:1::',
      '0177.0.0.1',
      '2130706433',
      'localhost',
    ]) {
      expect(isPublicAddress(a), a).toBe(false);
    }
  });
});

describe('webhook helpers', () => {
  it('parses Retry-After', () => {
    const now = Date.parse('2026-03-02T10:00:00Z');
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Mon, 02 Mar 2026 10:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Mon, 02 Mar 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('-5', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('builds the body from the envelope or a JSON value whose string leaves are Liquid templates', () => {
    const renderer = createTemplateRenderer();
    const order = {
      id: 'ord_1',
      state: 'delayed',
      data: { note: 'say "hi"\nthen }{ leave', total: 42.5, tags: ['a', 'b'], gift: false },
    } as unknown as Order;
    const envelope: EventEnvelope = {
      id: 'evt_1',
      type: 'order.state_changed',
      createdAt: '2026-03-02T10:00:00Z',
      data: { order, to: 'delayed' },
    };
    const renderJson = (v: unknown) => renderer.renderJson(v, { order });
    expect(webhookBody(envelope, undefined, renderJson)).toEqual({ ok: true, body: JSON.stringify(envelope) });
    const body = {
      id: '{{ order.id }}',
      text: 'Order {{ order.id }}: {{ order.data.note }}',
      total: '{{ order.data.total }}',
      doubled: '{{ order.data.total | times: 2 }}',
      tags: '{{order.data.tags}}',
      gift: '{{ order.data.gift }}',
      missing: '{{ order.data.nothing }}',
      fixed: [1, true, null, 'plain'],
    };
    const out = webhookBody(envelope, body, renderJson);
    expect(out.ok).toBe(true);
    if (out.ok) {
      expect(JSON.parse(out.body)).toEqual({
        id: 'ord_1',
        text: 'Order ord_1: say "hi"\nthen }{ leave',
        total: 42.5,
        doubled: 85,
        tags: ['a', 'b'],
        gift: false,
        missing: null,
        fixed: [1, true, null, 'plain'],
      });
    }
    // A string holding a JSON object is read as that object; a quote in the data cannot break it.
    const fromText = webhookBody(envelope, '{"note": "{{ order.data.note }}"}', renderJson);
    expect(fromText.ok && JSON.parse(fromText.body)).toEqual({ note: 'say "hi"\nthen }{ leave' });
    expect(webhookBody(envelope, 'plain {{ order.id }}', renderJson)).toEqual({ ok: true, body: '"plain ord_1"' });
    expect(webhookBody(envelope, { x: '{% include "x" %}' }, renderJson)).toMatchObject({ ok: false });
  });
});
