// `pxl validate`, `pxl config`, help, version and usage errors, run as a user runs them.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { pxl, ROOT } from '../helpers/cli.js';
import { tempDir, writeFiles } from '../helpers/tmp.js';

const SHIPPED = ['experiments/mnist-15block.yaml', 'experiments/mnist-quick.yaml', ...readdirSync(join(ROOT, 'experiments/ablations')).map((f) => `experiments/ablations/${f}`)];

describe('pxl validate', () => {
  it('accepts every shipped experiment', () => {
    const r = pxl(['validate', ...SHIPPED], { cwd: ROOT });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const f of SHIPPED) expect(r.stdout).toContain(`${f}: valid`);
  });

  it('exits 2 with located errors, creates nothing, and still checks the other files', () => {
    const dir = tempDir();
    writeFiles(dir, { 'bad.yaml': 'model:\n  hiden: 3\n', 'good.yaml': 'seed: 1\n' });
    const r = pxl(['validate', 'bad.yaml', 'good.yaml'], { cwd: dir });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('bad.yaml:2:3: model.hiden: unknown key "hiden"; did you mean "hidden"?');
    expect(r.stderr).toContain('1 of 2 files invalid');
    expect(r.stdout).toContain('good.yaml: valid');
    expect(readdirSync(dir).sort()).toEqual(['bad.yaml', 'good.yaml']);
  });

  it('names a missing file', () => {
    const r = pxl(['validate', 'nope.yaml'], { cwd: tempDir() });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('nope.yaml:1:1: cannot read experiment file: no such file');
  });
});

describe('hostile and empty input', () => {
  it('exits 2 with one located line for an alias bomb, an empty file, a device, a binary parent and __proto__', () => {
    const dir = tempDir();
    const laughs = ['a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]', ...'bcdefgh'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefg'[i]}`).join(', ')}]`)];
    writeFiles(dir, {
      'bomb.yaml': `${laughs.join('\n')}\n`,
      'empty.yaml': '',
      'zero.yaml': 'extends: /dev/zero\n',
      'binary.yaml': 'extends: ./pxl.bin\n',
      'pxl.bin': '\u007fELF\u0002\u0001\u0001\u0000'.repeat(400),
      'ok.yaml': 'seed: 1\n',
    });
    const expectations: [string[], string][] = [
      [['bomb.yaml'], 'bomb.yaml:3:8: YAML aliases expand too far'],
      [['empty.yaml'], 'empty.yaml:1:1: the file has no settings'],
      [['zero.yaml'], 'zero.yaml:1:10: extends: parent file "/dev/zero" is not a regular file but a character device'],
      [['binary.yaml'], 'binary.yaml:1:10: extends: parent file "./pxl.bin" is not a text file (binary data at byte 0)'],
      [['ok.yaml', '--set', '__proto__.polluted=1'], `--set '__proto__.polluted=1':1:1: __proto__: unknown key "__proto__"`],
    ];
    for (const [args, line] of expectations) {
      const r = pxl(['validate', ...args], { cwd: dir, timeout: 30_000 });
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr.split('\n')).toEqual([expect.stringContaining(line), '1 of 1 file invalid', '']);
    }
  });

  it('refuses to run an empty experiment file and creates nothing', () => {
    const dir = tempDir();
    writeFiles(dir, { 'new.yaml': '# to do\n' });
    const r = pxl(['run', 'new.yaml', '--runs-dir', 'runs'], { cwd: dir });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('new.yaml:1:1: the file has no settings');
    expect(readdirSync(dir)).toEqual(['new.yaml']);
  });
});

describe('pxl config', () => {
  it('prints the resolved seed model with defaults filled in, as YAML and as JSON', () => {
    const y = pxl(['config', 'experiments/ablations/5-blocks.yaml'], { cwd: ROOT });
    expect(y.status).toBe(0);
    expect(y.stdout).toMatch(/^# resolved from experiments\/ablations\/5-blocks.yaml <- experiments\/mnist-15block.yaml/);
    const fromYaml = parse(y.stdout);
    const j = pxl(['config', 'experiments/ablations/5-blocks.yaml', '--json'], { cwd: ROOT });
    expect(JSON.parse(j.stdout)).toEqual(fromYaml);
    expect(fromYaml.model).toEqual({
      color_levels: 256,
      hidden: 128,
      batch_norm: true,
      dropout: 0,
      input: { kernel_size: 7, mask: 'A' },
      blocks: { type: 'residual', count: 5, kernel_size: 3, mask: 'B', dilations: null, skip_connections: false },
      conditioning: { type: 'none', classes: null },
      head: { convs: 2, mask: 'B' },
      output: { type: 'softmax', components: null },
    });
    expect(fromYaml.train).toMatchObject({ epochs: 100, batch_size: 128, optimizer: { name: 'adam', learning_rate: 0.001 } });
  });

  it('prints no password from tracking.uri, whether in the file or in --set', () => {
    const dir = tempDir();
    writeFiles(dir, { 'x.yaml': 'tracking:\n  uri: http://alice:file-s3cret@127.0.0.1:5999\n' });
    for (const args of [['config', 'x.yaml'], ['config', 'x.yaml', '--json'], ['config', 'x.yaml', '--set', 'tracking.uri=http://bob:set-s3cret@127.0.0.1:5999']]) {
      const r = pxl(args, { cwd: dir });
      expect(r.status).toBe(0);
      expect(r.stdout + r.stderr).not.toMatch(/s3cret/);
      expect(r.stdout).toContain('127.0.0.1:5999');
    }
  });

  it('applies --set and rejects a bad one with exit 2', () => {
    const ok = pxl(['config', 'experiments/mnist-quick.yaml', '--set', 'model.hidden=8', '--json'], { cwd: ROOT });
    expect(JSON.parse(ok.stdout).model.hidden).toBe(8);
    const bad = pxl(['config', 'experiments/mnist-quick.yaml', '--set', 'model.hidden=-1'], { cwd: ROOT });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("--set 'model.hidden=-1':1:14: model.hidden: expected an integer from 1 to 4096; found -1");
    expect(bad.stdout).toBe('');
  });
});

describe('the command line', () => {
  it('prints its version and help', () => {
    const v = pxl(['--version']);
    expect(v.status).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const h = pxl(['--help']);
    expect(h.status).toBe(0);
    expect(h.stdout).toContain('validate');
    expect(h.stdout).toContain('config');
    const ch = pxl(['config', '--help']);
    expect(ch.status).toBe(0);
    expect(ch.stdout).toContain('--set <key=value>');
  });

  it('rejects unknown commands and flags with exit 2 and a suggestion', () => {
    const c = pxl(['valdate', 'x.yaml']);
    expect(c.status).toBe(2);
    expect(c.stderr).toContain("unknown command 'valdate'");
    expect(c.stderr).toContain('validate');
    const f = pxl(['validate', '--sett', 'a=1', 'x.yaml']);
    expect(f.status).toBe(2);
    expect(f.stderr).toContain("unknown option '--sett'");
    expect(f.stderr).toContain('--set');
  });
});
