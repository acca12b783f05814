import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registeredRoutes } from '../../src/http/app.js';
import { ContractChecker } from '../helpers/contract.js';
import { createTestOrderflow, json, type TestOrderflow } from '../helpers/orderflow.js';

const run = promisify(execFile);
const REDOCLY = resolve(import.meta.dirname, '../../../../node_modules/@redocly/cli/bin/cli.js');

let t: TestOrderflow;
// biome-ignore lint/suspicious/noExplicitAny: the document is read loosely
let doc: any;
let dir: string;
beforeAll(async () => {
  t = await createTestOrderflow();
  const res = await t.request('anonymous', { method: 'GET', url: '/docs/openapi.json' });
  expect(res.statusCode).toBe(200);
  doc = json(res);
  dir = mkdtempSync(join(tmpdir(), 'orderflow-openapi-'));
});
afterAll(async () => {
  await t?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Every `$ref` in a JSON value. */
function refs(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) refs(v, out);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

const pointer = (d: unknown, ref: string): unknown =>
  ref
    .slice(2)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((node, key) => (node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined), d);

describe('the served OpenAPI document', () => {
  it('is OpenAPI 3.1 and every $ref resolves inside it', () => {
    expect(doc.openapi).toBe('3.1.0');
    const all = refs(doc);
    expect(all.length).toBeGreaterThan(100);
    const dangling = [...new Set(all)].filter((r) => !r.startsWith('#/') || pointer(doc, r) === undefined);
    expect(dangling).toEqual([]);
    expect(JSON.stringify(doc)).not.toMatch(/\$defs|__schema/);
  });

  it('documents every route the server registers, and registers every route it documents', () => {
    const served = new Set<string>();
    for (const r of registeredRoutes(t.of.app)) {
      // The web UI's files and the browsable documentation page are not API operations.
      if (!(r.url.startsWith('/api/') || ['/healthz', '/readyz', '/metrics', '/docs/openapi.json'].includes(r.url))) continue;
      for (const m of r.methods) if (m !== 'HEAD') served.add(`${m.toLowerCase()} ${r.url.replace(/:(\w+)/g, '{$1}')}`);
    }
    const documented = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, unknown>>))
      for (const method of Object.keys(item)) documented.add(`${method} ${path}`);
    expect([...served].filter((r) => !documented.has(r)).sort(), 'registered but not documented').toEqual([]);
    expect([...documented].filter((r) => !served.has(r)).sort(), 'documented but not registered').toEqual([]);
  });

  it('gives every operation an operationId, its statuses, and parameters for its headers and query', () => {
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, Record<string, unknown>>>)) {
      for (const [method, op] of Object.entries(item)) {
        expect(typeof op.operationId, `${method} ${path}`).toBe('string');
        expect(ids.has(op.operationId as string), `duplicate ${op.operationId}`).toBe(false);
        ids.add(op.operationId as string);
        expect(
          Object.keys(op.responses as object).some((s) => s.startsWith('2')),
          `${method} ${path} has no 2xx`,
        ).toBe(true);
      }
    }
    const create = doc.paths['/api/v1/orders'].post;
    expect(Object.keys(create.responses)).toEqual(expect.arrayContaining(['201', '401', '403', '409', '413', '415', '422', '429']));
    expect(create.responses['201'].headers.Location).toBeDefined();
    expect(create.parameters.map((p: { name: string }) => p.name)).toContain('Idempotency-Key');
    const move = doc.paths['/api/v1/orders/{id}/transitions'].post;
    expect(move.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['id', 'Idempotency-Key', 'If-Match']));
    expect(Object.keys(move.responses)).toEqual(expect.arrayContaining(['200', '409', '412', '422']));
    const get = doc.paths['/api/v1/orders/{id}'].get;
    expect(Object.keys(get.responses)).toEqual(expect.arrayContaining(['200', '304', '404']));
    expect(get.responses['200'].headers.ETag).toBeDefined();
    expect(doc.paths['/api/v1/templates/{key}'].delete.responses['204'].content).toBeUndefined();
    expect(Object.keys(doc.paths['/api/v1/notifications/stream'].get.responses['200'].content)).toEqual(['text/event-stream']);
    const list = doc.paths['/api/v1/orders'].get.parameters.map((p: { name: string }) => p.name);
    expect(list).toEqual(expect.arrayContaining(['workflow', 'state', 'group', 'q', 'createdAfter', 'limit', 'cursor']));
    // Request bodies are as strict as the server: unknown fields are refused.
    expect(doc.components.schemas.TransitionBody.additionalProperties).toBe(false);
    expect(doc.components.schemas.Definition.additionalProperties).toBe(false);
  });

  it('documents the webhook Orderflow sends: the event envelope and the Standard Webhooks headers', () => {
    const op = doc.webhooks.orderEvent.post;
    expect(op.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/EventEnvelope' });
    expect(op.parameters.map((p: { name: string }) => p.name)).toEqual(['webhook-id', 'webhook-timestamp', 'webhook-signature']);
    expect(doc.components.schemas.EventEnvelope.properties.data.properties.order).toBeDefined();
  });

  it('passes Redocly lint (recommended rules) with no error', async () => {
    const file = join(dir, 'openapi.json');
    writeFileSync(file, JSON.stringify(doc));
    const out = await run(process.execPath, [REDOCLY, 'lint', file, '--format=json'], { cwd: dir, maxBuffer: 32 * 1024 * 1024 }).catch(
      (e: { stdout: string; stderr: string; code: number }) => e,
    );
    const report = JSON.parse(out.stdout) as {
      totals: { errors: number; warnings: number };
      problems: { ruleId: string; severity: string; message: string }[];
    };
    console.log(`Redocly lint: ${report.totals.errors} errors, ${report.totals.warnings} warnings`);
    for (const p of report.problems) console.log(`  ${p.severity} ${p.ruleId}: ${p.message}`);
    expect(report.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(report.totals.errors).toBe(0);
  }, 120_000);

  it('the contract checker refuses an answer the document lacks (it can fail)', async () => {
    const checker = new ContractChecker(doc);
    const res = await t.request('admin', { method: 'GET', url: '/api/v1/orders?limit=1' });
    expect(checker.check('GET', '/api/v1/orders?limit=1', res)).toEqual([]);
    // The same answer under a document that lacks the 200 of this route.
    const without = structuredClone(doc);
    delete without.paths['/api/v1/orders'].get.responses['200'];
    expect(new ContractChecker(without).check('GET', '/api/v1/orders', res)[0]).toMatch(/status 200 is not documented/);
    // A shape that differs from the schema.
    const wrong = { ...res, body: JSON.stringify({ items: [{ id: 1 }], nextCursor: null }) } as typeof res;
    expect(checker.check('GET', '/api/v1/orders', wrong)[0]).toMatch(/does not match the document/);
  });
});
