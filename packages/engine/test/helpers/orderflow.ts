import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Role } from '@orderflow/core';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { createToken } from '../../src/bootstrap.js';
import { loadConfig } from '../../src/config.js';
import { hashToken } from '../../src/http/app.js';
import type { Clock } from '../../src/runtime/clock.js';
import { type CreateOptions, createOrderflow, type Orderflow } from '../../src/server.js';
import type { Store } from '../../src/store/store.js';
import { type Dialect, dropDatabaseAt, freshStore, openStoreAt } from '../dialects.js';
import { checkInjectedAnswers } from './contract.js';

/** The fixed bootstrap admin token of every test instance. */
export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
/** The fixed webhook secret of every test instance (it must never appear in a response). */
export const WEBHOOK_SECRET = 'whsec_dGVzdC13ZWJob29rLXNlY3JldC0wMTIzNDU2Nzg5';
/** Every role, weakest first. */
export const ROLES: readonly Role[] = ['viewer', 'operator', 'designer', 'admin'];

/** An Orderflow on its own database (a temp SQLite file or a PostgreSQL schema), with one token per role. */
export interface TestOrderflow {
  of: Orderflow;
  dialect: Dialect;
  /** The data directory (on SQLite it holds the database file). */
  dir: string;
  /** The SQLite file (unused on PostgreSQL). */
  file: string;
  /** ORDERFLOW_DATABASE_URL of this instance (PostgreSQL: its own schema on the search_path). */
  url: string;
  /** The bearer token of each role (admin is ADMIN_TOKEN). */
  tokens: Record<Role, string>;
  /** Every secret an answer must never contain: tokens, their stored hashes, the webhook secret. */
  secrets: string[];
  /** `app.inject()` as `role` (`anonymous`: no Authorization header); JSON-encodes `body` unless `payload` is given. */
  request(role: Role | 'anonymous', opts: Omit<InjectOptions, 'body'> & { body?: unknown }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
  /** Removes the directory and the PostgreSQL schema (after `close()` of an instance made with `keepDir`). */
  remove(): Promise<void>;
}

/** Options of a test instance. */
export interface TestOptions {
  /** The database: a temp SQLite file, or a fresh PostgreSQL schema. @default 'sqlite' */
  dialect?: Dialect;
  /** Seed the demo workflows and templates. @default true */
  demo?: boolean;
  clock?: Clock;
  env?: Record<string, string>;
  /** Reuse this directory (and its `orderflow.db`) instead of a new one, e.g. to restart on the same file. */
  dir?: string;
  /** PostgreSQL: reuse this database (the `url` of an earlier instance made with `keepDir`) instead of a new schema. */
  url?: string;
  /** Keep the directory and the PostgreSQL schema on close (the caller removes them, e.g. with `remove()`). @default false */
  keepDir?: boolean;
  create?: CreateOptions;
}

/** Creates a test instance on a fresh temp SQLite file or PostgreSQL schema (`opts.dialect`). */
export async function createTestOrderflow(opts: TestOptions = {}): Promise<TestOrderflow> {
  const dialect = opts.dialect ?? 'sqlite';
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'orderflow-test-'));
  const file = join(dir, 'orderflow.db');
  let url = `sqlite:${file}`;
  let store: Store | undefined;
  if (dialect === 'postgres') {
    if (opts.url) {
      url = opts.url;
      store = openStoreAt(url);
    } else {
      ({ store, url } = await freshStore('postgres'));
    }
  }
  const remove = async () => {
    rmSync(dir, { recursive: true, force: true });
    await dropDatabaseAt(url);
  };
  const config = loadConfig(
    {
      ORDERFLOW_DATABASE_URL: url,
      ORDERFLOW_DATA_DIR: dir,
      ORDERFLOW_ADMIN_TOKEN: ADMIN_TOKEN,
      ORDERFLOW_WEBHOOK_SECRET: WEBHOOK_SECRET,
      ORDERFLOW_DEMO: String(opts.demo ?? true),
      LOG_LEVEL: 'silent',
      ...opts.env,
    },
    dir,
  );
  let of: Orderflow;
  try {
    of = await createOrderflow(config, { ...opts.create, ...(store ? { store } : {}), ...(opts.clock ? { clock: opts.clock } : {}) });
  } catch (e) {
    await store?.close().catch(() => undefined);
    if (!opts.keepDir) await remove();
    throw e;
  }
  // Every answer a test sees must match the OpenAPI document.
  checkInjectedAnswers(of.app);
  const now = of.clock.now().toISOString();
  const tokens = { admin: ADMIN_TOKEN } as Record<Role, string>;
  for (const role of ['viewer', 'operator', 'designer'] as const)
    tokens[role] = (await createToken(of.store, of.newId, role, `test ${role}`, now)).token;
  const secrets = [
    ...Object.values(tokens),
    ...Object.values(tokens).map(hashToken),
    WEBHOOK_SECRET,
    WEBHOOK_SECRET.slice('whsec_'.length),
  ];
  return {
    of,
    dialect,
    dir,
    file,
    url,
    tokens,
    secrets,
    request(role, { body, ...inject }) {
      const headers: Record<string, string> = { ...(inject.headers as Record<string, string> | undefined) };
      if (role !== 'anonymous' && headers.authorization === undefined) headers.authorization = `Bearer ${tokens[role]}`;
      if (body !== undefined && inject.payload === undefined) {
        inject.payload = JSON.stringify(body);
        headers['content-type'] ??= 'application/json';
      }
      return of.app.inject({ ...inject, headers });
    },
    async close() {
      await of.close();
      if (!opts.keepDir) await remove();
    },
    remove,
  };
}

/** The parsed JSON body of a response. */
// biome-ignore lint/suspicious/noExplicitAny: test bodies are read loosely
export const json = (res: LightMyRequestResponse): any => JSON.parse(res.body);

/** Asserts a problem document (RFC 9457) with this status and `code`, and returns it. */
// biome-ignore lint/suspicious/noExplicitAny: test bodies are read loosely
export function expectProblem(res: LightMyRequestResponse, status: number, code: string): any {
  expect({ status: res.statusCode, body: res.body.slice(0, 500) }).toMatchObject({ status });
  expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
  const problem = json(res);
  expect(problem).toMatchObject({ code, status });
  expect(typeof problem.title).toBe('string');
  return problem;
}

/** A minimal valid definition; `extra` overrides its fields. */
export function minimalDefinition(key: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    key,
    name: `Workflow ${key}`,
    states: [
      { key: 'received', name: 'Received', group: 'new', initial: true, color: '#64748b' },
      { key: 'working', name: 'Working', group: 'processing', color: '#3b82f6' },
      { key: 'done', name: 'Done', group: 'completed', color: '#16a34a' },
      { key: 'dropped', name: 'Dropped', group: 'cancelled', color: '#9ca3af' },
    ],
    transitions: [
      { from: 'received', to: 'working' },
      { from: 'working', to: 'done' },
      { from: 'working', to: 'dropped' },
    ],
    ...extra,
  };
}

/** Creates an order on the demo workflow `orders` as admin and moves it along `path`; returns the order. */
// biome-ignore lint/suspicious/noExplicitAny: test bodies are read loosely
export async function demoOrder(t: TestOrderflow, path: string[] = [], data: Record<string, unknown> = {}): Promise<any> {
  const created = await t.request('admin', {
    method: 'POST',
    url: '/api/v1/orders',
    body: {
      workflow: 'orders',
      data: { customer: { email: 'ada@example.com', name: 'Ada' }, total: 40, currency: 'EUR', deliveryEstimate: '2026-02-01', ...data },
    },
  });
  expect(created.statusCode, created.body).toBe(201);
  let order = json(created).order;
  for (const to of path) {
    const res = await t.request('admin', { method: 'POST', url: `/api/v1/orders/${order.id}/transitions`, body: { to } });
    expect(res.statusCode, res.body).toBe(200);
    order = json(res).order;
  }
  return order;
}
