import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createToken } from '../../src/bootstrap.js';
import { ADMIN_TOKEN, createTestOrderflow, type TestOrderflow } from '../helpers/orderflow.js';

const run = promisify(execFile);
// Each case starts the CLI as separate processes; on a loaded machine that takes a while.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 60_000 });
const ENGINE = resolve(import.meta.dirname, '../..');
const BIN = join(ENGINE, 'bin/orderflow.js');

/** Runs the CLI as a user would (through the committed bin), never throwing; stdin is not a terminal. */
async function cli(args: string[], env: Record<string, string> = {}) {
  const r = await run(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env },
    timeout: 60_000,
  }).then(
    (o) => ({ code: 0, stdout: o.stdout, stderr: o.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
  return r;
}

describe('the orderflow bin', () => {
  it('is a committed, executable file, so npm ci links it before anything is built', () => {
    const pkg = JSON.parse(execFileSync('git', ['show', 'HEAD:packages/engine/package.json'], { cwd: ENGINE, encoding: 'utf8' }));
    expect(pkg.bin.orderflow).toBe('./bin/orderflow.js');
    expect(execFileSync('git', ['ls-files', 'bin/orderflow.js'], { cwd: ENGINE, encoding: 'utf8' }).trim()).toBe('bin/orderflow.js');
    expect(statSync(BIN).mode & 0o111).not.toBe(0);
  });
});

describe('the command line itself', () => {
  it('prints the version with --version and -v', async () => {
    const version = JSON.parse(readFileSync(join(ENGINE, 'package.json'), 'utf8')).version;
    for (const flag of ['--version', '-v']) {
      const r = await cli([flag]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${version}\n`);
    }
  });

  it('names an argument mistake in a short message with a pointer to --help, exit 64', async () => {
    for (const args of [['--bogus'], ['frobnicate'], ['workflow'], ['workflow', 'pull'], ['token', 'create', '--role', 'king']]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(64);
      expect(r.stderr).toMatch(/^orderflow: .+\nRun `orderflow --help` for the usage\.\n$/);
      expect(r.stderr).not.toContain('Usage:');
      expect(r.stdout).toBe('');
    }
    expect((await cli(['--bogus'])).stderr).toContain("'--bogus'");
    expect((await cli(['frobnicate'])).stderr).toContain('"frobnicate"');
  });

  it('validates a workflow file without a database, Liquid included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orderflow-cli-'));
    try {
      const file = join(dir, 'wf.json');
      const definition = {
        key: 'liquid',
        name: 'Liquid',
        states: [
          { key: 'open', name: 'Open', group: 'new', initial: true },
          { key: 'done', name: 'Done', group: 'completed' },
          { key: 'dropped', name: 'Dropped', group: 'cancelled', cancellation: { initiator: 'provider', code: 'operational_issue' } },
        ],
        transitions: [
          { from: 'open', to: 'done' },
          { from: '*', to: 'dropped' },
        ],
        rules: [{ id: 'r', trigger: 'state_changed', actions: [{ type: 'set_data', set: { q: 'ok {{ order.id }}' } }] }],
      };
      writeFileSync(file, JSON.stringify(definition));
      const fine = await cli(['workflow', 'validate', file]);
      expect(fine.code, fine.stderr + fine.stdout).toBe(0);
      definition.rules[0] = { id: 'r', trigger: 'state_changed', actions: [{ type: 'set_data', set: { q: '{% if %}' } }] };
      writeFileSync(file, JSON.stringify(definition));
      const broken = await cli(['workflow', 'validate', file]);
      expect(broken.code).toBe(1);
      expect(broken.stdout).toMatch(/template_syntax\s+rules\.0\.actions\.0\.set\.q/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops on an invalid ORDERFLOW_MAIL_FROM with exit 78, naming the variable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orderflow-cli-'));
    try {
      const r = await cli(['migrate'], { ORDERFLOW_DATA_DIR: dir, ORDERFLOW_MAIL_FROM: 'not an address' });
      expect(r.code).toBe(78);
      expect(r.stderr).toContain('ORDERFLOW_MAIL_FROM');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('CLI against a remote server (--url, --token)', () => {
  let t: TestOrderflow;
  let url: string;
  beforeAll(async () => {
    t = await createTestOrderflow({ env: { PORT: '0', HOST: '127.0.0.1' } });
    url = await t.of.listen();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('prints help', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--url');
  });

  it('pulls, lists versions, and refuses without a token', async () => {
    const pulled = await cli(['workflow', 'pull', 'orders', '--url', url, '--token', ADMIN_TOKEN]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(JSON.parse(pulled.stdout).key).toBe('orders');
    const viaEnv = await cli(['workflow', 'versions', 'orders'], { ORDERFLOW_URL: url, ORDERFLOW_TOKEN: ADMIN_TOKEN });
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
    expect(viaEnv.stdout).toMatch(/^v1 /);
    const noToken = await cli(['workflow', 'pull', 'orders', '--url', url]);
    expect(noToken.code).toBe(64);
    const wrong = await cli(['workflow', 'pull', 'orders', '--url', url, '--token', 'nope']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('unauthorized');
  });

  it('push --publish shows the impact and asks; without an answer it does not publish, --yes does', async () => {
    const pulled = JSON.parse((await cli(['workflow', 'pull', 'orders', '--url', url, '--token', ADMIN_TOKEN])).stdout);
    const file = join(t.dir, 'orders.json');
    writeFileSync(file, JSON.stringify({ ...pulled, name: 'Orders (edited)' }));
    const asked = await cli(['workflow', 'push', file, '--publish', '--url', url, '--token', ADMIN_TOKEN]);
    expect(asked.code).toBe(1);
    expect(asked.stdout).toContain('Impact of publishing');
    expect(asked.stderr).toContain('not published');
    const before = await t.request('admin', { method: 'GET', url: '/api/v1/workflows/orders' });
    expect(JSON.parse(before.body).publishedVersion).toBe(1);
    const yes = await cli(['workflow', 'push', file, '--publish', '--yes', '--url', url, '--token', ADMIN_TOKEN]);
    expect(yes.code, yes.stderr).toBe(0);
    expect(yes.stdout).toContain('published orders version 2');
    const after = await t.request('admin', { method: 'GET', url: '/api/v1/workflows/orders' });
    expect(JSON.parse(after.body).publishedVersion).toBe(2);
  });

  it('migrates (dry run) and retries deliveries through the API, and reports a refusal with its code', async () => {
    // Version 2 was published by the case above.
    const dry = await cli(['migrate', 'orders', '--to', '2', '--dry-run', '--url', url, '--token', ADMIN_TOKEN]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/dry run: would migrate [1-9]\d* of [1-9]\d* order\(s\) to version 2/);
    const pinned = await t.request('admin', { method: 'GET', url: '/api/v1/orders?workflow=orders&limit=500' });
    expect(JSON.parse(pinned.body).items.every((o: { workflowVersion: number }) => o.workflowVersion === 1)).toBe(true);
    const retry = await cli(['deliveries', 'retry', 'dlv_missing', '--url', url, '--token', ADMIN_TOKEN]);
    expect(retry.code).toBe(1);
    expect(retry.stderr).toContain('not_found');
  });

  it('exits non-zero when a command fails: a draft with errors is neither published nor stored, a missing draft or workflow', async () => {
    const remote = ['--url', url, '--token', ADMIN_TOKEN];
    const view = async () => JSON.parse((await t.request('admin', { method: 'GET', url: '/api/v1/workflows/orders' })).body);
    const before = await view();
    expect(before.draft).toBeNull();
    const pulled = JSON.parse((await cli(['workflow', 'pull', 'orders', ...remote])).stdout);
    const broken = structuredClone(pulled);
    broken.states[1].timeout = { after: '1h', to: 'nowhere' };
    const file = join(t.dir, 'broken.json');
    writeFileSync(file, JSON.stringify(broken));

    const push = await cli(['workflow', 'push', file, '--publish', '--yes', ...remote]);
    expect(push.code, push.stdout).toBe(1);
    expect(push.stdout).toContain('unknown_state');
    expect(push.stderr).toContain('not published');
    const after = await view();
    expect(after.draft).toBeNull();
    expect(after.publishedVersion).toBe(before.publishedVersion);

    // Without --publish the draft is stored, with its problems (exit 0: storing was asked and done).
    const draft = await cli(['workflow', 'push', file, ...remote]);
    expect(draft.code, draft.stderr).toBe(0);
    expect((await view()).draft.states[1].timeout.to).toBe('nowhere');
    await t.request('admin', { method: 'DELETE', url: '/api/v1/workflows/orders/draft' });

    const noDraft = await cli(['workflow', 'pull', 'orders', '--draft', ...remote]);
    expect(noDraft.code).toBe(1);
    expect(noDraft.stdout).toBe('');
    expect(noDraft.stderr).toContain('no draft');
    for (const args of [
      ['workflow', 'pull', 'missing'],
      ['workflow', 'versions', 'missing'],
      ['token', 'revoke', 'tok_missing'],
      ['migrate', 'missing', '--to', '2'],
    ]) {
      const r = await cli([...args, ...remote]);
      expect(r.code, `${args.join(' ')}: ${r.stdout}`).toBe(1);
    }
  });
});

describe('CLI on the local database (no --url)', () => {
  it('runs the same commands in-process and leaves no token behind', async () => {
    const t = await createTestOrderflow({ keepDir: true });
    const env = { ORDERFLOW_DATABASE_URL: t.url, ORDERFLOW_DATA_DIR: t.dir };
    const tokensBefore = (await t.of.store.db.selectFrom('tokens').select('id').execute()).length;
    await t.close();
    try {
      const pulled = await cli(['workflow', 'pull', 'orders'], env);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(JSON.parse(pulled.stdout).key).toBe('orders');
      const versions = await cli(['workflow', 'versions', 'orders'], env);
      expect(versions.stdout).toMatch(/^v1 /);
      const reopened = await createTestOrderflow({ dir: t.dir, url: t.url, keepDir: true });
      // The local API's own token is removed when the command ends (the test instance adds its role tokens).
      const names = (await reopened.of.store.db.selectFrom('tokens').select('name').execute()).map((r) => r.name);
      expect(names.filter((n) => n?.startsWith('cli (local'))).toEqual([]);
      expect(tokensBefore).toBeGreaterThan(0);
      await reopened.close();
    } finally {
      await t.remove();
    }
  });

  it('lists every token, page after page (token list)', async () => {
    const t = await createTestOrderflow({ keepDir: true, demo: false });
    const now = t.of.clock.now().toISOString();
    for (let i = 0; i < 230; i++) await createToken(t.of.store, t.of.newId, 'viewer', `reader ${i}`, now);
    const total = Number(
      (
        await t.of.store.db
          .selectFrom('tokens')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
    await t.close();
    try {
      const r = await cli(['token', 'list'], { ORDERFLOW_DATABASE_URL: t.url, ORDERFLOW_DATA_DIR: t.dir });
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n');
      for (let i = 0; i < 230; i++) expect(lines.filter((l) => l.includes(`  reader ${i}  `))).toHaveLength(1);
      // Its own temporary token is listed too (it exists while the command runs).
      expect(lines.length).toBe(total + 1);
    } finally {
      await t.remove();
    }
  });

  it('ends quietly when stdout is closed early (token list | true), still removing its own token', async () => {
    const t = await createTestOrderflow({ keepDir: true, demo: false });
    const now = t.of.clock.now().toISOString();
    for (let i = 0; i < 5; i++) await createToken(t.of.store, t.of.newId, 'viewer', `reader ${i}`, now);
    await t.close();
    try {
      // `true` reads nothing and is gone before the CLI writes its first line.
      const r = await run('sh', ['-c', '{ node "$0" token list; echo "exit $?" >&2; } | true', BIN], {
        env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ORDERFLOW_DATABASE_URL: t.url, ORDERFLOW_DATA_DIR: t.dir },
        timeout: 60_000,
      });
      expect(r.stderr).toBe('exit 0\n');
      const reopened = await createTestOrderflow({ dir: t.dir, url: t.url, keepDir: true, demo: false });
      const names = (await reopened.of.store.db.selectFrom('tokens').select('name').execute()).map((x) => x.name);
      expect(names.filter((n) => n?.startsWith('cli (local'))).toEqual([]);
      await reopened.close();
    } finally {
      await t.remove();
    }
  });
});
