import { readFileSync } from 'node:fs';
import { type Client, createClient } from '@orderflow/client';
import type { ValidationProblem } from '@orderflow/core';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { deleteToken } from '../store/tokens.js';

/** A mistake in the command line; printed with a pointer to `--help`, exit 64. */
export class UsageError extends Error {}

/** The options every command may read. */
export interface CliValues {
  url?: string | undefined;
  token?: string | undefined;
  role?: string | undefined;
  name?: string | undefined;
  publish?: boolean | undefined;
  draft?: boolean | undefined;
  yes?: boolean | undefined;
  count?: string | undefined;
  to?: string | undefined;
  timers?: string | undefined;
  state?: string | undefined;
  'dry-run'?: boolean | undefined;
  status?: string | undefined;
  force?: boolean | undefined;
  'expires-at'?: string | undefined;
  'no-worker'?: boolean | undefined;
}

/** Prints validation problems, one a line. */
export function printProblems(problems: readonly ValidationProblem[]): void {
  for (const p of problems) console.log(`${p.severity.padEnd(7)} ${p.code.padEnd(24)} ${p.path || '(root)'}  ${p.message}`);
}

/** Reads a JSON file given on the command line. */
export function readJson(file: string | undefined): unknown {
  if (!file) throw new UsageError('missing <file>');
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file}: ${(e as Error).message}`);
  }
}

/** A `fetch` that answers from the app in this process, without a socket. */
function injectFetch(app: FastifyInstance): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const u = new URL(String(input));
    const res = await app.inject({
      method: (init?.method ?? 'GET') as 'GET',
      url: `${u.pathname}${u.search}`,
      headers: (init?.headers ?? {}) as Record<string, string>,
      ...(typeof init?.body === 'string' ? { payload: init.body } : {}),
    });
    const headers = new Headers();
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : String(v));
    const empty = res.statusCode === 204 || res.statusCode === 304;
    return new Response(empty ? null : res.body, { status: res.statusCode, headers });
  }) as typeof fetch;
}

/** The API a command talks to: a remote server, or this process's own database. */
export interface Api {
  client: Client;
  /** `--url`, or `local database` when none was given. */
  where: string;
  close(): Promise<void>;
}

/**
 * With `--url`/`ORDERFLOW_URL`, a client of that server (`--token`/`ORDERFLOW_TOKEN`);
 * without, the same API served in this process on the configured database, so every
 * command behaves the same either way.
 */
export async function openApi(values: CliValues, config: () => Readonly<Config>): Promise<Api> {
  const url = values.url ?? process.env.ORDERFLOW_URL;
  if (url) {
    const token = values.token ?? process.env.ORDERFLOW_TOKEN;
    if (!token) throw new UsageError('--url needs --token (or ORDERFLOW_TOKEN): an API token of the server');
    return { client: createClient({ baseUrl: url, token }), where: url, close: async () => undefined };
  }
  // Silent: the answer goes to stdout (e.g. a pulled definition), logs would mix into it.
  const { createOrderflow } = await import('../server.js');
  const { createToken } = await import('../bootstrap.js');
  const of = await createOrderflow({ ...config(), logLevel: 'silent' }, { startWorker: false });
  // A short-lived admin token for this command only: the local user owns the database file anyway.
  const t = await createToken(of.store, of.newId, 'admin', 'cli (local, removed on exit)', of.clock.now().toISOString());
  return {
    client: createClient({ baseUrl: 'http://local', token: t.token, fetch: injectFetch(of.app) }),
    where: 'local database',
    async close() {
      await deleteToken(of.store.db, t.id);
      await of.close();
    },
  };
}

/** Asks a yes/no question on the terminal; false when nobody can answer. */
export async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}
