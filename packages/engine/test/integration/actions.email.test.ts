import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { DEMO_ORDERS, DEMO_TEMPLATES, type EventEnvelope, type Order } from '@orderflow/core';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createEmailSender,
  type EmailMessage,
  type MailboxMessage,
  messageIdFor,
  resolveRecipients,
  SMTP_MAX_CONNECTIONS,
} from '../../src/actions/email.js';
import { createTemplateRenderer, templateVars } from '../../src/actions/template.js';

interface Received {
  from: string;
  to: string[];
  raw: string;
}

const order: Order = {
  id: 'ord_01MAIL',
  workflow: 'orders',
  workflowVersion: 1,
  kind: 'order',
  externalRef: 'A-2002',
  state: 'delayed',
  group: 'processing',
  data: { customer: { name: 'Grace Hopper', email: 'grace@example.com' }, deliveryEstimate: 'Friday 13 March' },
  facts: {},
  cancellation: null,
  links: [],
  version: 3,
  visit: 1,
  createdAt: '2026-03-01T10:00:00.000Z',
  updatedAt: '2026-03-02T10:00:00.000Z',
  stateEnteredAt: '2026-03-02T10:00:00.000Z',
};
const envelope: EventEnvelope = {
  id: 'evt_01MAIL',
  type: 'order.state_changed',
  createdAt: '2026-03-02T10:00:00.000Z',
  data: { order, from: 'packing', to: 'delayed', rule: 'delay-apology' },
};

/** Splits a raw message into its header block and a quoted-printable-decoded body. */
function parse(raw: string): { headers: string; body: string } {
  const at = raw.indexOf('\r\n\r\n');
  const headers = raw.slice(0, at);
  const body = raw
    .slice(at + 4)
    .replace(/=\r\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  return { headers, body };
}

/** Resolves once `check` holds, polling every 10 ms; fails after `ms`. */
async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** `n` distinct messages, each naming its index in the subject and the body. */
const batch = (tag: string, n: number): EmailMessage[] =>
  Array.from({ length: n }, (_, i) => ({
    deliveryId: `dlv_01${tag}${String(i).padStart(2, '0')}`,
    to: [`r${i}@example.com`],
    subject: `${tag} message ${i}`,
    html: `<p>Body of ${tag} ${i}</p>`,
    text: `Body of ${tag} ${i}`,
  }));

const headerLines = (headers: string, name: string): string[] =>
  headers
    .replace(/\r\n[ \t]+/g, ' ')
    .split('\r\n')
    .filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));

describe('email sender over SMTP', () => {
  const received: Received[] = [];
  let connections = 0;
  let rejectRcpt: { code: number; message: string } | null = null;
  let server: SMTPServer;
  let smtpUrl: string;

  beforeAll(async () => {
    server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      disableReverseLookup: true,
      logger: false,
      onConnect(_session, cb) {
        connections++;
        cb();
      },
      onRcptTo(_address, _session, cb) {
        if (rejectRcpt) {
          const err = Object.assign(new Error(rejectRcpt.message), { responseCode: rejectRcpt.code });
          cb(err);
          return;
        }
        cb();
      },
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks).toString('utf8'),
          });
          cb();
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.server.address() as AddressInfo;
    smtpUrl = `smtp://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  beforeEach(() => {
    received.length = 0;
    connections = 0;
    rejectRcpt = null;
  });

  it('delivers a rendered delay apology with a Message-ID derived from the delivery id', async () => {
    const renderer = createTemplateRenderer();
    const vars = templateVars(envelope, DEMO_ORDERS);
    const template = DEMO_TEMPLATES.find((t) => t.key === 'delay_notification')!;
    const email = renderer.renderEmail(template, vars);
    const to = resolveRecipients('customer', { order, adminEmails: [], render: (s) => renderer.render(s, vars) });
    expect(to).toEqual({ ok: true, addresses: ['grace@example.com'] });
    if (!to.ok) return;

    const sender = createEmailSender({ smtpUrl, from: 'Orderflow <orders@shop.example>' });
    try {
      const outcome = await sender.send({ deliveryId: 'dlv_01DELAY', to: to.addresses, ...email });
      expect(outcome).toMatchObject({ ok: true });
      expect(received).toHaveLength(1);
      const msg = received[0]!;
      expect(msg.from).toBe('orders@shop.example');
      expect(msg.to).toEqual(['grace@example.com']);
      const { headers, body } = parse(msg.raw);
      expect(headerLines(headers, 'Message-ID')).toEqual([`Message-ID: ${messageIdFor('dlv_01DELAY')}`]);
      expect(messageIdFor('dlv_01DELAY')).toBe('<dlv_01DELAY@orderflow.local>');
      expect(headerLines(headers, 'Subject')).toEqual(['Subject: Your order A-2002 is delayed']);
      expect(headerLines(headers, 'To')).toEqual(['To: grace@example.com']);
      expect(body).toContain('<strong>Friday 13 March</strong>');
      expect(body).toContain('The new delivery estimate is Friday 13 March.');
    } finally {
      sender.close();
    }
  });

  it('reuses the Message-ID when a delivery is sent again', async () => {
    const sender = createEmailSender({ smtpUrl, from: 'orders@shop.example' });
    try {
      const m = { deliveryId: 'dlv_01AGAIN', to: ['a@example.com'], subject: 'Hi', html: '<p>Hi</p>', text: 'Hi' };
      expect((await sender.send(m)).ok).toBe(true);
      expect((await sender.send(m)).ok).toBe(true);
      expect(received.map((r) => headerLines(parse(r.raw).headers, 'Message-ID')[0])).toEqual([
        'Message-ID: <dlv_01AGAIN@orderflow.local>',
        'Message-ID: <dlv_01AGAIN@orderflow.local>',
      ]);
    } finally {
      sender.close();
    }
  });

  it('refuses a subject with CR/LF without sending anything', async () => {
    const sender = createEmailSender({ smtpUrl, from: 'orders@shop.example' });
    try {
      for (const subject of ['Delayed\r\nBcc: victim@example.com', 'Delayed\nX-Injected: yes', 'Delayed\rX', 'Delayed\0']) {
        const outcome = await sender.send({ deliveryId: 'dlv_01INJECT', to: ['a@example.com'], subject, html: '<p>x</p>', text: 'x' });
        expect(outcome).toMatchObject({ ok: false, retryable: false });
      }
      expect(received).toHaveLength(0);
      expect(connections).toBe(0);
    } finally {
      sender.close();
    }
  });

  it('refuses recipients and senders with line breaks or invalid addresses', async () => {
    const sender = createEmailSender({ smtpUrl, from: 'orders@shop.example' });
    const bad = createEmailSender({ smtpUrl, from: 'orders@shop.example\r\nBcc: victim@example.com' });
    try {
      const base = { deliveryId: 'dlv_01BAD', subject: 'Hi', html: '<p>x</p>', text: 'x' };
      expect(await sender.send({ ...base, to: ['a@example.com\r\nBcc: victim@example.com'] })).toMatchObject({
        ok: false,
        retryable: false,
      });
      expect(await sender.send({ ...base, to: ['a@example.com'], cc: ['b@example.com\nX: y'] })).toMatchObject({
        ok: false,
        retryable: false,
      });
      expect(await sender.send({ ...base, to: ['Eve <eve@example.com>, mallory@example.com'] })).toMatchObject({
        ok: false,
        retryable: false,
      });
      expect(await sender.send({ ...base, to: [] })).toMatchObject({ ok: false, retryable: false });
      expect(await bad.send({ ...base, to: ['a@example.com'] })).toMatchObject({ ok: false, retryable: false });
      expect(received).toHaveLength(0);
      expect(connections).toBe(0);
    } finally {
      sender.close();
      bad.close();
    }
  });

  it('fails for good on a permanent SMTP rejection and retries a transient one', async () => {
    const sender = createEmailSender({ smtpUrl, from: 'orders@shop.example' });
    try {
      const m = { deliveryId: 'dlv_01REJECT', to: ['nobody@example.com'], subject: 'Hi', html: '<p>x</p>', text: 'x' };
      rejectRcpt = { code: 550, message: 'No such user' };
      expect(await sender.send(m)).toMatchObject({ ok: false, retryable: false, status: 550 });
      rejectRcpt = { code: 451, message: 'Try again later' };
      expect(await sender.send(m)).toMatchObject({ ok: false, retryable: true, status: 451 });
      expect(received).toHaveLength(0);
    } finally {
      sender.close();
    }
  });

  /** Asserts that every message of `sent` arrived once, whole, to its own recipient. */
  const expectArrived = (sent: EmailMessage[]) => {
    expect(received).toHaveLength(sent.length);
    for (const m of sent) {
      const got = received.filter((r) => r.raw.includes(`Message-ID: ${messageIdFor(m.deliveryId)}`));
      expect(got).toHaveLength(1);
      const { headers, body } = parse(got[0]!.raw);
      expect(got[0]!.to).toEqual(m.to);
      expect(headerLines(headers, 'Subject')).toEqual([`Subject: ${m.subject}`]);
      expect(body).toContain(m.text);
      expect(body).toContain(m.html);
    }
  };

  it('sends 20 messages at once over a bounded pool of kept-alive connections and closes them on close()', async () => {
    const sender = createEmailSender({ smtpUrl, from: 'orders@shop.example' });
    const messages = batch('POOL', 20);
    try {
      const outcomes = await Promise.all(messages.map((m) => sender.send(m)));
      expect(outcomes.filter((o) => !o.ok)).toEqual([]);
      expectArrived(messages);
      expect(connections).toBeGreaterThanOrEqual(1);
      expect(connections).toBeLessThanOrEqual(SMTP_MAX_CONNECTIONS);
      // A later message reuses a kept-alive connection.
      expect((await sender.send(batch('POOLNEXT', 1)[0]!)).ok).toBe(true);
      expect(connections).toBeLessThanOrEqual(SMTP_MAX_CONNECTIONS);
      expect(server.connections.size).toBeGreaterThanOrEqual(1);
    } finally {
      sender.close();
    }
    // close() ends the idle connections; the server sees them go.
    await until(() => server.connections.size === 0);
    // A send after close() fails and is retried later; it does not hang.
    expect(await sender.send(batch('CLOSED', 1)[0]!)).toMatchObject({ ok: false, retryable: true });
  });

  it('takes pool options from the URL query: maxConnections, maxMessages and pool=false', async () => {
    const one = createEmailSender({ smtpUrl: `${smtpUrl}?maxConnections=1`, from: 'orders@shop.example' });
    try {
      const messages = batch('ONE', 20);
      const outcomes = await Promise.all(messages.map((m) => one.send(m)));
      expect(outcomes.filter((o) => !o.ok)).toEqual([]);
      expectArrived(messages);
      expect(connections).toBe(1);
    } finally {
      one.close();
    }

    received.length = 0;
    connections = 0;
    const rotating = createEmailSender({ smtpUrl: `${smtpUrl}?maxConnections=1&maxMessages=5`, from: 'orders@shop.example' });
    try {
      const messages = batch('ROT', 12);
      const outcomes = await Promise.all(messages.map((m) => rotating.send(m)));
      expect(outcomes.filter((o) => !o.ok)).toEqual([]);
      expectArrived(messages);
      // 5 + 5 + 2 messages, one connection at a time.
      expect(connections).toBe(3);
    } finally {
      rotating.close();
    }

    received.length = 0;
    connections = 0;
    const unpooled = createEmailSender({ smtpUrl: `${smtpUrl}?pool=false`, from: 'orders@shop.example' });
    try {
      const messages = batch('NOPOOL', 3);
      for (const m of messages) expect((await unpooled.send(m)).ok).toBe(true);
      expectArrived(messages);
      expect(connections).toBe(3);
    } finally {
      unpooled.close();
    }
    await until(() => server.connections.size === 0);
  });

  it('closes a pooled connection left idle, without close(), and opens a new one for the next message', async () => {
    // Idle connections end after half the socket timeout (here 200 ms).
    const sender = createEmailSender({ smtpUrl, from: 'orders@shop.example', timeouts: { socketMs: 400 } });
    const [a, b] = batch('IDLE', 2) as [EmailMessage, EmailMessage];
    try {
      expect((await sender.send(a)).ok).toBe(true);
      expect(server.connections.size).toBe(1);
      await until(() => server.connections.size === 0, 3_000);
      expect((await sender.send(b)).ok).toBe(true);
      expect(connections).toBe(2);
      expectArrived([a, b]);
    } finally {
      sender.close();
    }
    await until(() => server.connections.size === 0);
  });

  it('replaces a pooled connection the server dropped, politely or not, and the next message arrives', async () => {
    let opened = 0;
    const arrived: string[] = [];
    const sockets: Socket[] = [];
    // The server ends a session idle for 300 ms with "421 Timeout - closing connection".
    const dropping = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      disableReverseLookup: true,
      logger: false,
      socketTimeout: 300,
      onConnect(_session, cb) {
        opened++;
        cb();
      },
      onData(stream, _session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          arrived.push(Buffer.concat(chunks).toString('utf8'));
          cb();
        });
      },
    });
    dropping.server.on('connection', (socket: Socket) => sockets.push(socket));
    await new Promise<void>((resolve) => dropping.listen(0, '127.0.0.1', () => resolve()));
    const { port } = dropping.server.address() as AddressInfo;
    const sender = createEmailSender({ smtpUrl: `smtp://127.0.0.1:${port}`, from: 'orders@shop.example' });
    const [a, b, c, d] = batch('DROP', 4) as [EmailMessage, EmailMessage, EmailMessage, EmailMessage];
    try {
      expect((await sender.send(a)).ok).toBe(true);
      expect((await sender.send(b)).ok).toBe(true);
      expect(opened).toBe(1);

      // The server's idle timeout ends the session.
      await until(() => dropping.connections.size === 0);
      expect(await sender.send(c)).toMatchObject({ ok: true });
      expect(opened).toBe(2);

      // The server cuts the connection without a word; the client may not have noticed yet.
      for (const s of sockets) s.destroy();
      expect(await sender.send(d)).toMatchObject({ ok: true });
      expect(opened).toBe(3);
      for (const m of [a, b, c, d]) expect(arrived.filter((r) => r.includes(messageIdFor(m.deliveryId)))).toHaveLength(1);
    } finally {
      sender.close();
      await until(() => dropping.connections.size === 0);
      await new Promise<void>((resolve) => dropping.close(() => resolve()));
    }
  });

  it("records an attempt's duration as its own SMTP exchange, without the time it waited for a pooled connection", async () => {
    // Every message takes the server 400 ms to accept; the pool has one connection, so of two
    // messages sent at once the second waits for the first's exchange before its own starts.
    const answerMs = 400;
    const slow = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      disableReverseLookup: true,
      logger: false,
      onData(stream, _session, cb) {
        stream.resume();
        stream.on('end', () => setTimeout(() => cb(), answerMs));
      },
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', () => resolve()));
    const { port } = slow.server.address() as AddressInfo;
    const sender = createEmailSender({ smtpUrl: `smtp://127.0.0.1:${port}?maxConnections=1`, from: 'orders@shop.example' });
    const [a, b] = batch('WAIT', 2) as [EmailMessage, EmailMessage];
    try {
      const started = performance.now();
      const finished: number[] = [];
      const timed = async (m: EmailMessage) => {
        const outcome = await sender.send(m);
        finished.push(performance.now() - started);
        return outcome;
      };
      const [first, second] = await Promise.all([timed(a), timed(b)]);
      expect(first).toMatchObject({ ok: true });
      expect(second).toMatchObject({ ok: true });
      // The two exchanges ran one after the other over the single connection...
      expect(Math.max(...finished)).toBeGreaterThanOrEqual(2 * answerMs - 20);
      // ...and each message's duration is its own exchange: the slow answer, not the wait before it.
      for (const o of [first, second]) {
        expect(o.durationMs).toBeGreaterThanOrEqual(answerMs - 20);
        expect(o.durationMs).toBeLessThan(2 * answerMs - 100);
      }
    } finally {
      sender.close();
      await until(() => slow.connections.size === 0);
      await new Promise<void>((resolve) => slow.close(() => resolve()));
    }
  });

  it('retries when the SMTP server cannot be reached', async () => {
    // Bind and release a port so nothing listens on it.
    const probe = new SMTPServer({ logger: false, disableReverseLookup: true });
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
    const { port } = probe.server.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const sender = createEmailSender({
      smtpUrl: `smtp://127.0.0.1:${port}`,
      from: 'orders@shop.example',
      timeouts: { connectionMs: 2_000 },
    });
    try {
      const outcome = await sender.send({ deliveryId: 'dlv_01DOWN', to: ['a@example.com'], subject: 'Hi', html: 'x', text: 'x' });
      expect(outcome).toMatchObject({ ok: false, retryable: true });
    } finally {
      sender.close();
    }
  });
});

describe('email sender without SMTP', () => {
  it('hands the message to the built-in mailbox', async () => {
    const box: MailboxMessage[] = [];
    const sender = createEmailSender({ from: 'orders@shop.example', mailbox: async (m) => void box.push(m) });
    const outcome = await sender.send({
      deliveryId: 'dlv_01BOX',
      to: ['a@example.com'],
      cc: ['b@example.com'],
      subject: 'Hi',
      html: '<p>Hi</p>',
      text: 'Hi',
    });
    expect(outcome.ok).toBe(true);
    expect(box).toEqual([
      {
        deliveryId: 'dlv_01BOX',
        messageId: '<dlv_01BOX@orderflow.local>',
        from: 'orders@shop.example',
        to: ['a@example.com'],
        cc: ['b@example.com'],
        subject: 'Hi',
        html: '<p>Hi</p>',
        text: 'Hi',
      },
    ]);
  });

  it('applies the same header checks to the mailbox', async () => {
    const box: MailboxMessage[] = [];
    const sender = createEmailSender({ from: 'orders@shop.example', mailbox: async (m) => void box.push(m) });
    const outcome = await sender.send({ deliveryId: 'dlv_01BOX2', to: ['a@example.com'], subject: 'a\r\nb', html: 'x', text: 'x' });
    expect(outcome).toMatchObject({ ok: false, retryable: false });
    expect(box).toHaveLength(0);
  });

  it('retries when the mailbox fails', async () => {
    const sender = createEmailSender({
      from: 'orders@shop.example',
      mailbox: async () => {
        throw new Error('database is locked');
      },
    });
    const outcome = await sender.send({ deliveryId: 'dlv_01BOX3', to: ['a@example.com'], subject: 'Hi', html: 'x', text: 'x' });
    expect(outcome).toMatchObject({ ok: false, retryable: true, error: 'mailbox: database is locked' });
  });
});

describe('resolveRecipients', () => {
  const renderer = createTemplateRenderer();
  const vars = templateVars(envelope, DEMO_ORDERS);
  const ctx = (o: Pick<Order, 'data'> = order, adminEmails: string[] = ['ops@shop.example', 'boss@shop.example']) => ({
    order: o,
    adminEmails,
    render: (s: string) => renderer.render(s, { ...vars, order: { ...order, ...o } }),
  });

  it('resolves customer, admin, plain addresses and lists', () => {
    expect(resolveRecipients('customer', ctx())).toEqual({ ok: true, addresses: ['grace@example.com'] });
    expect(resolveRecipients('admin', ctx())).toEqual({ ok: true, addresses: ['ops@shop.example', 'boss@shop.example'] });
    expect(resolveRecipients('x@example.com', ctx())).toEqual({ ok: true, addresses: ['x@example.com'] });
    expect(resolveRecipients('customer, admin, OPS@shop.example', ctx())).toEqual({
      ok: true,
      addresses: ['grace@example.com', 'ops@shop.example', 'boss@shop.example'],
    });
  });

  it('renders a Liquid expression to exactly one address; order data cannot add recipients', () => {
    const o = { data: { ...order.data, notify: 'a@example.com, b@example.com', semi: 'a@example.com;b@example.com', team: 'support' } };
    expect(resolveRecipients('{{ order.data.team }}@shop.example', ctx(o))).toEqual({ ok: true, addresses: ['support@shop.example'] });
    for (const field of ['notify', 'semi']) {
      const r = resolveRecipients(`{{ order.data.${field} }}`, ctx(o));
      expect(r).toMatchObject({ ok: false });
      if (!r.ok) expect(r.error).toMatch(/not exactly one address/);
    }
  });

  it('fails for good on missing or invalid addresses', () => {
    expect(resolveRecipients('customer', ctx({ data: {} }))).toMatchObject({ ok: false });
    expect(resolveRecipients('customer', ctx({ data: { customer: { email: 'not an address' } } }))).toMatchObject({ ok: false });
    expect(resolveRecipients('admin', ctx(order, []))).toMatchObject({ ok: false });
    expect(resolveRecipients('nobody', ctx())).toMatchObject({ ok: false });
    expect(resolveRecipients('{{ order.data.x }}', ctx({ data: { x: 'a@example.com\r\nBcc: victim@example.com' } }))).toMatchObject({
      ok: false,
    });
    expect(resolveRecipients('{{ order.data.x }}', ctx({ data: { x: 'customer' } }))).toMatchObject({ ok: false });
    expect(resolveRecipients('{{ order.data.x | nope }}', ctx())).toMatchObject({ ok: false });
    expect(resolveRecipients('{{ order.data.missing }}', ctx())).toEqual({ ok: true, addresses: [] });
  });
});
