// `pxl sample --checkpoint best|last|step-N`: which checkpoint a grid is drawn from. The
// default is the best checkpoint, the one the run's final grid was drawn from.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { pxl, ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const TINY = join(ROOT, 'test/fixtures/tiny.yaml');
const dir = tempDir();
const runsDir = join(dir, 'runs');
let run = '';

// With this learning rate validation bits/dim rise after step 2: the best checkpoint is step 2's, the last step 6's.
const SETS = ['dataset.validation=16', 'train.steps=6', 'train.eval_every=2', 'train.checkpoint_every=2', 'train.keep_checkpoints=10', 'train.sample_every=0', 'train.optimizer.learning_rate=0.2'];

beforeAll(() => {
  const r = pxl(['run', TINY, '--set', 'backend=wasm', '--runs-dir', runsDir, ...SETS.flatMap((s) => ['--set', s])]);
  expect(r.status, r.stderr).toBe(0);
  run = join(runsDir, 'tiny', readdirSync(join(runsDir, 'tiny'))[0]);
  expect(JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8')).best_step).toBe(2);
}, 120_000);

const pixels = (file: string) => PNG.sync.read(readFileSync(file)).data;

/** Samples the run's own grid (sample.count, columns, seed) from `which` checkpoint; its stdout line and pixels. */
function drawn(name: string, ...args: string[]): { line: string; pixels: Buffer } {
  const out = join(dir, `${name}.png`);
  const r = pxl(['sample', run, '--out', out, ...args]);
  expect(r.status, r.stderr).toBe(0);
  return { line: r.stdout, pixels: pixels(out) };
}

describe('pxl sample --checkpoint', () => {
  it('draws from the best checkpoint by default, as the final grid of the run was', () => {
    const final = pixels(join(run, 'samples', 'step-00000006.png'));
    const byDefault = drawn('default');
    expect(byDefault.line).toContain(`from ${join(run, 'checkpoints', 'best')} `);
    expect(byDefault.pixels.equals(final)).toBe(true);
    const best = drawn('best', '--checkpoint', 'best');
    expect(best.line).toContain(`from ${join(run, 'checkpoints', 'best')} `);
    expect(best.pixels.equals(final)).toBe(true);
  });

  it('last and step-N draw from those checkpoints: last is not the best here', () => {
    const last = drawn('last', '--checkpoint', 'last');
    expect(last.line).toContain(`from ${join(run, 'checkpoints', 'step-00000006')} `);
    expect(last.pixels.equals(pixels(join(run, 'samples', 'step-00000006.png')))).toBe(false);
    const step2 = drawn('step2', '--checkpoint', 'step-2');
    expect(step2.line).toContain(`from ${join(run, 'checkpoints', 'step-00000002')} `);
    // Step 2 is the best: the same weights as checkpoints/best, the same grid.
    expect(step2.pixels.equals(pixels(join(run, 'samples', 'step-00000006.png')))).toBe(true);
    const folder = drawn('folder', '--checkpoint', join(run, 'checkpoints', 'step-00000004'));
    expect(folder.line).toContain(`from ${join(run, 'checkpoints', 'step-00000004')} `);
  });

  it('refuses a step it does not keep and a name it does not know (exit 2)', () => {
    const missing = pxl(['sample', run, '--checkpoint', 'step-3']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('--checkpoint step-3: ');
    expect(missing.stderr).toContain('keeps no checkpoint of step 3 (kept: step-00000002, step-00000004, step-00000006;');
    const unknown = pxl(['sample', run, '--checkpoint', 'newest']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('--checkpoint expects best, last, step-N or a checkpoint folder; found "newest"');
  });
});
