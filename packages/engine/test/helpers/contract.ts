import { appendFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { openApiDocument } from '../../src/http/openapi.js';

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => void;

type Json = Record<string, unknown>;
interface Operation {
  method: string;
  path: string;
  pattern: RegExp;
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}

const DOC_ID = 'https://orderflow.invalid/openapi.json';
const escapePointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

/** Checks HTTP answers against the served OpenAPI document: status, content type and body schema. */
export class ContractChecker {
  readonly operations: Operation[] = [];
  private readonly ajv: Ajv2020;
  private readonly validators = new Map<string, ValidateFunction>();
  checked = 0;

  constructor(readonly document: Json = openApiDocument()) {
    this.ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
    addFormats(this.ajv);
    this.ajv.addSchema({ ...document, $id: DOC_ID });
    for (const [path, item] of Object.entries(document.paths as Record<string, Record<string, Json>>)) {
      const pattern = new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+')}$`);
      for (const [method, op] of Object.entries(item)) {
        this.operations.push({ method: method.toUpperCase(), path, pattern, responses: op.responses as Operation['responses'] });
      }
    }
  }

  private validator(pointer: string): ValidateFunction {
    let v = this.validators.get(pointer);
    if (!v) {
      v = this.ajv.compile({ $ref: `${DOC_ID}#${pointer}` });
      this.validators.set(pointer, v);
    }
    return v;
  }

  /** Returns what is wrong with an answer (an empty list when it matches the document). */
  check(method: string, url: string, res: LightMyRequestResponse): string[] {
    const path = url.split('?')[0] as string;
    const m = method.toUpperCase();
    const candidates = this.operations.filter((o) => o.pattern.test(path));
    const op = candidates.find((o) => o.method === m || (m === 'HEAD' && o.method === 'GET'));
    const status = String(res.statusCode);
    const type =
      String(res.headers['content-type'] ?? '')
        .split(';')[0]
        ?.trim() ?? '';
    if (!op) {
      // A path the document does not describe (the web UI, /docs); its problem documents still count.
      if (res.statusCode >= 400 && candidates.length === 0)
        return type === 'application/problem+json' || !path.startsWith('/api/')
          ? []
          : [`${m} ${path} → ${status} is not a problem document`];
      if (candidates.length > 0 && res.statusCode !== 405)
        return [`${m} ${path} → ${status}: the path exists, so another method must answer 405`];
      if (candidates.length > 0) {
        const allow = String(res.headers.allow ?? '');
        const expected = candidates.map((c) => c.method).sort();
        const got = allow
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s && s !== 'HEAD' && s !== 'OPTIONS')
          .sort();
        if (JSON.stringify(got) !== JSON.stringify(expected))
          return [`${m} ${path} → 405 with Allow "${allow}", the document has ${expected.join(', ')}`];
      }
      return [];
    }
    this.checked++;
    const where = `${m} ${path} (${op.method.toLowerCase()} ${op.path}) → ${status}`;
    const response = op.responses[status];
    if (!response) return [`${where}: status ${status} is not documented (documented: ${Object.keys(op.responses).join(', ')})`];
    if (!response.content) {
      return res.body.length === 0 ? [] : [`${where}: the document says no body, the answer has ${res.body.length} bytes`];
    }
    if (m === 'HEAD') return [];
    const media = response.content[type];
    if (!media) return [`${where}: content type "${type}" is not documented (documented: ${Object.keys(response.content).join(', ')})`];
    if (type !== 'application/json' && type !== 'application/problem+json') return [];
    let body: unknown;
    try {
      body = JSON.parse(res.body);
    } catch {
      return [`${where}: the body is not JSON`];
    }
    const pointer = `/paths/${escapePointer(op.path)}/${op.method.toLowerCase()}/responses/${status}/content/${escapePointer(type)}/schema`;
    const validate = this.validator(pointer);
    if (validate(body)) return [];
    return [
      `${where}: the body does not match the document: ${(validate.errors ?? [])
        .slice(0, 5)
        .map((e) => `${e.instancePath || '/'} ${e.message}`)
        .join('; ')}`,
    ];
  }
}

let shared: ContractChecker | undefined;
/** One checker per test file. */
export const contract = (): ContractChecker => {
  shared ??= new ContractChecker();
  return shared;
};

/**
 * Wraps `app.inject` so every answer the test suite sees is checked against the OpenAPI
 * document; a mismatch fails the request (and so the test) with what differs.
 */
export function checkInjectedAnswers(app: { inject: (opts: InjectOptions) => Promise<LightMyRequestResponse> }): void {
  const inject = app.inject.bind(app);
  const checker = contract();
  app.inject = (async (opts: InjectOptions | string) => {
    const res = await inject(opts as InjectOptions);
    const o: InjectOptions = typeof opts === 'string' ? { url: opts } : opts;
    const url = typeof o.url === 'string' ? o.url : String((o.url as { pathname?: string } | undefined)?.pathname ?? o.path ?? '/');
    const problems = checker.check(String(o.method ?? 'GET'), url, res);
    if (process.env.ORDERFLOW_CONTRACT_LOG)
      appendFileSync(
        process.env.ORDERFLOW_CONTRACT_LOG,
        `${problems.length === 0 ? 'ok' : 'FAIL'} ${o.method ?? 'GET'} ${url.split('?')[0]} ${res.statusCode}\n`,
      );
    if (problems.length > 0) throw new Error(`Contract: ${problems.join('\n')}`);
    return res;
  }) as typeof app.inject;
}
