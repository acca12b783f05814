import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { expect } from 'vitest';
import { createWebhookSender, type LookupFn } from '../../src/actions/webhook.js';
import { createTestOrderflow, json, type TestOptions, type TestOrderflow } from './orderflow.js';

/** Name resolution for tests: nothing resolves, so no webhook leaves the machine (receivers use 127.0.0.1). */
export const offlineLookup: LookupFn = async (host) => {
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host} (tests resolve no names)`), { code: 'ENOTFOUND' });
};

/**
 * A test instance whose webhook sender resolves no names: the demo seed's webhook to
 * api.example.com fails locally instead of reaching the internet. Loopback receivers are
 * reached by their literal address when ORDERFLOW_WEBHOOK_ALLOW_HOSTS allows them.
 * `opts.dialect` picks the database as in `createTestOrderflow` (default SQLite; PostgreSQL gets its own schema).
 */
export async function createAutomationTest(opts: TestOptions = {}): Promise<TestOrderflow> {
  const given = opts.create?.worker?.senders?.webhook;
  const allow = (opts.env?.ORDERFLOW_WEBHOOK_ALLOW_HOSTS ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
  const webhook = given ?? createWebhookSender({ allowHosts: allow, lookup: offlineLookup });
  const t = await createTestOrderflow({
    ...opts,
    create: { ...opts.create, worker: { ...opts.create?.worker, senders: { ...opts.create?.worker?.senders, webhook } } },
  });
  const close = t.close.bind(t);
  t.close = async () => {
    await close();
    if (!given) await webhook.close();
  };
  return t;
}

/** One request a receiver got. */
export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** A real HTTP receiver on 127.0.0.1. */
export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** Bytes received on any connection (0 proves nothing reached it). */
  bytes(): number;
  /** Sets how the next requests are answered (a queue; the last entry repeats). */
  respond(...answers: Answer[]): void;
  /** Resolves once `n` requests arrived (bounded by `timeoutMs`). */
  waitFor(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** How a receiver answers: a status, optional headers and body. */
export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * A receiver on 127.0.0.1 that holds every answer until `release()`, or, given `holdMs`, until it passed
 * (below the webhook timeout, so every request it gets ends with a 200 and a test that waits on
 * it always ends).
 */
export async function startHeldReceiver(holdMs?: number) {
  const held: ServerResponse[] = [];
  let requests = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let released = false;
  let connections = 0;
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const f of [...listeners]) f();
  };
  const answer = (res: ServerResponse) => {
    if (res.writableEnded) return;
    inFlight--;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
    notify();
  };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests++;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      if (released) answer(res);
      else {
        held.push(res);
        if (holdMs !== undefined) setTimeout(() => answer(res), holdMs).unref();
      }
      notify();
    });
  });
  server.on('connection', () => {
    connections++;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    /** TCP connections opened to it so far. */
    connections: () => connections,
    inFlight: () => inFlight,
    maxInFlight: () => maxInFlight,
    /** Resolves once `n` requests arrived. */
    waitFor(n: number) {
      return until(() => requests >= n, listeners);
    },
    release() {
      released = true;
      for (const res of held.splice(0)) answer(res);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Resolves once `done()` holds, checking whenever a listener in `on` is called. */
function until(done: () => boolean, on: Set<() => void>): Promise<void> {
  if (done()) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const check = () => {
      if (!done()) return;
      on.delete(check);
      resolve();
    };
    on.add(check);
  });
}

/** A receiver started by {@link startHeldReceiver}. */
export type HeldReceiver = Awaited<ReturnType<typeof startHeldReceiver>>;

/** Starts an HTTP receiver on 127.0.0.1 that records every request. */
export async function startReceiver(): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  let answers: Answer[] = [{ status: 200, body: 'ok' }];
  let bytes = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const server: Server = createServer((req, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      });
      const a = (answers.length > 1 ? answers.shift() : answers[0]) as Answer;
      res.writeHead(a.status, { 'content-type': 'text/plain', ...(a.headers ?? {}) });
      res.end(a.body ?? '');
      for (const w of [...waiters]) {
        if (requests.length >= w.n) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    });
  });
  server.on('connection', (socket) => {
    socket.on('data', (d: Buffer) => {
      bytes += d.length;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    bytes: () => bytes,
    respond(...a) {
      answers = a;
    },
    waitFor(n, timeoutMs = 5000) {
      if (requests.length >= n) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`receiver got ${requests.length} of ${n} requests in ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** One message a test SMTP server received. */
export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
}

/** A real SMTP server (`smtp-server`) on 127.0.0.1. */
export interface SmtpSink {
  url: string;
  messages: ReceivedMail[];
  close(): Promise<void>;
}

/**
 * Starts an SMTP server on 127.0.0.1 that keeps every message; with `answerDelayMs` it takes
 * that long to answer each message's data (a slow mail server).
 */
export async function startSmtp(opts: { answerDelayMs?: number } = {}): Promise<SmtpSink> {
  const messages: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    disableReverseLookup: true,
    logger: false,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        if (opts.answerDelayMs) setTimeout(() => cb(), opts.answerDelayMs);
        else cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { url: `smtp://127.0.0.1:${port}`, messages, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Splits a raw message into its header block and a quoted-printable-decoded body. */
export function parseMail(raw: string): { headers: string; body: string } {
  const at = raw.indexOf('\r\n\r\n');
  const headers = raw.slice(0, at);
  const body = raw
    .slice(at + 4)
    .replace(/=\r\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  return { headers, body };
}

/** The unfolded lines of one header. */
export const headerLines = (headers: string, name: string): string[] =>
  headers
    .replace(/\r\n[ \t]+/g, ' ')
    .split('\r\n')
    .filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));

/** Creates and publishes a workflow as admin. */
export async function publishWorkflow(t: TestOrderflow, definition: Record<string, unknown>): Promise<void> {
  const res = await t.request('admin', { method: 'POST', url: '/api/v1/workflows?publish=true', body: definition });
  expect(res.statusCode, res.body).toBeLessThan(300);
}

/** Creates an order as operator; returns it. */
// biome-ignore lint/suspicious/noExplicitAny: test bodies are read loosely
export async function createOrder(t: TestOrderflow, workflow: string, data: Record<string, unknown> = {}): Promise<any> {
  const res = await t.request('operator', { method: 'POST', url: '/api/v1/orders', body: { workflow, data } });
  expect(res.statusCode, res.body).toBe(201);
  return json(res).order;
}

/** Moves an order as operator; returns the change. */
// biome-ignore lint/suspicious/noExplicitAny: test bodies are read loosely
export async function move(t: TestOrderflow, id: string, to: string, extra: Record<string, unknown> = {}): Promise<any> {
  const res = await t.request('operator', { method: 'POST', url: `/api/v1/orders/${id}/transitions`, body: { to, ...extra } });
  expect(res.statusCode, res.body).toBe(200);
  return json(res);
}

/** A small workflow whose every transition fires the given actions. */
export function hookWorkflow(key: string, actions: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    key,
    name: `Hook ${key}`,
    states: [
      { key: 'placed', name: 'Placed', group: 'new', initial: true },
      { key: 'working', name: 'Working', group: 'processing' },
      { key: 'waiting', name: 'Waiting', group: 'processing' },
      { key: 'done', name: 'Done', group: 'completed' },
      { key: 'dropped', name: 'Dropped', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
    ],
    transitions: [
      { from: 'placed', to: 'working' },
      { from: 'working', to: 'waiting' },
      { from: 'waiting', to: 'working' },
      { from: 'working', to: 'done' },
      { from: '*', to: 'dropped' },
    ],
    rules: [{ id: 'hook', trigger: 'state_changed', actions }],
    ...extra,
  };
}

/** Rows of a table (tests read the store directly). */
export async function count(
  t: TestOrderflow,
  table: 'deliveries' | 'delivery_attempts' | 'notifications' | 'mailbox' | 'timers' | 'orders',
): Promise<number> {
  const r = await t.of.store.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}
