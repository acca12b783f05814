import { Buffer } from 'node:buffer';
import { createHmac } from 'node:crypto';
import { promises as dns } from 'node:dns';
import { createRequire } from 'node:module';
import { isIP, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { EventEnvelope } from '@orderflow/core';
import type { IPv4, IPv6 } from 'ipaddr.js';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import type { ActionOutcome } from './outcome.js';
import { hasHeaderInjection, jsonBodyValue } from './template.js';

// ipaddr.js is CommonJS with `export =`; load it as such (no default-import interop in this build).
const ipaddr = createRequire(import.meta.url)('ipaddr.js') as typeof import('ipaddr.js');

/** Resolves a host name to its addresses, like `dns.promises.lookup(host, { all: true })`. */
export type LookupFn = (hostname: string) => Promise<readonly { address: string; family: number }[]>;

/** Configuration of the webhook sender. */
export interface WebhookSenderOptions {
  /**
   * Hosts exempt from the destination guard (`ORDERFLOW_WEBHOOK_ALLOW_HOSTS`): host names as
   * written in URLs, or IP literals, e.g. `['127.0.0.1', 'localhost']`.
   * @default []
   */
  allowHosts?: readonly string[];
  /** Resolves host names; injectable for tests. @default dns.promises.lookup with `all: true` */
  lookup?: LookupFn;
  /**
   * Budget of one attempt (resolution, connection, response head and the kept body), in ms.
   * @default 10_000
   */
  timeoutMs?: number;
  /** Sent as `User-Agent`. @default 'Orderflow-Webhooks' */
  userAgent?: string;
  /** The clock used for HTTP-date `Retry-After` values. @default Date.now */
  now?: () => number;
}

/** One signed webhook request. */
export interface WebhookRequest {
  /** The delivery id (`dlv_...`): sent as `webhook-id`, the receiver's deduplication key. */
  deliveryId: string;
  url: string;
  /** @default 'POST' */
  method?: 'POST' | 'PUT' | 'PATCH';
  headers?: Readonly<Record<string, string>>;
  body: string;
  /** `whsec_<base64>` */
  secret: string;
  /** Unix seconds, sent as `webhook-timestamp` and signed. */
  timestamp: number;
}

/** Sends signed webhooks through the destination guard. */
export interface WebhookSender {
  /** Sends one request; never throws. */
  send(req: WebhookRequest): Promise<ActionOutcome>;
  /** Closes pooled connections. */
  close(): Promise<void>;
}

/** Bytes of the response body kept per attempt. */
export const RESPONSE_BODY_LIMIT = 1024;

/** The destination guard refused a connection; nothing was sent. */
export class DestinationRefusedError extends Error {
  override readonly name = 'DestinationRefusedError';
  readonly code = 'ORDERFLOW_DESTINATION_REFUSED';
}

/**
 * Decodes a Standard Webhooks secret (`whsec_<base64>`; the prefix is optional).
 * @throws Error when it is not base64 or shorter than 16 bytes (24 base64 characters).
 */
export function decodeWebhookSecret(secret: string): Buffer {
  const b64 = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 === 1) throw new Error('webhook secret must be whsec_ followed by base64');
  const key = Buffer.from(b64, 'base64');
  if (key.length < 16) throw new Error('webhook secret is too short (at least 16 bytes)');
  return key;
}

/** Decoded secrets by their text: a process signs with one or a few, and decoding checks each send again otherwise. */
const keys = new Map<string, Buffer>();
function signingKey(secret: string): Buffer {
  let key = keys.get(secret);
  if (key === undefined) {
    key = decodeWebhookSecret(secret);
    if (keys.size >= 64) keys.clear();
    keys.set(secret, key);
  }
  return key;
}

/**
 * The `webhook-signature` value of Standard Webhooks: `v1,` and the base64 HMAC-SHA256 of
 * `id.timestamp.body` keyed with the decoded secret.
 */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', signingKey(secret)).update(`${id}.${timestamp}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/**
 * The request body of a `webhook` action: the event envelope (SPEC §4) as JSON, or the
 * action's body, a JSON value whose string leaves are Liquid templates. A string body that
 * holds a JSON object or array is read as that value. The result is always valid JSON: data
 * is placed into the value, never spliced into JSON text.
 */
export function webhookBody(
  envelope: EventEnvelope,
  body: unknown,
  renderJson: (value: unknown) => unknown,
): { ok: true; body: string } | { ok: false; error: string } {
  if (body === undefined) return { ok: true, body: JSON.stringify(envelope) };
  try {
    return { ok: true, body: JSON.stringify(renderJson(jsonBodyValue(body))) ?? 'null' };
  } catch (err) {
    return { ok: false, error: `webhook body template failed: ${errorMessage(err)}` };
  }
}

const IPV6_GLOBAL_UNICAST = ipaddr.IPv6.parse('2000::');

/**
 * True when `address` (an IP literal in canonical form) is a public unicast address: not
 * loopback, private, link-local (incl. 169.254.169.254), unique-local, CGNAT, multicast,
 * unspecified, reserved, documentation, IPv4-mapped/translated IPv6, or outside 2000::/3.
 */
export function isPublicAddress(address: string): boolean {
  if (isIP(address) === 0) return false;
  let parsed: IPv4 | IPv6;
  try {
    parsed = ipaddr.parse(address);
  } catch {
    return false;
  }
  if (parsed.range() !== 'unicast') return false;
  if (parsed.kind() === 'ipv6') return (parsed as IPv6).match(IPV6_GLOBAL_UNICAST, 3);
  return true;
}

/** Lower-case, without brackets or a trailing dot; IP literals in their canonical text form. */
export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (isIP(h) !== 0) {
    try {
      const ip = ipaddr.parse(h);
      return ip.kind() === 'ipv6' ? (ip as IPv6).toRFC5952String() : ip.toString();
    } catch {
      return h;
    }
  }
  return h;
}

const defaultLookup: LookupFn = (hostname) => dns.lookup(hostname, { all: true });

/** Settles as `promise` does, or rejects with `message` after `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/**
 * An undici connector that checks the address it actually connects to: host names are
 * resolved here and the connection is pinned to a checked address (so a second, rebound DNS
 * answer cannot slip in), and the socket's remote address is checked again once connected.
 * Hosts on `allowHosts` skip the check. A refusal happens before any connection is opened.
 */
export function createGuardedConnector(opts: {
  allowHosts?: readonly string[];
  lookup?: LookupFn;
  connectTimeoutMs?: number;
}): buildConnector.connector {
  const allowed = new Set((opts.allowHosts ?? []).map(normalizeHost).filter((h) => h !== ''));
  const lookup = opts.lookup ?? defaultLookup;
  const base = buildConnector({ timeout: opts.connectTimeoutMs ?? 10_000 });

  const targets = async (host: string, guarded: boolean): Promise<string[]> => {
    let addresses: string[];
    if (isIP(host) !== 0) {
      addresses = [host];
    } else {
      const found = await withTimeout(lookup(host), opts.connectTimeoutMs ?? 10_000, `looking up ${host} timed out`);
      addresses = found.map((a) => a.address);
      if (addresses.length === 0) throw new Error(`no address found for ${host}`);
    }
    if (guarded) {
      const bad = addresses.find((a) => !isPublicAddress(a));
      if (bad !== undefined) {
        throw new DestinationRefusedError(
          `destination refused: ${host} resolves to ${bad}, which is not a public address (allow it with ORDERFLOW_WEBHOOK_ALLOW_HOSTS)`,
        );
      }
    }
    return addresses.slice(0, 4);
  };

  return (options, callback) => {
    const host = normalizeHost(options.hostname);
    const guarded = !allowed.has(host);
    targets(host, guarded).then(
      (addresses) => {
        const attempt = (i: number, lastError: Error | null): void => {
          const address = addresses[i];
          if (address === undefined) {
            callback(lastError ?? new Error(`could not connect to ${host}`), null);
            return;
          }
          base({ ...options, hostname: address }, (err, socket) => {
            if (err) {
              attempt(i + 1, err);
              return;
            }
            const remote = (socket as Socket).remoteAddress;
            if (guarded && (remote === undefined || !isPublicAddress(normalizeHost(remote)))) {
              socket.destroy();
              callback(new DestinationRefusedError(`destination refused: connected address ${remote ?? '(unknown)'} is not public`), null);
              return;
            }
            callback(null, socket);
          });
        };
        attempt(0, null);
      },
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err)), null),
    );
  };
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;
/** Headers the sender sets itself or that would change how the request is framed or routed. */
const RESERVED_HEADERS = new Set([
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'expect',
  'te',
  'trailer',
  'proxy-authorization',
  'proxy-connection',
  'user-agent',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
]);
const DELIVERY_ID = /^[A-Za-z0-9_.-]{1,200}$/;
const METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** Creates the webhook sender (SPEC §4): Standard Webhooks signatures, destination guard, no redirects. */
export function createWebhookSender(options: WebhookSenderOptions = {}): WebhookSender {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const userAgent = options.userAgent ?? 'Orderflow-Webhooks';
  const now = options.now ?? Date.now;
  const connector = createGuardedConnector({
    allowHosts: options.allowHosts ?? [],
    ...(options.lookup ? { lookup: options.lookup } : {}),
    connectTimeoutMs: timeoutMs,
  });
  const agent = new Agent({
    connect: connector,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    keepAliveTimeout: 4_000,
    connections: 32,
  });

  const inFlight = new Set<Promise<Exchange>>();

  async function send(req: WebhookRequest): Promise<ActionOutcome> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const fail = (error: string): ActionOutcome => ({ ok: false, retryable: false, error, durationMs: elapsed() });

    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      return fail('invalid webhook URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return fail(`unsupported URL scheme ${url.protocol}`);
    if (url.username !== '' || url.password !== '') return fail('credentials in the webhook URL are not supported; use headers');
    const method = req.method ?? 'POST';
    if (!METHODS.has(method)) return fail(`unsupported method ${String(method)}`);
    if (!DELIVERY_ID.test(req.deliveryId)) return fail('invalid delivery id');
    if (!Number.isSafeInteger(req.timestamp) || req.timestamp < 0) return fail('invalid timestamp');

    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers ?? {})) {
      const lower = name.toLowerCase();
      if (!HEADER_NAME.test(name)) return fail(`invalid header name ${JSON.stringify(name.slice(0, 100))}`);
      if (typeof value !== 'string' || hasHeaderInjection(value)) return fail(`header ${name} contains a line break or NUL`);
      if (RESERVED_HEADERS.has(lower) || lower.startsWith('proxy-')) return fail(`header ${name} cannot be set on webhooks`);
      headers[lower] = value;
    }
    let signature: string;
    try {
      signature = signWebhook(req.secret, req.deliveryId, req.timestamp, req.body);
    } catch (err) {
      return fail(errorMessage(err));
    }
    Object.assign(headers, {
      'content-type': 'application/json',
      'user-agent': userAgent,
      'webhook-id': req.deliveryId,
      'webhook-timestamp': String(req.timestamp),
      'webhook-signature': signature,
    });

    const pending = exchange(agent, url, method, headers, req.body, timeoutMs);
    inFlight.add(pending);
    const result = await pending.finally(() => inFlight.delete(pending));
    if (!result.ok) {
      if (isRefusal(result.error)) return fail(errorMessage(result.error));
      const message = result.timedOut ? `timed out after ${timeoutMs} ms` : networkMessage(result.error);
      return { ok: false, retryable: true, error: message, durationMs: elapsed() };
    }
    return classify(result.status, result.headers, result.body, elapsed(), now);
  }

  return {
    send,
    // Every exchange settles within its time limit, even one whose connection is still being
    // made; once they have, nothing is left to wait for, and the connections are dropped.
    close: async () => {
      await Promise.allSettled(inFlight);
      await agent.destroy();
    },
  };
}

type ResponseHeaders = Record<string, string | string[] | undefined>;

function classify(status: number, headers: ResponseHeaders, responseBody: string, durationMs: number, now: () => number): ActionOutcome {
  const base = { status, responseBody, durationMs };
  if (status >= 200 && status < 300) return { ok: true, ...base };
  if (status >= 300 && status < 400) {
    const location = header(headers, 'location');
    const to = location ? ` to ${location.slice(0, 200)}` : '';
    return { ok: false, retryable: false, error: `HTTP ${status}${to}: redirects are not followed`, ...base };
  }
  if (status === 410) return { ok: false, retryable: false, disableEndpoint: true, error: 'HTTP 410: the endpoint is gone', ...base };
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(header(headers, 'retry-after'), now());
    return { ok: false, retryable: true, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}), error: `HTTP ${status}`, ...base };
  }
  return { ok: false, retryable: false, error: `HTTP ${status}`, ...base };
}

/** Milliseconds to wait from a `Retry-After` value (delay-seconds or an HTTP-date), if it is valid. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d{1,10}$/.test(v)) return Number(v) * 1000;
  if (!/[a-z]/i.test(v)) return undefined;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

function header(headers: ResponseHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** What one exchange ended with: a response (its body cut at {@link RESPONSE_BODY_LIMIT}), or why there is none. */
type Exchange = { ok: true; status: number; headers: ResponseHeaders; body: string } | { ok: false; error: unknown; timedOut: boolean };

/**
 * One request through the agent's dispatcher, at most `timeoutMs` in all, from connecting to the
 * last byte read. It keeps at most {@link RESPONSE_BODY_LIMIT} bytes of the body and then drops
 * the connection with the rest. Once the headers are in, the status is what counts: a body cut
 * short by the time limit or a reset is kept as far as it got. The handler is undici's
 * dispatch interface rather than `request()`, whose body stream and abort signal cost about
 * as much CPU per webhook as everything else of it.
 */
function exchange(
  agent: Agent,
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<Exchange> {
  const timedOut = () => new Error(`timed out after ${timeoutMs} ms`);
  return new Promise((resolve) => {
    let controller: Dispatcher.DispatchController | null = null;
    let response: { status: number; headers: ResponseHeaders } | null = null;
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (x: Exchange): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(x);
    };
    const answer = (r: { status: number; headers: ResponseHeaders }): void =>
      settle({
        ok: true,
        ...r,
        body: new TextDecoder('utf-8', { fatal: false }).decode(Buffer.concat(chunks).subarray(0, RESPONSE_BODY_LIMIT)),
      });
    const timer = setTimeout(() => {
      if (response) answer(response);
      else settle({ ok: false, error: timedOut(), timedOut: true });
      // Not started yet (still connecting): onRequestStart aborts it.
      controller?.abort(timedOut());
    }, timeoutMs);
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (settled && !response) c.abort(timedOut());
      },
      onResponseStart(_c, statusCode, responseHeaders) {
        // 1xx are interim answers; the final one follows.
        if (statusCode >= 200) response = { status: statusCode, headers: responseHeaders };
      },
      onResponseData(c, chunk) {
        if (settled) return;
        chunks.push(chunk);
        size += chunk.length;
        if (size >= RESPONSE_BODY_LIMIT && response) {
          answer(response);
          c.abort(new Error('response body limit reached'));
        }
      },
      onResponseEnd() {
        if (response) answer(response);
        else settle({ ok: false, error: new Error('the response ended without a status'), timedOut: false });
      },
      onResponseError(_c, error) {
        if (response) answer(response);
        else settle({ ok: false, error, timedOut: false });
      },
    };
    try {
      agent.dispatch(
        { origin: url.origin, path: `${url.pathname}${url.search}`, method: method as Dispatcher.HttpMethod, headers, body },
        handler,
      );
    } catch (error) {
      settle({ ok: false, error, timedOut: false });
    }
  });
}

function isRefusal(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof DestinationRefusedError || (e as { code?: unknown }).code === 'ORDERFLOW_DESTINATION_REFUSED') return true;
  }
  return false;
}

function networkMessage(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
  const code = typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : undefined;
  const message = typeof e.cause?.message === 'string' && e.cause.message !== '' ? e.cause.message : errorMessage(err);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
