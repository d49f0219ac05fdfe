// A class-conditional run end to end on the command line: trained on an idx folder with labels,
// its test bits/dim reported as conditional (summary.json, metrics.jsonl, the plain reporter),
// its grids with a labelled row per class, and `pxl sample --class`.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { pxl, ROOT } from '../helpers/cli.js';
import { tempDir, writeFiles } from '../helpers/tmp.js';
import { ramp, writeIdx } from '../data/helpers.js';

const TINY = join(ROOT, 'test/fixtures/tiny.yaml');
const dir = tempDir();
let run = '';
let trained = { status: -1 as number | null, stdout: '', stderr: '' };

beforeAll(() => {
  const data = join(dir, 'data');
  writeFiles(dir, {
    'c.yaml': `extends: ${TINY}\ndataset: {name: idx, dir: ./data, train_limit: null, test_limit: null}\n` +
      'model:\n  conditioning: {type: class, classes: 3}\nsample:\n  columns: 2\n',
    'data/.keep': '',
  });
  writeIdx(data, 'train-images-idx3-ubyte', [16, 8, 8], ramp(16, 8, 8));
  writeIdx(data, 'train-labels-idx1-ubyte', [16], Array.from({ length: 16 }, (_, i) => i % 3));
  writeIdx(data, 't10k-images-idx3-ubyte', [4, 8, 8], ramp(4, 8, 8));
  writeIdx(data, 't10k-labels-idx1-ubyte', [4], [0, 1, 2, 0]);
  const r = pxl(['run', 'c.yaml', '--runs-dir', 'runs', '--reporter', 'plain'], { cwd: dir });
  trained = { status: r.status, stdout: r.stdout, stderr: r.stderr };
  if (r.status === 0) run = join(dir, 'runs', 'tiny', readdirSync(join(dir, 'runs', 'tiny'))[0]); // named by the parent, tiny
}, 120_000);

const gridWidth = (file: string) => PNG.sync.read(readFileSync(file)).width;

describe('a class-conditional run', () => {
  it('reports its test bits/dim as the conditional NLL', () => {
    expect(trained.status, trained.stderr).toBe(0);
    const summary = JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8'));
    expect(summary.test_nll).toBe('conditional');
    expect(summary.test_bits_per_dim).toBeGreaterThan(0);
    const evals = readFileSync(join(run, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.type === 'eval');
    expect(evals.length).toBeGreaterThan(0);
    expect(evals.every((e) => e.conditional === true)).toBe(true);
    expect(trained.stdout).toMatch(/eval step 4: test \d+\.\d+ bits\/dim \(conditional on the class\)/);
  });

  it('samples a labelled row of sample.columns images per class', () => {
    // 3 rows of 2 images of 8x8: a label margin of 3 + 2 * 2 pixels, then the images and their gaps.
    const grid = join(run, 'samples', 'step-00000008.png');
    expect(gridWidth(grid)).toBe(3 + 4 + 2 * 8 + 3 * 2);
    expect(PNG.sync.read(readFileSync(grid)).height).toBe(3 * 8 + 4 * 2);
  });

  it('draws images of one class with pxl sample --class, and refuses a class it does not have', () => {
    const out = join(dir, 'two.png');
    const r = pxl(['sample', run, '--class', '2', '--count', '4', '--columns', '2', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('4 samples (cached, class 2, seed 0');
    expect(gridWidth(out)).toBe(3 + 4 + 2 * 8 + 3 * 2);
    const bad = pxl(['sample', run, '--class', '3']);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe('pxl: --class expects a non-negative integer up to 2; found "3"');
    const count = pxl(['sample', run, '--count', '4']);
    expect(count.status).toBe(2);
    expect(count.stderr).toContain('give --class k to draw --count images of class k');
  });

  it('refuses --class for an unconditional run', () => {
    const plainDir = tempDir();
    const r = pxl(['run', TINY, '--set', 'train.steps=1', '--set', 'train.sample_every=0', '--set', 'sample.count=1', '--set', 'sample.columns=1', '--runs-dir', plainDir]);
    expect(r.status, r.stderr).toBe(0);
    const plain = join(plainDir, 'tiny', readdirSync(join(plainDir, 'tiny'))[0]);
    const before = readdirSync(join(plain, 'samples'));
    const refused = pxl(['sample', plain, '--class', '1']);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain("--class 1: this run's model is unconditional (model.conditioning.type none)");
    expect(readdirSync(join(plain, 'samples')), 'no sample written').toEqual(before);
  });
});
