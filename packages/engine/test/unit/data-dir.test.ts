import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dataDirWarning, ensurePrivateDir } from '../../src/bootstrap.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('the data directory', () => {
  it('is created 0700, and an existing one that others may enter gets a warning, not a chmod', () => {
    dir = mkdtempSync(join(tmpdir(), 'orderflow-dir-'));
    const made = join(dir, 'data');
    ensurePrivateDir(made);
    expect(dataDirWarning(made)).toBeNull();
    const shared = join(dir, 'shared');
    ensurePrivateDir(shared);
    chmodSync(shared, 0o755);
    ensurePrivateDir(shared);
    const warning = dataDirWarning(shared);
    expect(warning).toContain('mode 0755');
    expect(warning).toContain(`chmod 700 ${shared}`);
    expect(dataDirWarning(join(dir, 'absent'))).toBeNull();
  });
});
