// `pxl run`, `pxl sample`, `pxl inspect` and `pxl doctor` as a user runs them.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { PXL, pxl, ROOT } from '../helpers/cli.js';
import { tempDir, writeFiles } from '../helpers/tmp.js';

const TINY = join(ROOT, 'test/fixtures/tiny.yaml');
const WASM = ['--set', 'backend=wasm'];

function onlyRun(runsDir: string): string {
  const [exp] = readdirSync(runsDir);
  const [id] = readdirSync(join(runsDir, exp));
  return join(runsDir, exp, id);
}

describe('pxl run', () => {
  it('prints plain progress lines without escape codes and exits 0', () => {
    const runsDir = tempDir();
    const r = pxl(['run', TINY, ...WASM, '--runs-dir', runsDir]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^run tiny\/\d{8}-\d{6}-[0-9a-f]{4}\n/);
    expect(r.stdout).toContain('step 2/8');
    expect(r.stdout).toMatch(/eval step 8: test \d\.\d{4} bits\/dim/);
    expect(r.stdout).toMatch(/finished: 8 steps/);
    expect(r.stdout).not.toContain('\u001b[');
    expect(JSON.parse(readFileSync(join(onlyRun(runsDir), 'summary.json'), 'utf8')).status).toBe('finished');
  });

  it('emits one JSON object per event with --reporter json', () => {
    const runsDir = tempDir();
    const r = pxl(['run', TINY, ...WASM, '--runs-dir', runsDir, '--reporter', 'json', '--set', 'train.sample_every=0']);
    expect(r.status).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(events[0].type).toBe('start');
    expect(events.filter((e) => e.type === 'step')).toHaveLength(8);
    expect(events[events.length - 1]).toMatchObject({ type: 'end', status: 'finished' });
  });

  it('stops on SIGINT after the current step with a checkpoint, exit 130, and resumes to the end', async () => {
    const runsDir = tempDir();
    const child = spawn(process.execPath, [PXL, 'run', TINY, ...WASM, '--set', 'train.steps=60', '--set', 'train.checkpoint_every=0', '--runs-dir', runsDir, '--reporter', 'json'], {
      env: { ...process.env, CI: 'true' },
    });
    let out = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!sent && out.includes('"type":"step"')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(status).toBe(130);
    const dir = onlyRun(runsDir);
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    expect(summary.status).toBe('interrupted');
    expect(summary.steps).toBeGreaterThan(0);
    expect(summary.steps).toBeLessThan(60);
    expect(readdirSync(join(dir, 'checkpoints'))).toContain(`step-${String(summary.steps).padStart(8, '0')}`);
    const resumed = pxl(['run', '--resume', dir, '--set', 'train.steps=5']);
    expect(resumed.status).toBe(2);
    expect(resumed.stderr).toContain('--set cannot change a run being resumed');
    const finish = pxl(['run', '--resume', dir]);
    expect(finish.status).toBe(0);
    expect(finish.stdout).toContain(`(resumed at step ${summary.steps})`);
    expect(JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'))).toMatchObject({ status: 'finished', steps: 60 });
    const again = pxl(['run', '--resume', dir]);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('already finished');
  });

  it('rejects a bad experiment with exit 2 and creates nothing', () => {
    const runsDir = join(tempDir(), 'runs');
    const r = pxl(['run', TINY, '--set', 'model.input.mask=B', '--runs-dir', runsDir]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('model.input.mask: the first layer must use mask A');
    expect(existsSync(runsDir)).toBe(false);
  });

  it('names a missing dataset folder and creates nothing', () => {
    const dir = tempDir();
    writeFiles(dir, { 'x.yaml': 'extends: ' + TINY + '\ndataset: {name: idx, dir: ./nowhere}\n' });
    const r = pxl(['run', join(dir, 'x.yaml'), '--runs-dir', join(dir, 'runs')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('nowhere');
    expect(r.stderr).not.toContain('    at ');
    expect(existsSync(join(dir, 'runs'))).toBe(false);
  });

  it('refuses a batch larger than the training set before creating anything, as bad input', () => {
    const runsDir = join(tempDir(), 'runs');
    const r = pxl(['run', TINY, '--set', 'train.batch_size=128', '--runs-dir', runsDir]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/smaller than the batch size 128/);
    expect(existsSync(runsDir)).toBe(false);
  });
});

describe('pxl run whose output is closed', () => {
  it('stops with a checkpoint and exit 130 when the reader of its stdout goes away (`pxl run | head`)', async () => {
    const runsDir = tempDir();
    const child = spawn(process.execPath, [PXL, 'run', TINY, ...WASM, '--set', 'train.steps=300', '--runs-dir', runsDir, '--reporter', 'json'], { env: { ...process.env, CI: 'true' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.stdout.destroy(); // as head does after its first lines
    expect(await exited, stderr).toBe(130);
    expect(stderr).toContain('pxl: output closed: stopping after this step and writing a checkpoint');
    const dir = onlyRun(runsDir);
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    expect(summary.status).toBe('interrupted');
    expect(summary.steps).toBeLessThan(300);
    expect(readdirSync(join(dir, 'checkpoints'))).toContain(`step-${String(summary.steps).padStart(8, '0')}`);
  });
});

describe('pxl sample', () => {
  it("draws a grid from a run's checkpoint, reproducibly for a seed", () => {
    const runsDir = tempDir();
    expect(pxl(['run', TINY, ...WASM, '--runs-dir', runsDir, '--set', 'train.sample_every=0']).status).toBe(0);
    const dir = onlyRun(runsDir);
    const a = join(runsDir, 'a.png');
    const b = join(runsDir, 'b.png');
    const r1 = pxl(['sample', dir, '--count', '3', '--columns', '3', '--seed', '5', '--out', a]);
    expect(r1.status).toBe(0);
    expect(r1.stdout).toContain('3 samples (cached, seed 5');
    const png = PNG.sync.read(readFileSync(a));
    expect([png.width, png.height]).toEqual([3 * 28 + 4 * 2, 28 + 2 * 2]);
    expect(pxl(['sample', dir, '--count', '3', '--columns', '3', '--seed', '5', '--out', b]).status).toBe(0);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    const c = join(runsDir, 'c.png');
    const naive = pxl(['sample', dir, '--count', '3', '--columns', '3', '--seed', '5', '--method', 'naive', '--out', c]);
    expect(naive.stdout).toContain('3 samples (naive, seed 5');
    expect(readFileSync(a).equals(readFileSync(c)), 'naive and cached draw the same grid').toBe(true);
    const d = join(runsDir, 'd.png');
    expect(pxl(['sample', dir, '--count', '3', '--columns', '3', '--seed', '5', '--scale', '2', '--out', d]).status).toBe(0);
    const scaled = PNG.sync.read(readFileSync(d));
    expect([scaled.width, scaled.height]).toEqual([png.width * 2, png.height * 2]);
    const bad = pxl(['sample', dir, '--count', 'many']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--count expects a positive integer');
    expect(pxl(['sample', dir, '--scale', '0']).stderr).toContain('--scale expects a positive integer; found "0"');
  });
});

describe('pxl inspect and doctor', () => {
  it('prints the layer table and the exact total of the reference model', () => {
    const r = pxl(['inspect', 'experiments/mnist-15block.yaml'], { cwd: ROOT });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/input\.conv\s+masked conv 7x7 \(A\)\s+28x28x256\s+12,800/);
    expect(r.stdout).toMatch(/blocks\.14\s+residual block\s+28x28x256\s+214,528/);
    expect(r.stdout).toContain('total trainable parameters: 3,313,664');
    const deep = pxl(['inspect', 'experiments/mnist-15block.yaml', '--depth', '1'], { cwd: ROOT });
    expect(deep.stdout).toMatch(/ {2}blocks\.0\.conv2\s+masked conv 3x3 \(B\)\s+28x28x128\s+147,584/);
  });

  it('reports backends and datasets', () => {
    const r = pxl(['doctor', '--json']);
    expect(r.status).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d.backends.map((b: { name: string }) => b.name)).toEqual(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']);
    expect(d.backends.find((b: { name: string }) => b.name === 'wasm').available).toBe(true);
    expect(d.datasets.find((x: { name: string }) => x.name === 'mnist').available).toBe(true);
  });
});
