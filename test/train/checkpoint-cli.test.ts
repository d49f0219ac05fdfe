// `pxl sample` and `pxl run --resume` refuse a damaged checkpoint (flipped bits, NaN
// weights, a broken manifest) with one line naming the file, exit 2, and write nothing:
// no PNG, and metrics.jsonl of the run left as it was.
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { flipBit, poison, readManifest, writeManifest } from '../helpers/checkpoints.js';
import { pxl, ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const TINY = join(ROOT, 'test/fixtures/tiny.yaml');
const root = tempDir();
let runDir = '';

beforeAll(() => {
  const r = pxl(['run', TINY, '--set', 'backend=wasm', '--set', 'train.sample_every=0', '--runs-dir', join(root, 'runs')]);
  expect(r.status, r.stderr).toBe(0);
  const [id] = readdirSync(join(root, 'runs', 'tiny'));
  runDir = join(root, 'runs', 'tiny', id);
});

let copies = 0;
/** A copy of the run, stopped (no summary) as a crash leaves it, with its latest checkpoint damaged by `damage`. */
function damagedRun(damage: (checkpoint: string) => void): { dir: string; checkpoint: string } {
  const dir = join(root, `copy-${++copies}`);
  cpSync(runDir, dir, { recursive: true });
  rmSync(join(dir, 'summary.json'));
  const checkpoint = join(dir, 'checkpoints', 'step-00000008');
  damage(checkpoint);
  return { dir, checkpoint };
}

const DAMAGE: [string, (checkpoint: string) => void, (checkpoint: string) => string][] = [
  ['flipped bits', (c) => flipBit(c), (c) => `pxl: ${c}/weights.bin: its SHA-256 does not match the one in manifest.json: the data is corrupt\n`],
  ['NaN weights', (c) => poison(c, 'head.out/weight'), (c) => `pxl: ${c} holds NaN or infinite values (head.out/weight): the state had diverged when it was written; it cannot be trained on or sampled from, use an earlier checkpoint\n`],
  ['invalid JSON in the manifest', (c) => writeFileSync(join(c, 'manifest.json'), '{"format": '), (c) => `pxl: ${c}/manifest.json: not valid JSON (`],
  ['a negative step', (c) => writeManifest(c, { ...readManifest(c), position: { ...readManifest(c).position, step: -1 } }), (c) => `pxl: ${c}/manifest.json: not a valid checkpoint manifest: position.step must be >= 0\n`],
];

describe.each(DAMAGE)('a checkpoint with %s', (_what, damage, message) => {
  it('is refused by pxl sample: exit 2, one line naming the file, no image', () => {
    const { dir, checkpoint } = damagedRun(damage);
    const out = join(root, `sample-${copies}.png`);
    const r = pxl(['sample', dir, '--checkpoint', 'last', '--out', out]);
    expect(r.status).toBe(2);
    expect(r.stderr.startsWith(message(checkpoint)), r.stderr).toBe(true);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(out)).toBe(false);
  });

  it('is refused by pxl run --resume: exit 2, metrics.jsonl untouched', () => {
    const { dir, checkpoint } = damagedRun(damage);
    const metrics = readFileSync(join(dir, 'metrics.jsonl'));
    const r = pxl(['run', '--resume', dir]);
    expect(r.status).toBe(2);
    expect(r.stderr.startsWith(message(checkpoint)), r.stderr).toBe(true);
    expect(readFileSync(join(dir, 'metrics.jsonl')).equals(metrics)).toBe(true);
    expect(existsSync(join(dir, 'summary.json'))).toBe(false);
  });
});

describe('a checkpoint written before checksums', () => {
  it('samples with a warning that it cannot be checked', () => {
    const { dir, checkpoint } = damagedRun((c) => {
      const { weights: _, ...old } = readManifest(c);
      writeManifest(c, old);
    });
    const out = join(root, 'old.png');
    const r = pxl(['sample', dir, '--checkpoint', 'last', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    // A slow machine adds the sampler's progress lines; the messages are what is checked.
    const messages = r.stderr.split('\n').filter((l) => !l.startsWith('sampling '));
    expect(messages.join('\n')).toBe(`pxl: warning: ${checkpoint} was written before checkpoints carried a checksum: its data cannot be checked for corruption\n`);
    expect(existsSync(out)).toBe(true);
  });
});
