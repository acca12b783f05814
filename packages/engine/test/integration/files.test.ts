import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { adminTokenBanner } from '../../src/bootstrap.js';
import { loadConfig } from '../../src/config.js';
import { createOrderflow, type Orderflow } from '../../src/server.js';

// File modes are a SQLite matter: PostgreSQL keeps its data in its own server.
let of: Orderflow | undefined;
let root: string | undefined;
afterEach(async () => {
  await of?.close();
  if (root) rmSync(root, { recursive: true, force: true });
  of = undefined;
  root = undefined;
});

const mode = (p: string) => statSync(p).mode & 0o777;

describe('data files (SQLite)', () => {
  it('creates orderflow.db* and admin-token 0600 in a 0700 directory, and prints the generated token once', async () => {
    root = mkdtempSync(join(tmpdir(), 'orderflow-files-'));
    const dir = join(root, 'data');
    const config = loadConfig({ ORDERFLOW_DATA_DIR: dir, ORDERFLOW_DEMO: 'true', LOG_LEVEL: 'silent' }, root);
    of = await createOrderflow(config);
    expect(mode(dir)).toBe(0o700);
    for (const f of ['orderflow.db', 'orderflow.db-wal', 'orderflow.db-shm', 'admin-token']) {
      if (f !== 'admin-token' && !existsSync(join(dir, f))) continue;
      expect(mode(join(dir, f)), f).toBe(0o600);
    }
    expect(mode(join(dir, 'orderflow.db'))).toBe(0o600);
    expect(of.admin).toMatchObject({ source: 'generated', created: true, saved: true });
    expect(adminTokenBanner(of.admin)).toContain(of.admin.token as string);
    await of.close();

    // A second start neither prints nor reads the token.
    of = await createOrderflow(config);
    expect(of.admin).toMatchObject({ source: 'existing', token: null, created: false });
    expect(adminTokenBanner(of.admin)).not.toMatch(/of_/);
  });

  it('with ORDERFLOW_ADMIN_TOKEN writes no file and claims none', async () => {
    root = mkdtempSync(join(tmpdir(), 'orderflow-files-'));
    const dir = join(root, 'data');
    const token = 'env-admin-token-0123456789';
    of = await createOrderflow(
      loadConfig({ ORDERFLOW_DATA_DIR: dir, ORDERFLOW_ADMIN_TOKEN: token, ORDERFLOW_DEMO: 'false', LOG_LEVEL: 'silent' }, root),
    );
    expect(existsSync(join(dir, 'admin-token'))).toBe(false);
    const banner = adminTokenBanner(of.admin);
    expect(banner).not.toContain('saved to');
    expect(banner).not.toContain(token);
    expect(banner).toContain('ORDERFLOW_ADMIN_TOKEN');
  });

  it('with an in-memory database prints the generated token and writes no admin-token file', async () => {
    root = mkdtempSync(join(tmpdir(), 'orderflow-files-'));
    const dir = join(root, 'data');
    of = await createOrderflow(
      loadConfig(
        { ORDERFLOW_DATABASE_URL: 'sqlite::memory:', ORDERFLOW_DATA_DIR: dir, ORDERFLOW_DEMO: 'false', LOG_LEVEL: 'silent' },
        root,
      ),
    );
    expect(existsSync(join(dir, 'admin-token'))).toBe(false);
    expect(of.admin).toMatchObject({ source: 'generated', created: true, saved: false });
    const banner = adminTokenBanner(of.admin);
    expect(banner).toContain(of.admin.token as string);
    expect(banner).toMatch(/in-memory database/);
    expect(banner).not.toContain('saved to');
  });

  it('never overwrites an admin-token file of another database, and does not point at it', async () => {
    root = mkdtempSync(join(tmpdir(), 'orderflow-files-'));
    const dir = join(root, 'data');
    const env = { ORDERFLOW_DATA_DIR: dir, ORDERFLOW_DEMO: 'false', LOG_LEVEL: 'silent' };
    of = await createOrderflow(loadConfig(env, root));
    const saved = readFileSync(join(dir, 'admin-token'), 'utf8');
    expect(saved).toContain(of.admin.token as string);
    await of.close();

    // In-memory, twice: the file of the real database stays as it was.
    for (let i = 0; i < 2; i++) {
      of = await createOrderflow(loadConfig({ ...env, ORDERFLOW_DATABASE_URL: 'sqlite::memory:' }, root));
      await of.close();
      expect(readFileSync(join(dir, 'admin-token'), 'utf8')).toBe(saved);
    }

    // Another database file in the same data directory: its new token is printed, not saved over the file.
    of = await createOrderflow(loadConfig({ ...env, ORDERFLOW_DATABASE_URL: `sqlite:${join(root, 'other.db')}` }, root));
    expect(of.admin).toMatchObject({ source: 'generated', saved: false });
    expect(readFileSync(join(dir, 'admin-token'), 'utf8')).toBe(saved);
    const banner = adminTokenBanner(of.admin);
    expect(banner).toContain(of.admin.token as string);
    expect(banner).toMatch(/another database/);
    await of.close();

    // Restarted, that database has an admin token; the banner does not claim the file holds it.
    of = await createOrderflow(loadConfig({ ...env, ORDERFLOW_DATABASE_URL: `sqlite:${join(root, 'other.db')}` }, root));
    expect(of.admin.source).toBe('existing');
    expect(adminTokenBanner(of.admin)).not.toContain(`in ${join(dir, 'admin-token')}`);
    expect(adminTokenBanner(of.admin)).toMatch(/another database/);
    await of.close();

    // The database the file belongs to still points at it.
    of = await createOrderflow(loadConfig(env, root));
    expect(adminTokenBanner(of.admin)).toContain(`in ${join(dir, 'admin-token')}`);
  });
});
