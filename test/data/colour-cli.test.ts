// The colour datasets' errors on the command line: bad files exit 2 naming the file, with
// nothing created; a folder that is not there exits 1.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { pxl, ROOT } from '../helpers/cli.js';
import { tempDir, writeFiles } from '../helpers/tmp.js';

const TINY = join(ROOT, 'test/fixtures/tiny.yaml');

function experiment(dataset: string): { dir: string; run: () => ReturnType<typeof pxl> } {
  const dir = tempDir();
  // h=6: a width that splits into the three channel groups of a colour model.
  writeFiles(dir, { 'x.yaml': `extends: ${TINY}\ndataset: ${dataset}\nmodel:\n  hidden: 6\n` });
  return { dir, run: () => pxl(['run', 'x.yaml', '--runs-dir', 'runs', '--reporter', 'plain'], { cwd: dir }) };
}

describe('pxl run on colour dataset folders', () => {
  it('exits 2 for a truncated CIFAR-10 batch, naming it', () => {
    const { dir, run } = experiment('{name: cifar10, dir: ./cifar, train_limit: null, test_limit: null}');
    mkdirSync(join(dir, 'cifar'));
    for (let i = 1; i <= 5; i++) writeFileSync(join(dir, 'cifar', `data_batch_${i}.bin`), Buffer.alloc(3073));
    writeFileSync(join(dir, 'cifar', 'test_batch.bin'), Buffer.alloc(3072));
    const r = run();
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${join(dir, 'cifar', 'test_batch.bin')}: 3072 bytes is not a whole number of 3073-byte records`);
    expect(r.stderr).not.toContain('    at ');
    expect(existsSync(join(dir, 'runs'))).toBe(false);
  });

  it('exits 2 for mixed image sizes, naming both files', () => {
    const { dir, run } = experiment('{name: images, dir: ./pics, train_limit: null, test_limit: null}');
    const img = (w: number, h: number) => PNG.sync.write(new PNG({ width: w, height: h }), { colorType: 2 });
    writeFiles(dir, { 'pics/.keep': '' });
    writeFileSync(join(dir, 'pics', 'a.png'), img(4, 4));
    writeFileSync(join(dir, 'pics', 'b.png'), img(5, 4));
    const r = run();
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/mixed sizes: (a|b)\.png is \dx4 RGB PNG .*, (a|b)\.png is \dx4 RGB PNG/);
    expect(existsSync(join(dir, 'runs'))).toBe(false);
  });

  it('exits 2 for a width that does not split into the channel groups of a folder of RGB images, located at model.hidden', () => {
    const { dir } = experiment('{name: images, dir: ./pics, train_limit: null, test_limit: null}');
    mkdirSync(join(dir, 'pics'));
    for (let i = 0; i < 4; i++) writeFileSync(join(dir, 'pics', `${i}.png`), PNG.sync.write(new PNG({ width: 4, height: 4 }), { colorType: 2 }));
    const r = pxl(['run', 'x.yaml', '--runs-dir', 'runs', '--reporter', 'plain', '--set', 'model.hidden=8'], { cwd: dir });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("--set 'model.hidden=8':1:14: model.hidden: expected a multiple of 3 for 3-channel images");
    expect(r.stderr).toContain('found 8; try 6 or 9');
    expect(existsSync(join(dir, 'runs'))).toBe(false);
  });

  it('trains on a folder of grey PNGs in class folders, and records the class names in run.json', () => {
    const { dir } = experiment('{name: images, dir: ./pics, train_limit: null, test_limit: null}');
    const grey = (v: number) => {
      const p = new PNG({ width: 6, height: 6 });
      for (let i = 0; i < 36; i++) p.data.set([(v + 7 * i) % 256, (v + 7 * i) % 256, (v + 7 * i) % 256, 255], 4 * i);
      return PNG.sync.write(p, { colorType: 0 });
    };
    for (const [split, cls, n] of [['train', 'zebra', 5], ['train', 'ant', 5], ['test', 'ant', 2]] as const) {
      mkdirSync(join(dir, 'pics', split, cls), { recursive: true });
      for (let i = 0; i < n; i++) writeFileSync(join(dir, 'pics', split, cls, `${i}.png`), grey(20 * i));
    }
    const r = pxl(['run', 'x.yaml', '--runs-dir', 'runs', '--reporter', 'plain', '--set', 'train.steps=2', '--set', 'train.batch_size=2', '--set', 'sample.count=2', '--set', 'train.sample_every=0'], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('dataset images (10 train, 2 test, 6x6x1)');
    const [id] = readdirSync(join(dir, 'runs', 'tiny'));
    const info = JSON.parse(readFileSync(join(dir, 'runs', 'tiny', id, 'run.json'), 'utf8'));
    expect(info).toMatchObject({ image: { height: 6, width: 6, channels: 1 }, classes: ['ant', 'zebra'] });
  });

  it('exits 1 when the CIFAR-10 folder is missing: the environment, not the file content', () => {
    const { run } = experiment('{name: cifar10, dir: ./nowhere}');
    const r = run();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('cifar10: dataset directory not found');
    expect(r.stderr).toContain('cifar-10-binary.tar.gz');
  });
});
