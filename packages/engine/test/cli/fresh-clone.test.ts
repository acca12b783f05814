import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createTestOrderflow } from '../helpers/orderflow.js';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../../../..');

// A fresh clone installs every package (several minutes here), so it runs when asked:
// ORDERFLOW_FRESH_CLONE=1 npx vitest run packages/engine/test/cli/fresh-clone.test.ts
describe.runIf(process.env.ORDERFLOW_FRESH_CLONE === '1')('npx orderflow in a fresh clone', () => {
  it('works after npm ci and a build, as the README says, locally and against a server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orderflow-clone-'));
    const t = await createTestOrderflow({ env: { PORT: '0', HOST: '127.0.0.1' } });
    try {
      const url = await t.of.listen();
      const sh = (cmd: string, args: string[]) => run(cmd, args, { cwd: join(dir, 'repo'), timeout: 900_000, maxBuffer: 64 * 1024 * 1024 });
      await run('git', ['clone', '--quiet', REPO, join(dir, 'repo')]);
      await sh('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund']);
      await sh('npm', ['run', 'build']);
      const help = await sh('npx', ['orderflow', '--help']);
      expect(help.stdout).toContain('Usage: orderflow');
      const pulled = await sh('npx', ['orderflow', 'workflow', 'pull', 'orders', '--url', url, '--token', ADMIN_TOKEN]);
      expect(JSON.parse(pulled.stdout).key).toBe('orders');
    } finally {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 1_200_000);
});
