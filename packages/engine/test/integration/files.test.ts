import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
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
});
