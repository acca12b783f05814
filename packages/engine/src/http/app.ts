import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import fastifyCookie from '@fastify/cookie';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';
import { redactHeaders } from '../worker/prepare.js';
import { authenticateRequests, createFailureLimiter, createTokenAuth } from './auth.js';
import type { AppDeps } from './deps.js';
import { registerDocs } from './openapi.js';
import { clientErrorHandler, frameworkProblem, sendProblem, setProblemErrorHandler } from './problem.js';
import { registerOrderRoutes } from './routes-orders.js';
import { registerSessionRoutes } from './routes-session.js';
import { registerTemplateRoutes } from './routes-templates.js';
import { registerTokenRoutes } from './routes-tokens.js';
import { registerWorkflowRoutes } from './routes-workflows.js';

// The app's public face for the server, the CLI and tests; routes import these from their own modules.
export { hashToken, requireRole } from './auth.js';
export type { AppDeps } from './deps.js';

/** Deepest JSON nesting a request body may have. */
export const MAX_JSON_DEPTH = 32;

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

/**
 * The path of the first number in a parsed body that is not finite (`1e400` parses as Infinity,
 * which JSON cannot hold: it would be stored as null), or null when there is none.
 */
export function nonFinitePath(value: unknown): string | null {
  const stack: [unknown, string][] = [[value, '']];
  while (stack.length > 0) {
    const [v, path] = stack.pop() as [unknown, string];
    if (typeof v === 'number' && !Number.isFinite(v)) return path || '(the body)';
    if (v === null || typeof v !== 'object') continue;
    for (const [k, child] of Object.entries(v as object)) stack.push([child, path ? `${path}.${k}` : k]);
  }
  return null;
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
    frameworkErrors: (err, req, reply) => sendProblem(reply, frameworkProblem(err), req.url.split('?')[0]),
    // So are the ones Node's HTTP parser raises before Fastify sees a request (bad request line, 431).
    clientErrorHandler,
  });
  await app.register(fastifyCookie);
  app.decorateRequest('principal', null);
  // Only JSON bodies are accepted (and merge patches on the data route); plain text answers 415.
  app.removeContentTypeParser('text/plain');
  // JSON through Fastify's own parser (prototype poisoning refused), with two differences: an
  // empty body is no body (clients send Content-Type: application/json on every request, DELETE
  // included), and a refused `__proto__` or `constructor.prototype` key says so.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (typeof body === 'string' && body.trim() === '') return done(null, undefined);
    parseJson(req, body as string, (err, value) => {
      if (err && /"(__proto__|prototype)"\s*:/.test(body as string)) {
        return done(
          new ApiError('bad_request', 'The body has a "__proto__" or "constructor.prototype" key, which is refused; rename it.'),
          undefined,
        );
      }
      done(err, value);
    });
  });

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

  authenticateRequests(app, tokens, failures);

  app.addHook('preValidation', async (req) => {
    if (
      req.body !== undefined &&
      req.body !== null &&
      typeof req.body === 'object' &&
      jsonDepth(req.body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH
    ) {
      throw new ApiError('bad_request', `JSON nesting deeper than ${MAX_JSON_DEPTH} levels is not accepted.`);
    }
    const infinite = req.body !== undefined && req.body !== null ? nonFinitePath(req.body) : null;
    if (infinite !== null) {
      throw new ApiError(
        'bad_request',
        `The number at ${infinite} is too large for JSON (it is not finite); send a smaller one, or a string.`,
      );
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

  setProblemErrorHandler(app, deps.config.bodyLimit);

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
    if (!ok)
      return reply
        .code(503)
        .send({ status: 'unavailable', database: 'unreachable, not migrated, or stopped after a failed write to disk (see the log)' });
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
