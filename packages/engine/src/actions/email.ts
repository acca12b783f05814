import { performance } from 'node:perf_hooks';
import type { Order } from '@orderflow/core';
import { createTransport } from 'nodemailer';
import SMTPPool from 'nodemailer/lib/smtp-pool';
import type { ActionOutcome } from './outcome.js';
import { hasHeaderInjection } from './template.js';

/** One email to send, already rendered. */
export interface EmailMessage {
  /** The delivery id (`dlv_...`); the Message-ID is derived from it, so a resend reuses it. */
  deliveryId: string;
  to: string[];
  cc?: string[];
  subject: string;
  html: string;
  text: string;
}

/** An email as handed to the built-in mailbox. */
export interface MailboxMessage {
  deliveryId: string;
  messageId: string;
  from: string;
  to: string[];
  cc: string[];
  subject: string;
  html: string;
  text: string;
}

/** Configuration of the email sender. */
export interface EmailSenderOptions {
  /**
   * `smtp://user:pass@host:port` (or `smtps://`); unset = the built-in mailbox. Transport
   * options may be given as URL query parameters, and they take precedence over the sender's
   * own: `?maxConnections=2`, `?maxMessages=50`, `?pool=false` (a new connection per message).
   */
  smtpUrl?: string;
  /** The sender address (`ORDERFLOW_MAIL_FROM`), e.g. `Orderflow <orders@example.com>`. */
  from: string;
  /** Stores a message in the built-in mailbox; used when `smtpUrl` is not set. */
  mailbox?: (msg: MailboxMessage) => Promise<void>;
  /**
   * Connection, greeting and idle socket timeouts of the SMTP client, in ms.
   * @default { connectionMs: 10_000, greetingMs: 10_000, socketMs: 30_000 }
   */
  timeouts?: { connectionMs?: number; greetingMs?: number; socketMs?: number };
}

/** Sends rendered emails by SMTP or into the built-in mailbox. */
export interface EmailSender {
  /** Sends one message; never throws. */
  send(message: EmailMessage): Promise<ActionOutcome>;
  /**
   * Closes the SMTP connection pool: idle connections at once, a connection that is sending
   * a message once that message is sent. A send after it fails (retryable).
   */
  close(): void;
}

/** Upper bound of recipients per message (to and cc together). */
export const MAX_RECIPIENTS = 50;

const DELIVERY_ID = /^[A-Za-z0-9_.-]{1,200}$/;

/** The stable Message-ID of a delivery: `<dlv_...@orderflow.local>`. */
export const messageIdFor = (deliveryId: string): string => `<${deliveryId}@orderflow.local>`;

// A bare addr-spec: dot-atom local part, hostname of LDH labels. No display names, comments,
// quoted local parts or address literals: recipients come from order data and must not be
// able to smuggle a second address or a header through the parser.
const LOCAL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** True for a plain email address such as `jane.doe+orders@example.com`. */
export function isValidEmailAddress(value: string): boolean {
  if (value.length > 254) return false;
  const at = value.lastIndexOf('@');
  if (at <= 0 || at === value.length - 1) return false;
  const local = value.slice(0, at);
  const domain = value.slice(at + 1);
  if (local.length > 64 || !LOCAL.test(local)) return false;
  const labels = domain.split('.');
  return labels.every((l) => LABEL.test(l));
}

/** The addresses a `to`/`cc` field resolved to, or why it could not be resolved (never retryable). */
export type RecipientResult = { ok: true; addresses: string[] } | { ok: false; error: string };

/**
 * Resolves a `to` or `cc` field of a `send_email` action (SPEC §2.3): `customer` is
 * `order.data.customer.email`, `admin` the configured admin addresses, anything else an
 * address or comma-separated addresses. A value containing Liquid (`{{`/`{%`) is rendered
 * with `render` first and must yield exactly one address (keywords are not expanded, and
 * nothing is split, in rendered output).
 */
export function resolveRecipients(
  to: string,
  ctx: { order: Pick<Order, 'data'>; adminEmails: readonly string[]; render: (source: string) => string },
): RecipientResult {
  const out: string[] = [];
  const add = (address: string, from: string): string | null => {
    const a = address.trim();
    if (!isValidEmailAddress(a)) return `invalid email address ${JSON.stringify(a.slice(0, 100))} (from ${from})`;
    if (!out.some((x) => x.toLowerCase() === a.toLowerCase())) out.push(a);
    return null;
  };

  if (to.includes('{{') || to.includes('{%')) {
    let rendered: string;
    try {
      rendered = ctx.render(to);
    } catch (err) {
      return { ok: false, error: `recipient template failed: ${err instanceof Error ? err.message : String(err)}` };
    }
    // Order data must not be able to add recipients: a rendered entry is exactly one address.
    const one = rendered.trim();
    // Empty means no address (an optional cc); a `to` without any address fails as "no recipients".
    if (one === '') return { ok: true, addresses: [] };
    if (/[,;\s]/.test(one)) {
      return {
        ok: false,
        error: `the recipient template rendered ${JSON.stringify(one.slice(0, 100))}, not exactly one address; each to/cc entry takes one address`,
      };
    }
    const problem = add(one, 'a recipient template');
    if (problem) return { ok: false, error: problem };
  } else {
    for (const token of splitList(to)) {
      if (token === 'customer') {
        const customer = ctx.order.data.customer;
        const email =
          customer !== null && typeof customer === 'object' && !Array.isArray(customer)
            ? (customer as Record<string, unknown>).email
            : undefined;
        if (typeof email !== 'string' || email.trim() === '')
          return { ok: false, error: 'the order has no customer email (order.data.customer.email)' };
        const problem = add(email, 'order.data.customer.email');
        if (problem) return { ok: false, error: problem };
      } else if (token === 'admin') {
        if (ctx.adminEmails.length === 0) return { ok: false, error: 'no admin addresses are configured (ORDERFLOW_ADMIN_EMAILS)' };
        for (const a of ctx.adminEmails) {
          const problem = add(a, 'ORDERFLOW_ADMIN_EMAILS');
          if (problem) return { ok: false, error: problem };
        }
      } else {
        const problem = add(token, 'the action');
        if (problem) return { ok: false, error: problem };
      }
    }
  }
  if (out.length > MAX_RECIPIENTS) return { ok: false, error: `more than ${MAX_RECIPIENTS} recipients` };
  return { ok: true, addresses: out };
}

function splitList(value: string): string[] {
  return value
    .split(/[,;]/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * Most SMTP connections one sender keeps open; further messages wait in the pool's queue for a
 * free connection. Nodemailer's own default, and deliberately not the worker's per-destination
 * bound (ORDERFLOW_DESTINATION_CONCURRENCY, 32): mail servers commonly limit concurrent
 * connections per client or account to a handful, and a kept-alive connection sends the next
 * message without a new handshake, so a few connections carry the load. The pool opens a
 * connection only for a message that finds none free, so with a per-destination bound below
 * this one the worker's sends in flight keep the pool smaller still. One sender (and its pool)
 * serves both `send_email` deliveries and the emails of notifications. The bound is per sender,
 * that is per process running a worker: N of them keep up to N times it open to the server.
 */
export const SMTP_MAX_CONNECTIONS = 5;

/** Messages one pooled connection sends before it is replaced by a fresh one (nodemailer's default). */
export const SMTP_MAX_MESSAGES = 100;

/**
 * Creates the email sender: SMTP when `smtpUrl` is set, else the built-in mailbox. SMTP goes
 * through a pool of kept-alive connections ({@link SMTP_MAX_CONNECTIONS}); a connection the
 * server dropped is replaced, and a message that had not started on it is sent on another.
 *
 * An outcome's `durationMs` is the message's own SMTP exchange: from the moment a connection
 * is free for it (opening one when the pool has none, and the server's greeting then) to the
 * server's answer. Time a message spends waiting for a free connection is not in it, so a
 * recorded attempt says how long the mail server took, not how busy the pool was. The sender
 * therefore lets at most as many messages into the pool as it has connections, and keeps the
 * others waiting in its own queue, in order, before their clock starts.
 */
export function createEmailSender(options: EmailSenderOptions): EmailSender {
  const socketTimeout = options.timeouts?.socketMs ?? 30_000;
  // nodemailer lets the URL's query parameters override these options (createTransport
  // assigns the parsed URL over the other keys), so `?pool=false` or `?maxConnections=N`
  // in ORDERFLOW_SMTP_URL wins over the defaults here.
  const transporter = options.smtpUrl
    ? createTransport({
        url: options.smtpUrl,
        pool: true,
        maxConnections: SMTP_MAX_CONNECTIONS,
        maxMessages: SMTP_MAX_MESSAGES,
        // An idle connection says QUIT before the socket timeout would cut it off.
        idleTimeout: Math.max(1, Math.floor(socketTimeout / 2)),
        connectionTimeout: options.timeouts?.connectionMs ?? 10_000,
        greetingTimeout: options.timeouts?.greetingMs ?? 10_000,
        socketTimeout,
        disableFileAccess: true,
        disableUrlAccess: true,
      })
    : null;
  // With `?pool=false` every message opens its own connection, so none waits for another's.
  const slots = transporter?.transporter instanceof SMTPPool ? createSlots(transporter.transporter.options.maxConnections) : null;

  async function send(message: EmailMessage): Promise<ActionOutcome> {
    let started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const fail = (error: string): ActionOutcome => ({ ok: false, retryable: false, error, durationMs: elapsed() });

    const problem = checkMessage(options.from, message);
    if (problem) return fail(problem);
    const cc = message.cc ?? [];
    const messageId = messageIdFor(message.deliveryId);

    if (!transporter) {
      if (!options.mailbox) return fail('no SMTP server and no mailbox configured');
      try {
        await options.mailbox({
          deliveryId: message.deliveryId,
          messageId,
          from: options.from,
          to: [...message.to],
          cc: [...cc],
          subject: message.subject,
          html: message.html,
          text: message.text,
        });
        return { ok: true, durationMs: elapsed() };
      } catch (err) {
        return { ok: false, retryable: true, error: `mailbox: ${errorMessage(err)}`, durationMs: elapsed() };
      }
    }

    if (slots && !(await slots.acquire())) {
      return { ok: false, retryable: true, error: 'smtp: Connection pool was closed', durationMs: 0 };
    }
    // The exchange starts now: the pool has a connection (or room to open one) for this message.
    started = performance.now();
    try {
      const info = await transporter.sendMail({
        from: options.from,
        to: message.to,
        ...(cc.length > 0 ? { cc } : {}),
        subject: message.subject,
        html: message.html,
        text: message.text,
        messageId,
        headers: { 'X-Orderflow-Delivery': message.deliveryId },
        disableFileAccess: true,
        disableUrlAccess: true,
      });
      const response = typeof info.response === 'string' ? info.response.slice(0, 1024) : undefined;
      return { ok: true, ...(response !== undefined ? { responseBody: response } : {}), durationMs: elapsed() };
    } catch (err) {
      return smtpFailure(err, elapsed());
    } finally {
      slots?.release();
    }
  }

  return {
    send,
    close() {
      slots?.close();
      transporter?.close();
    },
  };
}

/** Admission to the SMTP pool: at most `size` messages in it at once, the others waiting in order. */
interface Slots {
  /** Resolves true once the message may enter the pool, false when the sender was closed first. */
  acquire(): Promise<boolean>;
  /** Frees the slot of a message whose exchange is over. */
  release(): void;
  /** Turns away every waiting message and every later one. */
  close(): void;
}

function createSlots(size: number): Slots {
  if (!Number.isInteger(size) || size < 1) throw new Error(`SMTP pool size must be a positive integer, not ${String(size)}`);
  let taken = 0;
  let closed = false;
  const waiting: Array<(admitted: boolean) => void> = [];
  return {
    acquire() {
      if (closed) return Promise.resolve(false);
      if (taken < size) {
        taken++;
        return Promise.resolve(true);
      }
      return new Promise<boolean>((resolve) => waiting.push(resolve));
    },
    release() {
      const next = waiting.shift();
      // The slot passes straight to the next message in line.
      if (next) next(true);
      else taken--;
    },
    close() {
      closed = true;
      for (const resolve of waiting.splice(0)) resolve(false);
    },
  };
}

function checkMessage(from: string, m: EmailMessage): string | null {
  if (!DELIVERY_ID.test(m.deliveryId)) return 'invalid delivery id';
  if (hasHeaderInjection(from)) return 'the sender address contains a line break or NUL';
  if (hasHeaderInjection(m.subject)) return 'the subject contains a line break or NUL; nothing was sent';
  if (m.to.length === 0) return 'no recipients';
  const cc = m.cc ?? [];
  if (m.to.length + cc.length > MAX_RECIPIENTS) return `more than ${MAX_RECIPIENTS} recipients`;
  for (const a of [...m.to, ...cc]) {
    if (hasHeaderInjection(a)) return 'a recipient contains a line break or NUL; nothing was sent';
    if (!isValidEmailAddress(a)) return `invalid email address ${JSON.stringify(a.slice(0, 100))}`;
  }
  return null;
}

function smtpFailure(err: unknown, durationMs: number): ActionOutcome {
  const e = (err ?? {}) as { code?: unknown; responseCode?: unknown; permanent?: unknown; response?: unknown };
  const status = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  // A 5xx reply (other than 503) is the server's final word on this message; an envelope or
  // message the client itself refused to send is a defect of the message, not of the network.
  const permanent = e.permanent === true || (status === undefined && (e.code === 'EENVELOPE' || e.code === 'EMESSAGE'));
  return {
    ok: false,
    retryable: !permanent,
    error: `smtp: ${errorMessage(err)}`,
    ...(status !== undefined ? { status } : {}),
    ...(typeof e.response === 'string' ? { responseBody: e.response.slice(0, 1024) } : {}),
    durationMs,
  };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
