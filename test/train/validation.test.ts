// Honest model selection: a validation set held out of the training images, the best
// checkpoint chosen on it and kept apart, test bits/dim evaluated once at the end.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { loadExperiment } from '../../src/config/load.js';
import { DatasetError, type Dataset } from '../../src/data/index.js';
import { splitValidation } from '../../src/data/split.js';
import type { RunEvent, RunSummary } from '../../src/events/run-events.js';
import { bitsPerDim } from '../../src/model/loss.js';
import { runExperiment, prepareExperiment, type PreparedRun } from '../../src/app/run.js';
import { testLoss } from '../../src/train/trainer.js';
import { pxl, ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const TINY = join(ROOT, 'test/fixtures/tiny.yaml');
process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';

/** 20 one-pixel images whose value is their index: which image went where can be read off. */
function numbered(count = 20): Dataset {
  const images = Uint8Array.from({ length: count }, (_, i) => i);
  return { name: 'numbered', source: '-', height: 1, width: 1, channels: 1, train: { count, images, labels: null }, test: { count: 2, images: new Uint8Array(2), labels: null } };
}

describe('the validation split', () => {
  it('is fixed by the seed, disjoint from the training images, and together they are all of them', () => {
    const a = splitValidation(numbered(), 5, 7);
    const again = splitValidation(numbered(), 5, 7);
    const other = splitValidation(numbered(), 5, 8);
    expect(a.split!.indices).toEqual(again.split!.indices);
    expect(a.split!.indices).not.toEqual(other.split!.indices);
    const held = Array.from(a.validation!.images);
    const trained = Array.from(a.train.images);
    expect(held).toEqual(a.split!.indices); // the images are those of the recorded indices
    expect(held).toHaveLength(5);
    expect(trained).toHaveLength(15);
    expect(trained.filter((v) => held.includes(v))).toEqual([]);
    expect([...held, ...trained].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(a.split).toMatchObject({ count: 5, seed: 7, of: 20, train: 15, sha256: createHash('sha256').update(Uint8Array.from(held)).digest('hex') });
  });

  it('none keeps the dataset as it is', () => {
    const d = splitValidation(numbered(), 'none', 7);
    expect([d.validation, d.split, d.train.count]).toEqual([null, null, 20]);
  });

  it('that leaves nothing to train on is bad input, named by its setting', () => {
    expect(() => splitValidation(numbered(), 20, 7)).toThrow(DatasetError);
    expect(() => splitValidation(numbered(), 20, 7)).toThrow(/^dataset\.validation: 20 validation images leave none of the 20 training images to train on/);
  });

  it('as large as train_limit is refused at its line by pxl validate (exit 2)', () => {
    const r = pxl(['validate', TINY, '--set', 'dataset.validation=64']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/dataset\.validation: expected fewer validation images than dataset\.train_limit \(64\), so that some are left to train on; found 64/);
  });
});

type Eval = Extract<RunEvent, { type: 'eval' }>;

async function tinyRun(sets: string[]) {
  const events: RunEvent[] = [];
  let prepared: PreparedRun | undefined;
  const summary = await runExperiment({
    file: TINY, sets, runsDir: tempDir(), stop: { requested: false }, listeners: [(e) => void events.push(e)], onPrepared: (p) => (prepared = p),
  });
  return { summary, events, prepared: prepared! };
}

// 64 training images, 16 held out: 48 trained on, 6 steps an epoch; an evaluation every 2 steps.
// A learning rate this high makes validation bits/dim rise after step 2 (1.72, 2.10, 1.98 here):
// the best checkpoint is not the last weights.
const WITH_VALIDATION = [
  'dataset.validation=16', 'train.steps=6', 'train.eval_every=2', 'train.checkpoint_every=2', 'train.keep_checkpoints=1', 'train.sample_every=0',
  'train.optimizer.learning_rate=0.2',
];

describe('a run with a validation set', () => {
  it('evaluates on it, chooses and keeps its best checkpoint on it, and tests the best and the last weights once at the end', { timeout: 120_000 }, async () => {
    const { summary, events, prepared } = await tinyRun(WITH_VALIDATION);
    expect(summary.status, summary.message).toBe('finished');
    expect(prepared.data.train.count).toBe(48);
    expect(prepared.data.validation!.count).toBe(16);
    const evals = events.filter((e): e is Eval => e.type === 'eval');
    const periodic = evals.filter((e) => e.set === 'validation');
    expect(periodic.map((e) => [e.step, e.weights, e.images])).toEqual([2, 4, 6].map((s) => [s, 'current', 16]));
    // Test: exactly twice, at the end: the last weights, then the best checkpoint's.
    expect(evals.filter((e) => e.set === 'test').map((e) => [e.step, e.weights, e.images])).toEqual([[6, 'current', 16], [6, 'best', 16]]);
    const bits = periodic.map((e) => e.bitsPerDim);
    const argmin = periodic[bits.indexOf(Math.min(...bits))].step;
    expect(argmin).toBeLessThan(6); // else best and last would be the same weights
    expect(summary).toMatchObject({ best_chosen_on: 'validation', best_step: argmin, best_validation_bits_per_dim: Math.min(...bits), validation_bits_per_dim: bits.at(-1) });
    expect(summary.test_bits_per_dim).toBe(evals.find((e) => e.set === 'test' && e.weights === 'current')!.bitsPerDim);
    expect(summary.test_bits_per_dim_best_checkpoint).toBe(evals.find((e) => e.weights === 'best')!.bitsPerDim);
    expect(summary.best_test_bits_per_dim).toBe(summary.test_bits_per_dim_best_checkpoint);
    expect(summary.best_test_bits_per_dim).not.toBe(summary.test_bits_per_dim);

    // checkpoints/best is of the argmin step and survives keep_checkpoints: 1; its test bits/dim, evaluated here, is the summary's.
    const { checkpoints, dir } = prepared.paths;
    expect(readdirSync(checkpoints).sort()).toEqual(['best', 'latest', 'step-00000006']);
    const best = JSON.parse(readFileSync(join(checkpoints, 'best', 'manifest.json'), 'utf8'));
    expect(best.position.step).toBe(argmin);
    const { experiment } = loadExperiment(TINY, WITH_VALIDATION);
    const fresh = await prepareExperiment(experiment);
    loadCheckpoint(join(checkpoints, 'best'), fresh.model).optimizerWeights.forEach((w) => w.tensor.dispose());
    expect(bitsPerDim(await testLoss(fresh.model, fresh.data.test, 16, 8))).toBeCloseTo(summary.best_test_bits_per_dim!, 6);
    fresh.model.dispose();

    // validation.json records the split; the run store's summary says the same as the returned one.
    const split = JSON.parse(readFileSync(join(dir, 'validation.json'), 'utf8'));
    expect(split).toMatchObject({ count: 16, seed: 3, of: 64, train: 48 });
    expect(split.indices).toEqual(splitValidation({ ...prepared.data, train: { count: 64, images: new Uint8Array(64), labels: null } }, 16, 3).split!.indices);
    expect(JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as RunSummary).toEqual(summary);
    // The final grid is drawn from the best checkpoint.
    const sample = events.find((e) => e.type === 'sample');
    expect(sample).toMatchObject({ step: 6, weightsStep: argmin });
  });
});

describe('a run without a validation set', () => {
  it('says at the start and in its summary that its best is chosen on the test set', { timeout: 60_000 }, async () => {
    const { summary, events, prepared } = await tinyRun([]);
    expect(summary.status).toBe('finished');
    const warnings = events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message);
    expect(warnings.some((m) => m.startsWith('no validation set (dataset.validation: none): evaluations and the best checkpoint use the test set'))).toBe(true);
    expect(summary.best_chosen_on).toBe('test');
    const evals = events.filter((e): e is Eval => e.type === 'eval');
    expect(evals.map((e) => [e.step, e.set, e.weights])).toEqual([[4, 'test', 'current'], [8, 'test', 'current']]);
    expect(summary.best_test_bits_per_dim).toBe(Math.min(...evals.map((e) => e.bitsPerDim)));
    expect(readdirSync(prepared.paths.checkpoints)).toContain('best');
  });
});
