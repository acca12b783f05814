import { existsSync, readFileSync } from 'node:fs';
import { parseDuration } from '@orderflow/core';
import addressparser from 'nodemailer/lib/addressparser';

/** Orderflow's configuration (SPEC §7), validated once and frozen. */
export interface Config {
  /** @default 3000 */
  port: number;
  /** @default '127.0.0.1' */
  host: string;
  /** `sqlite:<path>`, `sqlite::memory:` or `postgres://...`. @default 'sqlite:./data/orderflow.db' */
  databaseUrl: string;
  /** Unset: email goes to the built-in mailbox. */
  smtpUrl: string | null;
  /** @default 'Orderflow <orderflow@localhost>' */
  mailFrom: string;
  /** The `admin` recipient and the `admins` channel. @default [] */
  adminEmails: string[];
  /** `whsec_<base64>`; generated and stored on first start when unset. */
  webhookSecret: string | null;
  /** Hosts webhooks may reach although they are loopback or private. @default [] */
  webhookAllowHosts: string[];
  /** Fixes the bootstrap admin token instead of generating one. */
  adminToken: string | null;
  /** First retry delay in ms. @default 10000 */
  retryBaseMs: number;
  /** Attempts before a delivery is dead. @default 18 */
  retryMaxAttempts: number;
  /** Seed the demo workflows on first start. @default true */
  demo: boolean;
  /** @default 'info' */
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Directory for `admin-token` and the default database. @default './data' */
  dataDir: string;
  /** Consecutive failures before an endpoint is disabled. @default 20 */
  endpointFailureLimit: number;
  /** Deliveries in flight at once to one destination (endpoint, webhook origin, mail server). @default 32 */
  destinationConcurrency: number;
  /** Max request body in bytes. @default 1048576 */
  bodyLimit: number;
  /** API requests per minute per token (or per address when anonymous); 0 disables. @default 60000 */
  rateLimit: number;
  /** Bound on rule cascades (a rule's transition triggering more rules). @default 10 */
  maxCascadeDepth: number;
  /** Times rules may move one order into the same state within an hour (loop guard). @default 20 */
  ruleReentryLimit: number;
  /** Work budget of one change: transitions, created orders, deliveries and timers it may cause. @default 500 */
  maxCascadeEffects: number;
  /** Total Liquid render time one change may spend, in ms. @default 250 */
  renderBudgetMs: number;
  /** `/metrics` answers without a token. @default false */
  metricsPublic: boolean;
  /** How long an Idempotency-Key is remembered, in ms (the worker prunes older ones). @default 86400000 (24 h) */
  idempotencyTtlMs: number;
  /** Failed authentications per minute per client address before it gets 429; 0 disables. @default 20 */
  authFailureLimit: number;
}

/** A configuration problem naming the variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const list = (v: string | undefined) =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

const EMAIL = /^[^\s@<>",;]+@[^\s@<>",;]+$/;

/**
 * Why a sender is not one email address (optionally with a display name, `Name <addr>`),
 * read as nodemailer reads a `from`; undefined when it is one.
 */
function senderProblem(from: string): string | undefined {
  if (/[\r\n\0]/.test(from)) return 'must not contain line breaks';
  const parsed = addressparser(from);
  if (parsed.length !== 1 || 'group' in (parsed[0] ?? {})) return 'must be a single email address, such as Shop <shop@example.com>';
  const address = (parsed[0] as addressparser.Address).address;
  if (!EMAIL.test(address)) return 'is not an email address (expected name@domain, optionally as Name <name@domain>)';
  return undefined;
}

/**
 * The SMTP pool options a `ORDERFLOW_SMTP_URL` may set in its query (nodemailer reads them from
 * there), with the check each must pass. A value nodemailer cannot use is not refused by it: a
 * pool bound such as `abc` or `-1` opens no connection at all, and every email waits unsent.
 */
const SMTP_POOL_OPTIONS: Record<string, { ok: (v: string) => boolean; expected: string }> = {
  maxConnections: {
    ok: (v) => /^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 1000,
    expected: 'an integer from 1 to 1000 (SMTP connections each worker keeps at most)',
  },
  maxMessages: { ok: (v) => /^\d+$/.test(v) && Number(v) >= 1, expected: 'a positive integer (messages per connection)' },
  pool: { ok: (v) => v === 'true' || v === 'false', expected: 'true or false' },
};

/** Problems with the pool options in an SMTP URL's query; never quotes the URL (it may hold a password). */
function smtpPoolProblems(smtpUrl: string): string[] {
  let query: URLSearchParams;
  try {
    query = new URL(smtpUrl).searchParams;
  } catch {
    return ['ORDERFLOW_SMTP_URL: must look like smtp://user:pass@host:port'];
  }
  const out: string[] = [];
  for (const [name, rule] of Object.entries(SMTP_POOL_OPTIONS)) {
    const values = query.getAll(name);
    if (values.length === 0) continue;
    const value = values[0] as string;
    if (values.length > 1) out.push(`ORDERFLOW_SMTP_URL: ${name} is given ${values.length} times; give it once`);
    else if (!rule.ok(value)) out.push(`ORDERFLOW_SMTP_URL: ${name} must be ${rule.expected}, not ${JSON.stringify(value.slice(0, 40))}`);
  }
  return out;
}

/**
 * Reads configuration from `orderflow.config.json` (if present in the working
 * directory) overlaid by the environment. Reports every problem at once.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env, cwd = process.cwd()): Readonly<Config> {
  let file: Record<string, unknown> = {};
  const path = `${cwd}/orderflow.config.json`;
  const problems: string[] = [];
  if (existsSync(path)) {
    try {
      file = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      problems.push(`orderflow.config.json: not valid JSON (${(e as Error).message})`);
    }
  }
  const get = (name: string): string | undefined => {
    const v = env[name] ?? (file[name] === undefined ? undefined : String(file[name]));
    return v === '' ? undefined : v;
  };

  const port = Number(get('PORT') ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push(`PORT: "${get('PORT')}" is not a port number (0-65535)`);
  const host = get('HOST') ?? '127.0.0.1';
  const dataDir = get('ORDERFLOW_DATA_DIR') ?? './data';
  const databaseUrl = get('ORDERFLOW_DATABASE_URL') ?? `sqlite:${dataDir}/orderflow.db`;
  if (!/^(sqlite:.+|postgres(ql)?:\/\/.+)$/.test(databaseUrl)) {
    problems.push(`ORDERFLOW_DATABASE_URL: "${databaseUrl}" must be sqlite:<path>, sqlite::memory: or postgres://...`);
  }
  const smtpUrl = get('ORDERFLOW_SMTP_URL') ?? null;
  if (smtpUrl !== null && !/^smtps?:\/\/[^\s]+$/.test(smtpUrl))
    problems.push('ORDERFLOW_SMTP_URL: must look like smtp://user:pass@host:port');
  else if (smtpUrl !== null) problems.push(...smtpPoolProblems(smtpUrl));
  const mailFrom = get('ORDERFLOW_MAIL_FROM') ?? 'Orderflow <orderflow@localhost>';
  const mailFromProblem = senderProblem(mailFrom);
  if (mailFromProblem) problems.push(`ORDERFLOW_MAIL_FROM: "${mailFrom.replace(/[\r\n\0]/g, ' ')}" ${mailFromProblem}`);
  const adminEmails = list(get('ORDERFLOW_ADMIN_EMAILS'));
  for (const a of adminEmails) if (!/^[^\s@]+@[^\s@]+$/.test(a)) problems.push(`ORDERFLOW_ADMIN_EMAILS: "${a}" is not an email address`);
  const webhookSecret = get('ORDERFLOW_WEBHOOK_SECRET') ?? null;
  if (webhookSecret !== null && !/^whsec_[A-Za-z0-9+/=]{16,}$/.test(webhookSecret)) {
    problems.push('ORDERFLOW_WEBHOOK_SECRET: must be whsec_ followed by base64 (at least 16 characters)');
  }
  const webhookAllowHosts = list(get('ORDERFLOW_WEBHOOK_ALLOW_HOSTS'));
  const adminToken = get('ORDERFLOW_ADMIN_TOKEN') ?? null;
  if (adminToken !== null && adminToken.length < 16) problems.push('ORDERFLOW_ADMIN_TOKEN: must be at least 16 characters');
  const retryBase = get('ORDERFLOW_RETRY_BASE') ?? '10s';
  const retryBaseMs = parseDuration(retryBase);
  if (retryBaseMs === undefined || retryBaseMs <= 0)
    problems.push(`ORDERFLOW_RETRY_BASE: "${retryBase}" is not a duration such as 10s or 1m`);
  const attempts = Number(get('ORDERFLOW_RETRY_MAX_ATTEMPTS') ?? 18);
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > 100)
    problems.push('ORDERFLOW_RETRY_MAX_ATTEMPTS: must be an integer from 1 to 100');
  const demoRaw = (get('ORDERFLOW_DEMO') ?? 'true').toLowerCase();
  if (!['true', 'false', '1', '0', 'yes', 'no'].includes(demoRaw)) problems.push('ORDERFLOW_DEMO: must be true or false');
  const logLevel = (get('LOG_LEVEL') ?? 'info') as Config['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL: must be one of ${LOG_LEVELS.join(', ')}`);
  const endpointFailureLimit = Number(get('ORDERFLOW_ENDPOINT_FAILURE_LIMIT') ?? 20);
  if (!Number.isInteger(endpointFailureLimit) || endpointFailureLimit < 1)
    problems.push('ORDERFLOW_ENDPOINT_FAILURE_LIMIT: must be a positive integer');
  const destinationConcurrency = Number(get('ORDERFLOW_DESTINATION_CONCURRENCY') ?? 32);
  if (!Number.isInteger(destinationConcurrency) || destinationConcurrency < 1 || destinationConcurrency > 1000)
    problems.push('ORDERFLOW_DESTINATION_CONCURRENCY: must be an integer from 1 to 1000');
  const bodyLimit = Number(get('ORDERFLOW_BODY_LIMIT') ?? 1_048_576);
  if (!Number.isInteger(bodyLimit) || bodyLimit < 1024) problems.push('ORDERFLOW_BODY_LIMIT: must be an integer of at least 1024 (bytes)');
  const rateLimit = Number(get('ORDERFLOW_RATE_LIMIT') ?? 60000);
  if (!Number.isInteger(rateLimit) || rateLimit < 0)
    problems.push('ORDERFLOW_RATE_LIMIT: must be a non-negative integer (requests per minute; 0 disables)');
  const maxCascadeDepth = Number(get('ORDERFLOW_MAX_CASCADE_DEPTH') ?? 10);
  if (!Number.isInteger(maxCascadeDepth) || maxCascadeDepth < 1 || maxCascadeDepth > 100) {
    problems.push('ORDERFLOW_MAX_CASCADE_DEPTH: must be an integer from 1 to 100');
  }
  const ruleReentryLimit = Number(get('ORDERFLOW_RULE_REENTRY_LIMIT') ?? 20);
  if (!Number.isInteger(ruleReentryLimit) || ruleReentryLimit < 1)
    problems.push('ORDERFLOW_RULE_REENTRY_LIMIT: must be a positive integer');
  const maxCascadeEffects = Number(get('ORDERFLOW_MAX_CASCADE_EFFECTS') ?? 500);
  if (!Number.isInteger(maxCascadeEffects) || maxCascadeEffects < 1 || maxCascadeEffects > 100_000) {
    problems.push('ORDERFLOW_MAX_CASCADE_EFFECTS: must be an integer from 1 to 100000');
  }
  const renderBudget = get('ORDERFLOW_RENDER_BUDGET') ?? '250';
  const renderBudgetMs = /^\d+$/.test(renderBudget) ? Number(renderBudget) : parseDuration(renderBudget);
  if (renderBudgetMs === undefined || !Number.isInteger(renderBudgetMs) || renderBudgetMs < 1 || renderBudgetMs > 60_000) {
    problems.push(
      `ORDERFLOW_RENDER_BUDGET: "${renderBudget}" must be a number of milliseconds from 1 to 60000 (or a duration such as 250ms)`,
    );
  }
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = (get(name) ?? String(fallback)).toLowerCase();
    if (['true', '1', 'yes'].includes(raw)) return true;
    if (['false', '0', 'no'].includes(raw)) return false;
    problems.push(`${name}: must be true or false`);
    return fallback;
  };
  const metricsPublic = bool('ORDERFLOW_METRICS_PUBLIC', false);
  const idempotencyTtl = get('ORDERFLOW_IDEMPOTENCY_TTL') ?? '24h';
  const idempotencyTtlMs = parseDuration(idempotencyTtl);
  if (idempotencyTtlMs === undefined || idempotencyTtlMs < 60_000)
    problems.push(`ORDERFLOW_IDEMPOTENCY_TTL: "${idempotencyTtl}" is not a duration of at least 1m (such as 24h)`);
  const authFailureLimit = Number(get('ORDERFLOW_AUTH_FAILURE_LIMIT') ?? 20);
  if (!Number.isInteger(authFailureLimit) || authFailureLimit < 0)
    problems.push('ORDERFLOW_AUTH_FAILURE_LIMIT: must be a non-negative integer (failures per minute per address; 0 disables)');
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    port,
    host,
    databaseUrl,
    smtpUrl,
    mailFrom,
    adminEmails,
    webhookSecret,
    webhookAllowHosts,
    adminToken,
    retryBaseMs: retryBaseMs as number,
    retryMaxAttempts: attempts,
    demo: ['true', '1', 'yes'].includes(demoRaw),
    logLevel,
    dataDir,
    endpointFailureLimit,
    destinationConcurrency,
    bodyLimit,
    rateLimit,
    maxCascadeDepth,
    ruleReentryLimit,
    maxCascadeEffects,
    renderBudgetMs: renderBudgetMs as number,
    metricsPublic,
    idempotencyTtlMs: idempotencyTtlMs as number,
    authFailureLimit,
  });
}
