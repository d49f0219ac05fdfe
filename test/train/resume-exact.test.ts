// Resume is exact from every checkpoint, not only from the one a stop writes: a run that
// lost everything after any periodic checkpoint (as a crash or SIGKILL leaves it) and is
// resumed reaches bit for bit the weights, optimiser state, step losses and test bits/dim
// of the uninterrupted run. On the default test backend (cpu), wasm and the native one, with a
// validation set, and for a class-conditional model, whose batches bring their labels along;
// with the whole training recipe on (schedule, weight decay, clipping, averaged weights, dropout) on wasm and native.
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkpointName, readCheckpoint } from '../../src/checkpoint/checkpoint.js';
import type { RunEvent } from '../../src/events/run-events.js';
import { runExperiment, type PreparedRun } from '../../src/app/run.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const TINY = join(ROOT, 'test/fixtures/tiny.yaml');
process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
// As test/train/engine.test.ts: PXL_NATIVE=0 leaves the native backend out where it cannot be built.
const BACKENDS = process.env.PXL_NATIVE === '0' ? ['cpu', 'wasm'] : ['cpu', 'wasm', 'tensorflow'];

// A checkpoint and an evaluation every 2 of 12 steps (8 training images of 64 per step: an
// epoch is 8 steps, so resumes fall inside both epochs); every checkpoint is kept; samples at the end.
const SETTINGS = ['train.steps=12', 'train.checkpoint_every=2', 'train.keep_checkpoints=100', 'train.eval_every=2', 'train.sample_every=0'];
const FINAL_SAMPLE = 'samples/step-00000012.png';
const CONDITIONAL = ['model.conditioning={type: class, classes: 10}', 'sample.classes=[3, 7]'];

type Step = Extract<RunEvent, { type: 'step' }>;
type Eval = Extract<RunEvent, { type: 'eval' }>;
const stepsOf = (events: RunEvent[]) => events.filter((e): e is Step => e.type === 'step').map((e) => [e.step, e.epoch, e.epochStep, e.loss, e.bitsPerDim]);
const evalsOf = (events: RunEvent[]) => events.filter((e): e is Eval => e.type === 'eval').map((e) => [e.step, e.epoch, e.set, e.weights, e.averaged, e.loss, e.bitsPerDim, e.bestBitsPerDim, e.bestStep, e.images]);
const ratesOf = (events: RunEvent[]) => events.filter((e): e is Step => e.type === 'step').map((e) => [e.step, e.learningRate, e.gradNorm]);
const checkpointsOf = (events: RunEvent[]) => events.filter((e) => e.type === 'checkpoint').map((e) => e.step);

/** A copy of a finished run as a crash right after checkpoint `step` would leave it. */
function crashedCopy(runDir: string, step: number, into: string): string {
  const dir = join(into, `from-${step}`);
  cpSync(runDir, dir, { recursive: true });
  const checkpoints = join(dir, 'checkpoints');
  for (const name of readdirSync(checkpoints)) if (/^step-\d+$/.test(name) && name > checkpointName(step)) rmSync(join(checkpoints, name), { recursive: true });
  writeFileSync(join(checkpoints, 'latest'), `${checkpointName(step)}\n`);
  // A best checkpoint of a later step did not exist yet at the crash: the resumed run must write it.
  const best = join(checkpoints, 'best', 'manifest.json');
  if (existsSync(best) && JSON.parse(readFileSync(best, 'utf8')).position.step > step) rmSync(join(checkpoints, 'best'), { recursive: true });
  rmSync(join(dir, 'summary.json'));
  rmSync(join(dir, FINAL_SAMPLE));
  return dir;
}

describe.each(BACKENDS)('resuming on the %s backend', (backend) => {
  it('reproduces the uninterrupted run exactly from every periodic checkpoint', { timeout: 300_000 }, () => reproducesFromEveryCheckpoint(backend, []));
});

// 16 of the 64 training images held out: 48 trained on, an epoch is 6 steps. The learning rate
// makes validation bits/dim go up and down, so the best checkpoint is an earlier one.
const WITH_VALIDATION = ['dataset.validation=16', 'train.optimizer.learning_rate=0.2'];
describe('resuming a run with a validation set', () => {
  it('reproduces the uninterrupted run, its best checkpoint and its final tests from every periodic checkpoint', { timeout: 300_000 }, () =>
    reproducesFromEveryCheckpoint('cpu', WITH_VALIDATION));
});

// The whole recipe at once: a cosine schedule after a warmup, decoupled weight decay, clipping
// (at a norm the tiny model's gradients exceed), averaged weights, skipping on, dropout in the
// blocks (the masks of each step drawn again on resume); with a validation set.
const RECIPE = [
  'dataset.validation=16', 'train.lr_schedule={name: cosine, warmup: 3, min_lr: 0.001}', 'train.optimizer.weight_decay=0.1',
  'train.grad_clip=0.2', 'train.ema={decay: 0.9}', 'train.on_nonfinite_gradient=skip', 'model.dropout=0.3',
];
const RECIPE_BACKENDS = BACKENDS.filter((b) => b !== 'cpu');
describe.each(RECIPE_BACKENDS)('resuming a run with the whole training recipe on the %s backend', (backend) => {
  it('reproduces the uninterrupted run exactly from every periodic checkpoint', { timeout: 300_000 }, () => reproducesFromEveryCheckpoint(backend, RECIPE));
});

describe('resuming a class-conditional run', () => {
  it('reproduces the uninterrupted run exactly from every periodic checkpoint', { timeout: 300_000 }, () => reproducesFromEveryCheckpoint('cpu', CONDITIONAL));
});

async function reproducesFromEveryCheckpoint(backend: string, extra: string[]): Promise<void> {
  {
    const runsDir = tempDir();
    const full: RunEvent[] = [];
    let prepared: PreparedRun | undefined;
    const summary = await runExperiment({
      file: TINY, sets: [`backend=${backend}`, ...SETTINGS, ...extra], runsDir, stop: { requested: false },
      listeners: [(e) => void full.push(e)], onPrepared: (p) => (prepared = p),
    });
    expect(summary.status, summary.message).toBe('finished');
    const checkpoints = prepared!.paths.checkpoints;
    expect(readdirSync(checkpoints).filter((n) => n.startsWith('step-'))).toHaveLength(6);
    const finalState = readFileSync(join(checkpoints, checkpointName(12), 'weights.bin'));
    const finalSample = readFileSync(join(prepared!.paths.dir, FINAL_SAMPLE));
    const bestState = readFileSync(join(checkpoints, 'best', 'weights.bin'));
    if (extra === WITH_VALIDATION) expect(summary.best_step).toBeLessThan(12);
    expect(summary.test_nll).toBe(extra === CONDITIONAL ? 'conditional' : 'unconditional');
    if (extra === RECIPE) {
      // Every ingredient is at work: averaged weights evaluated and stored, the norm above the clip.
      expect(summary.evaluated_weights).toBe('averaged');
      expect(full.some((e) => e.type === 'step' && e.gradNorm! > 0.2)).toBe(true);
      expect(readCheckpoint(join(checkpoints, checkpointName(12))).manifest.averaged).toBeDefined();
    }

    const differences: string[] = [];
    for (const from of [2, 4, 6, 8, 10]) {
      const dir = crashedCopy(prepared!.paths.dir, from, runsDir);
      const resumed: RunEvent[] = [];
      const end = await runExperiment({ resume: dir, runsDir, stop: { requested: false }, listeners: [(e) => void resumed.push(e)] });
      expect(end.status, end.message).toBe('finished');
      const expectSame = (what: string, a: unknown, b: unknown) => JSON.stringify(a) !== JSON.stringify(b) && differences.push(`from step ${from}: ${what}`);
      expectSame('step losses', stepsOf(resumed), stepsOf(full).filter(([s]) => s > from));
      expectSame('evaluations', evalsOf(resumed), evalsOf(full).filter(([s]) => (s as number) > from));
      expectSame('learning rates and gradient norms', ratesOf(resumed), ratesOf(full).filter(([s]) => (s as number) > from));
      expectSame('checkpoint steps', checkpointsOf(resumed), checkpointsOf(full).filter((s) => s > from));
      const figures = (x: typeof end) => [
        x.steps, x.epochs, x.train_bits_per_dim, x.test_bits_per_dim, x.best_test_bits_per_dim, x.best_step, x.best_chosen_on, x.best_validation_bits_per_dim,
        x.evaluated_weights, x.skipped_steps,
      ];
      expectSame('summary', figures(end), figures(summary));
      if (!readFileSync(join(dir, 'checkpoints', checkpointName(12), 'weights.bin')).equals(finalState)) differences.push(`from step ${from}: final weights and optimiser state`);
      if (!readFileSync(join(dir, FINAL_SAMPLE)).equals(finalSample)) differences.push(`from step ${from}: final sample grid`);
      if (!readFileSync(join(dir, 'checkpoints', 'best', 'weights.bin')).equals(bestState)) differences.push(`from step ${from}: best checkpoint`);
    }
    expect(differences).toEqual([]);
  }
}
