// `pxl sync` of something that is not a run folder: a typo must not look like success.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pxl, ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

describe('pxl sync', () => {
  const dir = tempDir();
  const run = join(dir, 'runs', 'tiny', '20261130-100000-aaaa');
  mkdirSync(run, { recursive: true });
  copyFileSync(join(ROOT, 'test/fixtures/tiny.yaml'), join(run, 'config.yaml'));
  mkdirSync(join(dir, 'runs', 'tiny', 'not-a-run'));
  writeFileSync(join(dir, 'file.txt'), 'x\n');

  it('refuses a folder that is not a run, naming it, with exit 2 and before sending anything', () => {
    const notRun = join(dir, 'runs', 'tiny', 'not-a-run');
    const r = pxl(['sync', run, notRun], { env: { MLFLOW_TRACKING_URI: '' } });
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(`pxl: ${notRun} is not a pxl run folder (no config.yaml)`);
    expect(r.stdout).toBe('');
  });

  it('refuses a path that does not exist, or a file, with exit 2', () => {
    const missing = pxl(['sync', join(dir, 'runs', 'tiny', '20261130-100000-aaab')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('20261130-100000-aaab does not exist');
    const file = pxl(['sync', join(dir, 'file.txt')]);
    expect(file.status).toBe(2);
    expect(file.stderr).toContain(`${join(dir, 'file.txt')} is not a pxl run folder`);
  });

  it('says "nothing to send" with exit 0 for a run folder with nothing spooled', () => {
    const r = pxl(['sync', run], { env: { MLFLOW_TRACKING_URI: '' } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${run}: nothing to send\n`);
  });
});
