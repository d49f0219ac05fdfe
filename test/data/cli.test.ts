// Bad dataset files on the command line: bad input, exit 2, the file named, nothing created;
// a dataset that is not there at all stays an environment problem, exit 1.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pxl, ROOT } from '../helpers/cli.js';
import { tempDir, writeFiles } from '../helpers/tmp.js';
import { ramp, writeIdx } from './helpers.js';

const TINY = join(ROOT, 'test/fixtures/tiny.yaml');

/** An idx dataset of 16 train and 4 test images of 4x4 next to an experiment using it. */
function setup(): { dir: string; data: string; run: () => ReturnType<typeof pxl> } {
  const dir = tempDir();
  const data = join(dir, 'data');
  writeFiles(dir, { 'x.yaml': `extends: ${TINY}\ndataset: {name: idx, dir: ./data, train_limit: null, test_limit: null}\n`, 'data/.keep': '' });
  writeIdx(data, 'train-images-idx3-ubyte', [16, 4, 4], ramp(16, 4, 4));
  writeIdx(data, 't10k-images-idx3-ubyte', [4, 4, 4], ramp(4, 4, 4));
  const run = () => pxl(['run', 'x.yaml', '--runs-dir', 'runs', '--reporter', 'plain'], { cwd: dir });
  return { dir, data, run };
}

describe('pxl run on bad dataset files', () => {
  it('exits 2 when class conditioning asks for labels the idx folder does not have, at the setting, saying which file', () => {
    const { dir, data } = setup();
    writeFiles(dir, { 'c.yaml': 'extends: ./x.yaml\nmodel:\n  conditioning: {type: class, classes: 3}\n' });
    writeIdx(data, 't10k-labels-idx1-ubyte', [4], [0, 1, 2, 0]);
    const r = pxl(['run', 'c.yaml', '--runs-dir', 'runs', '--reporter', 'plain'], { cwd: dir });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain(
      `c.yaml:3:24: model.conditioning.type: class conditioning needs the train images' labels, and ${data} has no train label file (expected train-labels-idx1-ubyte or train-labels.idx1-ubyte, optionally .gz)`,
    );
    expect(r.stderr).not.toContain('test images');
    expect(existsSync(join(dir, 'runs'))).toBe(false);
  });

  it('exits 2 for labels outside 0..classes-1, naming the file, the label and the image', () => {
    const { dir, data } = setup();
    writeFiles(dir, { 'c.yaml': 'extends: ./x.yaml\nmodel:\n  conditioning: {type: class, classes: 3}\n' });
    writeIdx(data, 'train-labels-idx1-ubyte', [16], Array.from({ length: 16 }, (_, i) => (i === 5 || i === 9 ? 7 : i % 3)));
    writeIdx(data, 't10k-labels-idx1-ubyte', [4], [0, 1, 2, 0]);
    const r = pxl(['run', 'c.yaml', '--runs-dir', 'runs', '--reporter', 'plain'], { cwd: dir });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain(`c.yaml:3:40: model.conditioning.classes: expected every label in 0..2; ${join(data, 'train-labels-idx1-ubyte')} holds label 7 (image 5 and 1 more)`);
    expect(existsSync(join(dir, 'runs'))).toBe(false);
  });

  it('exits 2 for a file with a wrong magic number, naming it', () => {
    const { dir, data, run } = setup();
    writeFileSync(join(data, 'train-images-idx3-ubyte'), 'not an idx file');
    const r = run();
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${join(data, 'train-images-idx3-ubyte')}: not an IDX file: bad magic number`);
    expect(r.stderr).not.toContain('    at ');
    expect(existsSync(join(dir, 'runs'))).toBe(false);
  });

  it('exits 2 for a truncated file', () => {
    const { dir, data, run } = setup();
    writeIdx(data, 't10k-images-idx3-ubyte', [4, 4, 4], ramp(3, 4, 4));
    const r = run();
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('t10k-images-idx3-ubyte: truncated');
    expect(existsSync(join(dir, 'runs'))).toBe(false);
  });

  it('exits 2 for train and test images of different sizes, and for labels that do not match the images', () => {
    const { data, run } = setup();
    writeIdx(data, 't10k-images-idx3-ubyte', [4, 5, 4], ramp(4, 5, 4));
    const shapes = run();
    expect(shapes.status).toBe(2);
    expect(shapes.stderr).toContain('dims mismatch: train images');
    writeIdx(data, 't10k-images-idx3-ubyte', [4, 4, 4], ramp(4, 4, 4));
    writeIdx(data, 'train-labels-idx1-ubyte', [15], ramp(15, 1, 1));
    const labels = run();
    expect(labels.status).toBe(2);
    expect(labels.stderr).toContain('dims mismatch: 15 labels for 16 images');
  });

  it('exits 2 for a training file with no images, with a message about the data', () => {
    const { data, run } = setup();
    writeIdx(data, 'train-images-idx3-ubyte', [0, 4, 4], []);
    const r = run();
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('train-images-idx3-ubyte: holds no images (dims [0, 4, 4]); training needs at least one image');
    expect(r.stderr).not.toMatch(/0 steps/);
  });

  it('exits 2 for a test file with no images instead of finishing with no test bits/dim', () => {
    const { dir, data, run } = setup();
    writeIdx(data, 't10k-images-idx3-ubyte', [0, 4, 4], []);
    const r = run();
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('t10k-images-idx3-ubyte: holds no images');
    expect(r.stderr).toContain('needs at least one');
    expect(existsSync(join(dir, 'runs'))).toBe(false);
  });

  it('exits 1 when the dataset folder is missing: the environment, not the file content', () => {
    const { dir, run } = setup();
    writeFiles(dir, { 'x.yaml': `extends: ${TINY}\ndataset: {name: idx, dir: ./nowhere}\n` });
    const r = run();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('dataset directory not found');
  });
});
