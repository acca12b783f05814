import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import fastifyCookie from '@fastify/cookie';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import { ROLE_HIERARCHY, type Role, roleSatisfies } from '@orderflow/core';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { ApiError } from '../errors.js';
import type { Clock } from '../runtime/clock.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Store } from '../store/store.js';
import { redactHeaders } from '../worker/prepare.js';
import { registerDocs } from './openapi.js';
import { registerOrderRoutes } from './routes-orders.js';
import { registerSessionRoutes } from './routes-session.js';
import { registerTemplateRoutes } from './routes-templates.js';
import { registerTokenRoutes } from './routes-tokens.js';
import { registerWorkflowRoutes } from './routes-workflows.js';
import { createFailureLimiter, createTokenAuth } from './tokens.js';

/** Who is calling. */
export interface Principal {
  tokenId: string;
  role: Role;
  via: 'bearer' | 'cookie';
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** Everything the HTTP layer needs; nothing here listens on a port. */
export interface AppDeps {
  store: Store;
  runtime: Runtime;
  config: Readonly<Config>;
  clock: Clock;
  newId: (prefix: string) => string;
  /** Extra route registrations (worker-backed operations routes). */
  plugins?: ((app: FastifyInstance, deps: AppDeps) => void | Promise<void>)[];
  /** Directory of the built web UI. */
  webDir?: string;
  /** Renders an outbox entry for previews (emails, webhook bodies). */
  renderDelivery?: (d: import('@orderflow/core').OutboxEntry) => Promise<unknown>;
  /** The recipient and subject of a stored delivery, for lists. */
  summarizeDelivery?: (d: Pick<import('@orderflow/core').OutboxEntry, 'id' | 'action' | 'envelope'>) => Promise<unknown>;
  /** Checks a template's syntax before it is stored; throws ApiError. */
  validateTemplate?: (t: { subject: string; html: string; text?: string | null }) => void;
  logger?: boolean | Record<string, unknown>;
}

/** The SESSION cookie's name. */
export const SESSION_COOKIE = 'orderflow_session';
/** Header a cookie-authenticated mutation must carry (a cross-site form cannot set it). */
export const CSRF_HEADER = 'x-orderflow-csrf';
/** Deepest JSON nesting a request body may have. */
export const MAX_JSON_DEPTH = 32;

/** SHA-256 of a token, as stored. */
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

/** Depth of a parsed JSON value, computed without recursion. */
export function jsonDepth(value: unknown, limit: number): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (d > max) max = d;
    if (max > limit) return max;
    for (const child of Object.values(v as object)) stack.push([child, d + 1]);
  }
  return max;
}

/** Throws unless the caller holds one of `roles` (admin holds every role). */
export function requireRole(req: FastifyRequest, ...roles: Role[]): Principal {
  const p = req.principal;
  if (!p) throw new ApiError('unauthorized', 'Send Authorization: Bearer <token> (see `orderflow token create`).');
  if (!roleSatisfies(p.role, ...roles)) {
    throw new ApiError('forbidden', `This needs the ${roles.join(' or ')} role; your token has ${p.role}.`);
  }
  return p;
}

/** The roles a principal effectively has (admin implies all). */
export const rolesOf = (p: Principal): Role[] => [...ROLE_HIERARCHY[p.role]];

/** Sends a problem document. */
export function sendProblem(reply: FastifyReply, err: ApiError, instance?: string): FastifyReply {
  if (err.code === 'rate_limited' && !reply.hasHeader('retry-after')) reply.header('retry-after', '1');
  return reply.code(err.status).type('application/problem+json').send(err.toProblem(instance));
}

const ROUTES = new WeakMap<FastifyInstance, { url: string; methods: Set<string> }[]>();

/** Every registered route of an app built by {@link buildApp}: its URL pattern and methods. */
export const registeredRoutes = (app: FastifyInstance): { url: string; methods: string[] }[] =>
  (ROUTES.get(app) ?? []).map((r) => ({ url: r.url, methods: [...r.methods] }));

/** Builds the Fastify app (never listens; tests use `inject()`). */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: deps.config.bodyLimit,
    // Prototype poisoning in bodies is refused rather than silently stripped.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    routerOptions: { maxParamLength: 200 },
    return503OnClosing: true,
    genReqId: () => deps.newId('req'),
    // Errors the router raises before any route runs are problem documents too.
    frameworkErrors: (err, req, reply) => {
      const url = req.url.split('?')[0];
      const e = err as { code?: string; message: string };
      if (e.code === 'FST_ERR_MAX_PARAM_LENGTH') {
        return sendProblem(reply, new ApiError('bad_request', 'A path parameter is longer than 200 characters.', {}, 414), url);
      }
      return sendProblem(reply, new ApiError('bad_request', `The request URL could not be read: ${e.message.slice(0, 200)}`), url);
    },
  });
  await app.register(fastifyCookie);
  app.decorateRequest('principal', null);
  // Only JSON bodies are accepted (and merge patches on the data route); plain text answers 415.
  app.removeContentTypeParser('text/plain');

  // Every route's methods by path pattern, to answer 405 with Allow on a path that exists.
  const routeMethods: { url: string; pattern: RegExp; methods: Set<string> }[] = [];
  ROUTES.set(app, routeMethods);
  app.addHook('onRoute', (route) => {
    const source = `^${route.url
      .split('/')
      .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg === '*' ? '.*' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/')}$`;
    let entry = routeMethods.find((r) => r.pattern.source === source);
    if (!entry) {
      entry = { url: route.url, pattern: new RegExp(source), methods: new Set() };
      routeMethods.push(entry);
    }
    for (const m of Array.isArray(route.method) ? route.method : [route.method]) entry.methods.add(m);
  });

  const tokens = createTokenAuth(deps);
  const failures = createFailureLimiter(deps.config.authFailureLimit);

  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/api/') && req.url !== '/metrics' && !req.url.startsWith('/metrics?')) return;
    const auth = req.headers.authorization;
    const cookie = auth === undefined ? req.cookies[SESSION_COOKIE] : undefined;
    const signIn = req.method === 'POST' && req.url.split('?')[0] === '/api/v1/session';
    if (auth !== undefined || cookie || signIn) {
      // Once an address has failed too often, no credential from it is even looked at.
      const wait = failures.blockedFor(req.ip);
      if (wait > 0) {
        reply.header('retry-after', String(wait));
        throw new ApiError('rate_limited', `Too many failed sign-ins from this address; retry in ${wait} s.`);
      }
    }
    if (auth !== undefined) {
      const m = /^Bearer\s+(\S{1,512})$/i.exec(auth);
      const p = m ? await tokens.authenticate(m[1] as string, 'bearer') : null;
      if (!p) {
        failures.fail(req.ip);
        throw new ApiError('unauthorized', m ? 'Unknown, expired or revoked token.' : 'Authorization must be "Bearer <token>".');
      }
      req.principal = p;
      return;
    }
    if (cookie) {
      const p = await tokens.authenticate(cookie, 'cookie');
      if (!p) {
        failures.fail(req.ip);
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD' && req.headers[CSRF_HEADER] !== '1') {
        throw new ApiError('forbidden', `Requests authenticated by the session cookie must send the header ${CSRF_HEADER}: 1.`);
      }
      req.principal = p;
    }
  });

  app.addHook('preValidation', async (req) => {
    if (
      req.body !== undefined &&
      req.body !== null &&
      typeof req.body === 'object' &&
      jsonDepth(req.body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH
    ) {
      throw new ApiError('bad_request', `JSON nesting deeper than ${MAX_JSON_DEPTH} levels is not accepted.`);
    }
  });

  app.addHook('onSend', async (req, reply, payload) => {
    if (!req.url.startsWith('/api/')) {
      reply.header(
        'content-security-policy',
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
      );
    }
    reply.header('x-content-type-options', 'nosniff');
    // Every answer that carries webhook headers (workflow definitions and drafts, deliveries,
    // rule runs, previews) shows credential-like values redacted, whatever route built it.
    if (req.url.startsWith('/api/') && typeof payload === 'string' && payload.includes('"headers"')) {
      try {
        return JSON.stringify(redactDeep(JSON.parse(payload)));
      } catch {
        return payload;
      }
    }
    return payload;
  });

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof ApiError) return sendProblem(reply, err, req.url.split('?')[0]);
    const e = err as { code?: string; statusCode?: number; message: string };
    const map: Record<string, ApiError> = {
      FST_ERR_CTP_BODY_TOO_LARGE: new ApiError('payload_too_large', `The body exceeds ${deps.config.bodyLimit} bytes.`),
      FST_ERR_CTP_INVALID_MEDIA_TYPE: new ApiError('unsupported_media_type', 'Send JSON with Content-Type: application/json.'),
      FST_ERR_CTP_EMPTY_JSON_BODY: new ApiError('bad_request', 'The JSON body is empty.'),
      FST_ERR_CTP_INVALID_CONTENT_LENGTH: new ApiError('bad_request', 'Content-Length does not match the body.'),
      FST_ERR_CTP_INVALID_JSON_BODY: new ApiError('bad_request', 'The body is not valid JSON.'),
    };
    const mapped = e.code ? map[e.code] : undefined;
    if (mapped) return sendProblem(reply, mapped, req.url.split('?')[0]);
    if (e.statusCode === 413) return sendProblem(reply, map.FST_ERR_CTP_BODY_TOO_LARGE as ApiError);
    if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
      // JSON syntax errors and other client errors raised by Fastify itself.
      const code = e.statusCode === 415 ? 'unsupported_media_type' : e.statusCode === 404 ? 'not_found' : 'bad_request';
      return sendProblem(reply, new ApiError(code, e.message.slice(0, 300), {}, code === 'bad_request' ? 400 : undefined));
    }
    req.log.error({ err }, 'unhandled error');
    return sendProblem(reply, new ApiError('internal_error', 'An internal error occurred; it has been logged.'));
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0] as string;
    const allowed = new Set(routeMethods.filter((r) => r.pattern.test(path)).flatMap((r) => [...r.methods]));
    if (allowed.size > 0 && !allowed.has(req.method)) {
      const allow = [...allowed].sort().join(', ');
      reply.header('allow', allow);
      return sendProblem(reply, new ApiError('method_not_allowed', `${req.method} is not supported on ${path}; use ${allow}.`), path);
    }
    if (req.url.startsWith('/api/') || !deps.webDir || req.method !== 'GET') {
      return sendProblem(reply, new ApiError('not_found', `No route ${req.method} ${req.url.split('?')[0]}.`));
    }
    // Client-side routes of the single-page UI.
    return reply.type('text/html').sendFile('index.html');
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const ok = await deps.store.ready().catch(() => false);
    if (!ok) return reply.code(503).send({ status: 'unavailable', database: 'unreachable or not migrated' });
    return { status: 'ready' };
  });

  if (deps.config.rateLimit > 0) {
    await app.register(fastifyRateLimit, {
      global: false,
      max: deps.config.rateLimit,
      timeWindow: 60_000,
      keyGenerator: (req) => req.principal?.tokenId ?? req.ip,
      errorResponseBuilder: (_req, ctx) =>
        new ApiError('rate_limited', `More than ${ctx.max} requests per minute; retry in ${Math.ceil(ctx.ttl / 1000)} s.`),
    });
  }

  await registerDocs(app);
  await app.register(
    async (api) => {
      if (deps.config.rateLimit > 0) {
        // After authentication, so the bucket is per token rather than per address.
        api.addHook('preHandler', api.rateLimit());
      }
      registerSessionRoutes(api, deps, { tokens, failures });
      registerTokenRoutes(api, deps, tokens);
      registerWorkflowRoutes(api, deps);
      registerOrderRoutes(api, deps);
      registerTemplateRoutes(api, deps);
      for (const plugin of deps.plugins ?? []) await plugin(api, deps);
    },
    { prefix: '/api/v1' },
  );

  const webDir = deps.webDir ?? resolve(import.meta.dirname, '../../../web/dist');
  if (existsSync(resolve(webDir, 'index.html'))) {
    deps.webDir = webDir;
    await app.register(fastifyStatic, { root: webDir, prefix: '/', wildcard: false, index: ['index.html'] });
  } else {
    deps.webDir = undefined;
    app.get('/', async (_req, reply) =>
      reply
        .type('text/html')
        .send(
          '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Orderflow</title></head><body><h1>Orderflow</h1><p>The API is at <code>/api/v1</code>. Its documentation is at <a href="/docs">/docs</a>.</p><p>The web UI is not built; run <code>npm run build</code>.</p></body></html>',
        ),
    );
  }
  return app;
}

/** Replaces credential-like values in every `headers` object of a JSON answer. */
export function redactDeep(value: unknown): unknown {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      for (const item of v) stack.push(item);
      continue;
    }
    const o = v as Record<string, unknown>;
    for (const [k, child] of Object.entries(o)) {
      if (k === 'headers' && child !== null && typeof child === 'object' && !Array.isArray(child)) {
        const h = child as Record<string, unknown>;
        const strings = Object.fromEntries(Object.entries(h).filter((e): e is [string, string] => typeof e[1] === 'string'));
        o[k] = { ...h, ...redactHeaders(strings) };
      } else {
        stack.push(child);
      }
    }
  }
  return value;
}
