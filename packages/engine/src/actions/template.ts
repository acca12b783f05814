import { type Definition, type EventEnvelope, findState } from '@orderflow/core';
import { type FS, Liquid, type LiquidOptions, type Template } from 'liquidjs';

/** Limits of the template renderer; every one bounds what a template author can make the server do. */
export interface TemplateRendererOptions {
  /**
   * Wall-clock budget of one render call, in ms.
   * @default 500
   */
  renderLimitMs?: number;
  /**
   * Longest template source accepted, in characters.
   * @default 200_000
   */
  parseLimit?: number;
  /**
   * LiquidJS allocation budget of one render (range sizes, joined strings, arrays built by filters).
   * @default 10_000_000
   */
  memoryLimit?: number;
  /**
   * Longest output accepted, in characters.
   * @default 1_000_000
   */
  maxOutputLength?: number;
  /**
   * Parsed templates kept per escaping mode.
   * @default 256
   */
  cacheSize?: number;
}

/** A template could not be parsed or rendered; retrying the same delivery would fail the same way. */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

/** An email template as stored (SPEC §3). */
export interface EmailTemplateSource {
  subject: string;
  html: string;
  text?: string;
}

/** A rendered email. */
export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
}

/** Renders Liquid without any access to code, files or prototypes. */
export interface TemplateRenderer {
  /**
   * Renders `source` against `vars`. With `escape: true` every output is HTML-escaped (use it
   * for HTML bodies); otherwise output is raw (subjects, text bodies, webhook bodies).
   * @throws TemplateError when the template is invalid or exceeds a limit.
   */
  render(source: string, vars: Record<string, unknown>, opts?: { escape?: boolean; renderLimitMs?: number }): string;
  /**
   * Renders a JSON value whose string leaves are Liquid templates (webhook bodies). A leaf that
   * is exactly `{{ expr }}` keeps the JSON type of what the expression yields; the result is
   * always plain JSON data.
   * @throws TemplateError
   */
  renderJson(value: unknown, vars: Record<string, unknown>): unknown;
  /**
   * Renders the three parts of an email. The subject is trimmed; when the template has no
   * text part, it is derived from the HTML.
   * @throws TemplateError
   */
  renderEmail(template: EmailTemplateSource, vars: Record<string, unknown>): RenderedEmail;
}

const REFUSING_FS: FS = {
  exists: async () => false,
  existsSync: () => false,
  readFile: async (file: string) => {
    throw new TemplateError(`templates cannot read files (${file})`);
  },
  readFileSync: (file: string) => {
    throw new TemplateError(`templates cannot read files (${file})`);
  },
  resolve: (_dir: string, file: string) => file,
  contains: async () => false,
  containsSync: () => false,
  sep: '/',
  dirname: () => '',
  fallback: () => undefined,
};

/** Tags that load other templates: refused when the template is parsed. */
const FILE_TAGS = ['include', 'render', 'layout'] as const;

/** Limits a Liquid engine is created with. */
interface EngineLimits {
  parseLimit: number;
  renderLimit: number;
  memoryLimit: number;
}

const limitsOf = (options: TemplateRendererOptions): EngineLimits => ({
  parseLimit: options.parseLimit ?? 200_000,
  renderLimit: options.renderLimitMs ?? 500,
  memoryLimit: options.memoryLimit ?? 10_000_000,
});

/** A Liquid engine for untrusted templates: no files, no other templates, no prototypes, strict filters. */
function untrustedLiquid({ parseLimit, renderLimit, memoryLimit }: EngineLimits, escapeOutput: boolean): Liquid {
  const base: LiquidOptions = {
    fs: REFUSING_FS,
    root: [],
    partials: [],
    layouts: [],
    relativeReference: false,
    dynamicPartials: false,
    cache: false,
    ownPropertyOnly: true,
    // Unknown variables render empty (data is free-form); unknown filters are a typo in the
    // template and fail at parse time instead of silently vanishing.
    strictVariables: false,
    strictFilters: true,
    jsTruthy: false,
    timezoneOffset: 0,
    parseLimit,
    renderLimit,
    memoryLimit,
  };
  const engine = new Liquid(escapeOutput ? { ...base, outputEscape: 'escape' } : base);
  for (const tag of FILE_TAGS) {
    engine.registerTag(tag, {
      parse() {
        throw new TemplateError(`{% ${tag} %} is not available: templates cannot load other templates or files`);
      },
      render: () => '',
    });
  }
  return engine;
}

/** Parses `source` within the parse-size limit. @throws TemplateError */
function parseSource(engine: Liquid, source: string, parseLimit: number): Template[] {
  if (source.length > parseLimit) throw new TemplateError(`template is longer than ${parseLimit} characters`);
  try {
    return engine.parse(source);
  } catch (err) {
    throw asTemplateError(err);
  }
}

/** Characters of template source a checker keeps answers for (validation sees the same rules again and again). */
const CHECK_CACHE_CHARS = 1_000_000;

/**
 * Checks Liquid sources the way the renderer parses them (same tags, filters and parse-size
 * limit), rendering nothing: the answer is why a source does not parse, or undefined. For
 * validation, which has no data to render with; pass the renderer's options. Answers for
 * recently checked sources are kept, up to {@link CHECK_CACHE_CHARS} characters of source.
 */
export function createTemplateChecker(options: TemplateRendererOptions = {}): (source: string) => string | undefined {
  const limits = limitsOf(options);
  const engine = untrustedLiquid(limits, false);
  const answers = new Map<string, string | undefined>();
  let cached = 0;
  return (source) => {
    if (answers.has(source)) return answers.get(source);
    let answer: string | undefined;
    try {
      parseSource(engine, source, limits.parseLimit);
    } catch (err) {
      answer = asTemplateError(err).message;
    }
    if (source.length <= CHECK_CACHE_CHARS / 100) {
      for (const [oldest] of answers) {
        if (cached + source.length <= CHECK_CACHE_CHARS) break;
        answers.delete(oldest);
        cached -= oldest.length;
      }
      answers.set(source, answer);
      cached += source.length;
    }
    return answer;
  };
}

/** Creates a Liquid renderer configured for untrusted templates and data. */
export function createTemplateRenderer(options: TemplateRendererOptions = {}): TemplateRenderer {
  const limits = limitsOf(options);
  const { parseLimit, renderLimit } = limits;
  const maxOutput = options.maxOutputLength ?? 1_000_000;
  const cacheSize = options.cacheSize ?? 256;

  const html = untrustedLiquid(limits, true);
  const raw = untrustedLiquid(limits, false);
  const caches = new Map<Liquid, Map<string, Template[]>>([
    [html, new Map()],
    [raw, new Map()],
  ]);

  function parse(engine: Liquid, source: string): Template[] {
    const cache = caches.get(engine)!;
    const hit = cache.get(source);
    if (hit) return hit;
    const parsed = parseSource(engine, source, parseLimit);
    if (cache.size >= cacheSize) {
      const oldest = cache.keys().next();
      if (!oldest.done) cache.delete(oldest.value);
    }
    cache.set(source, parsed);
    return parsed;
  }

  function render(source: string, vars: Record<string, unknown>, opts: { escape?: boolean; renderLimitMs?: number } = {}): string {
    if (typeof source !== 'string') throw new TemplateError('template must be a string');
    const engine = opts.escape ? html : raw;
    const templates = parse(engine, source);
    let out: unknown;
    try {
      out =
        opts.renderLimitMs === undefined
          ? engine.renderSync(templates, vars)
          : engine.renderSync(templates, vars, { renderLimit: Math.max(1, Math.min(renderLimit, opts.renderLimitMs)) });
    } catch (err) {
      throw asTemplateError(err);
    }
    const text = typeof out === 'string' ? out : String(out ?? '');
    if (text.length > maxOutput) throw new TemplateError(`rendered output is longer than ${maxOutput} characters`);
    return text;
  }

  function evaluate(expression: string, vars: Record<string, unknown>): unknown {
    if (expression.length > parseLimit) throw new TemplateError(`template is longer than ${parseLimit} characters`);
    let value: unknown;
    try {
      value = raw.evalValueSync(expression, vars);
    } catch (err) {
      throw asTemplateError(err);
    }
    if (value === undefined) return null;
    const text = JSON.stringify(value);
    if (text === undefined) return null;
    if (text.length > maxOutput) throw new TemplateError(`rendered output is longer than ${maxOutput} characters`);
    return JSON.parse(text);
  }

  function renderJson(value: unknown, vars: Record<string, unknown>): unknown {
    if (typeof value === 'string') {
      const single = SINGLE_OUTPUT.exec(value);
      if (single) return evaluate(single[1] as string, vars);
      return value.includes('{{') || value.includes('{%') ? render(value, vars) : value;
    }
    if (Array.isArray(value)) return value.map((v) => renderJson(v, vars));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        if (k === '__proto__') continue;
        out[k] = renderJson(v, vars);
      }
      return out;
    }
    return value;
  }

  return {
    render,
    renderJson,
    renderEmail(template, vars) {
      const subject = headerValue(render(template.subject, vars)).trim();
      const htmlBody = render(template.html, vars, { escape: true });
      const text = template.text !== undefined ? render(template.text, vars) : htmlToText(htmlBody);
      return { subject, html: htmlBody, text };
    },
  };
}

/**
 * A `renderString` for one change: every render gets at most what is left of `budgetMs`, the
 * total render time the change may spend. A template past its own limit or the budget throws
 * a TemplateError naming the reason; the caller fails the action with it.
 */
export function budgetedRender(renderer: TemplateRenderer, budgetMs: number): (source: string, scope: Record<string, unknown>) => string {
  let spent = 0;
  return (source, scope) => {
    const left = budgetMs - spent;
    if (left <= 0) throw new TemplateError(`the render budget of ${budgetMs} ms for this change is used up`);
    const started = performance.now();
    try {
      return renderer.render(source, scope, { renderLimitMs: left });
    } catch (err) {
      if (spent + (performance.now() - started) >= budgetMs) {
        throw new TemplateError(`the render budget of ${budgetMs} ms for this change is used up (${errorText(err)})`);
      }
      throw err;
    } finally {
      spent += performance.now() - started;
    }
  };
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** A webhook body as a JSON value: a string holding a JSON object or array is read as that value. */
export function jsonBodyValue(body: unknown): unknown {
  if (typeof body === 'string' && /^\s*[[{]/.test(body)) {
    try {
      return JSON.parse(body);
    } catch {
      return body;
    }
  }
  return body;
}

/** A string that is exactly one output tag: `{{ expr }}`, with no text around it. */
const SINGLE_OUTPUT = /^\{\{-?\s*((?:(?!\}\})[\s\S])+?)\s*-?\}\}$/;

/** A rendered header value on one line: CR, LF and NUL become spaces (order data must not drop the message). */
export function headerValue(value: string): string {
  return value.replace(/[\r\n\0]+/g, ' ');
}

function asTemplateError(err: unknown): TemplateError {
  if (err instanceof TemplateError) return err;
  const message = err instanceof Error ? err.message : String(err);
  // LiquidJS wraps errors thrown by a tag's parse(); keep the original text first.
  const cause = err instanceof Error && 'originalError' in err ? (err as { originalError?: unknown }).originalError : undefined;
  const first = cause instanceof TemplateError ? cause.message : message;
  return new TemplateError(first === message ? message : `${first} (${message})`, { cause: err });
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'", nbsp: ' ' };

/** A plain-text fallback for an HTML body: tags dropped, block ends as line breaks, entities decoded. */
export function htmlToText(html: string): string {
  return html
    .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, '')
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<\/(p|div|li|h[1-6]|tr|table|ul|ol)\s*>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&(amp|lt|gt|quot|#39|#x27|nbsp);/g, (_m, e: string) => ENTITIES[e] ?? '')
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** A state as templates see it (SPEC §3). */
export interface TemplateState {
  key: string;
  name: string;
  publicName: string;
  group: string | null;
}

/**
 * The variables of SPEC §3 for one event: `order`, `old_state`, `new_state`, `event`,
 * `workflow`, `now`. States are looked up in the workflow definition when given. The result
 * is plain JSON data (copied), so templates cannot reach anything but data.
 */
export function templateVars(
  envelope: EventEnvelope,
  definition?: Definition,
  opts: { now?: Date | string } = {},
): Record<string, unknown> {
  const order = envelope.data.order;
  const describe = (key: string | undefined): TemplateState | null => {
    if (key === undefined) return null;
    const state = definition ? findState(definition, key) : undefined;
    const group = state?.group ?? (key === order.state ? order.group : null);
    const name = state?.name ?? key;
    return { key, name, publicName: state?.publicName ?? name, group };
  };
  const now = opts.now === undefined ? new Date().toISOString() : typeof opts.now === 'string' ? opts.now : opts.now.toISOString();
  const vars = {
    order,
    old_state: describe(envelope.data.from),
    new_state: describe(envelope.data.to ?? (envelope.data.from === undefined ? order.state : undefined)),
    event: envelope.data.event ?? null,
    workflow: {
      key: order.workflow,
      version: order.workflowVersion,
      name: definition?.name ?? order.workflow,
    },
    now,
  };
  return JSON.parse(JSON.stringify(vars)) as Record<string, unknown>;
}

/** True when a header value would break out of its header line: it contains CR, LF or NUL. */
export function hasHeaderInjection(value: string): boolean {
  return /[\r\n\0]/.test(value);
}
