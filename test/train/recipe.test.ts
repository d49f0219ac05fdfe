// The training recipe's pieces in a run: the learning rate of every step, decoupled weight
// decay, clipping by global norm, skipping a non-finite gradient, and the averaged weights.
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkpointName, loadCheckpoint, readCheckpoint } from '../../src/checkpoint/checkpoint.js';
import type { RunEvent } from '../../src/events/run-events.js';
import { runExperiment, type PreparedRun } from '../../src/app/run.js';
import { layerOps } from '../../src/backend/layer-ops.js';
import { PixelCNN } from '../../src/model/pixelcnn.js';
import { FusedAdam } from '../../src/train/adam.js';
import { applyUpdate } from '../../src/train/optimizer.js';
import { WeightAverage } from '../../src/train/weight-average.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const TINY = join(ROOT, 'test/fixtures/tiny.yaml');
type Step = Extract<RunEvent, { type: 'step' }>;

afterEach(() => vi.restoreAllMocks());

async function tinyRun(sets: string[], runsDir = tempDir()) {
  const events: RunEvent[] = [];
  let prepared: PreparedRun | undefined;
  const summary = await runExperiment({
    file: TINY, sets: ['train.sample_every=0', ...sets], runsDir, stop: { requested: false },
    listeners: [(e) => void events.push(e)], onPrepared: (p) => (prepared = p),
  });
  return { summary, events, steps: events.filter((e): e is Step => e.type === 'step'), prepared: prepared! };
}

describe('decoupled weight decay', () => {
  it('FusedAdam: a zero gradient still shrinks the weights by lr x wd, and the moments stay zero', async () => {
    const w = tf.variable(tf.tensor1d([1, -2]), true, 'wd-test-a');
    const adam = new FusedAdam(0.1, 0.9, 0.999, 1e-8, 0.5);
    applyUpdate(adam, [{ name: w.name, tensor: tf.zeros([2]) }], 0.1, 0.5);
    expect(Array.from(await w.data())).toEqual([Math.fround(0.95), Math.fround(-1.9)]);
    const [, m, v] = await adam.getWeights();
    expect(Array.from(await m.tensor.data())).toEqual([0, 0]);
    expect(Array.from(await v.tensor.data())).toEqual([0, 0]);
    adam.dispose();
    w.dispose();
  });

  it('FusedAdam: the update is Adam\'s step added to the decayed weights', async () => {
    const g = tf.tensor1d([0.3, -0.7]);
    const plain = tf.variable(tf.tensor1d([1, -2]), true, 'wd-test-plain');
    const decayed = tf.variable(tf.tensor1d([1, -2]), true, 'wd-test-decayed');
    new FusedAdam(0.1, 0.9, 0.999, 1e-8).applyGradients([{ name: plain.name, tensor: g }]);
    new FusedAdam(0.1, 0.9, 0.999, 1e-8, 0.5).applyGradients([{ name: decayed.name, tensor: g }]);
    // Adam's first step is -lr * sign(g) (to epsilon): 1 - 0.1 and -2 + 0.1; the decay takes 5 % of the old weights.
    const a = await plain.data();
    const b = await decayed.data();
    expect(a[0]).toBeCloseTo(0.9, 5);
    expect(a[1]).toBeCloseTo(-1.9, 5);
    expect(b[0] - a[0]).toBeCloseTo(-0.05, 6);
    expect(b[1] - a[1]).toBeCloseTo(0.1, 6);
  });

  it('sgd: the weights are decayed, then the gradient step is added', async () => {
    const w = tf.variable(tf.tensor1d([1]), true, 'wd-test-sgd');
    applyUpdate(tf.train.sgd(1), [{ name: w.name, tensor: tf.tensor1d([0.5]) }], 0.1, 0.5);
    expect((await w.data())[0]).toBeCloseTo(1 * 0.95 - 0.1 * 0.5, 6);
  });
});

describe('the averaged weights', () => {
  it('average with decay min(decay, (1 + t) / (10 + t)), and stand in for the trained ones only inside withAveraged', async () => {
    const v = tf.variable(tf.tensor1d([0, 10]), true, 'ema-test');
    const average = new WeightAverage({ state: () => [v] } as unknown as PixelCNN, 0.5);
    expect(average.decayAt(1)).toBe(Math.fround(2 / 11));
    expect(average.decayAt(100)).toBe(0.5);
    v.assign(tf.tensor1d([11, 10]));
    average.update(1); // 2/11 of the first weights, 9/11 of these
    const inside = await average.withAveraged(async () => Array.from(await v.data()));
    expect(inside[0]).toBeCloseTo(9, 5);
    expect(inside[1]).toBeCloseTo(10, 5);
    expect(Array.from(await v.data())).toEqual([11, 10]);
    average.update(100); // decay 0.5: halfway to the weights
    expect((await average.withAveraged(async () => v.data()))[0]).toBeCloseTo(10, 5);
    average.dispose();
  });

  it('are stored in every checkpoint, evaluated and named as such in the eval events and the summary', { timeout: 120_000 }, async () => {
    const { summary, events, prepared } = await tinyRun(['train.ema={decay: 0.9}', 'dataset.validation=16']);
    expect(summary.status, summary.message).toBe('finished');
    expect(summary.evaluated_weights).toBe('averaged');
    const evals = events.filter((e) => e.type === 'eval');
    expect(evals.length).toBeGreaterThan(0);
    expect(evals.every((e) => e.type === 'eval' && e.averaged === true)).toBe(true);
    for (const name of [checkpointName(4), checkpointName(8), 'best']) {
      const { manifest } = readCheckpoint(join(prepared.paths.checkpoints, name));
      expect(manifest.averaged?.map((e) => e.name)).toEqual(manifest.model.map((e) => e.name));
    }
    // The averaged weights differ from the trained ones, and loading puts either into a model.
    const path = join(prepared.paths.checkpoints, checkpointName(8));
    const { manifest, data } = readCheckpoint(path);
    const values = (entries: { name: string; offset: number; shape: number[] }[]) => {
      const e = entries.find((x) => x.name === 'head.out/weight')!;
      return Array.from(data.subarray(e.offset, e.offset + e.shape.reduce((a, b) => a * b, 1)));
    };
    expect(values(manifest.averaged!)).not.toEqual(values(manifest.model));
    const model = new PixelCNN(prepared.experiment.model, prepared.model.image, 0);
    for (const [choice, entries] of [['trained', manifest.model], ['averaged', manifest.averaged!]] as const) {
      const loaded = loadCheckpoint(path, model, choice);
      loaded.optimizerWeights.forEach((w) => w.tensor.dispose());
      expect(Array.from(await model.head.out.weight.data())).toEqual(values(entries));
    }
    model.dispose();
  });

  it('are off by default: the summary says the trained weights were evaluated', { timeout: 120_000 }, async () => {
    const { summary, events } = await tinyRun([]);
    expect(summary.evaluated_weights).toBe('trained');
    expect(events.filter((e) => e.type === 'eval').every((e) => e.type === 'eval' && e.averaged === false)).toBe(true);
  });
});

describe('the learning rate and the gradient norm of every step', () => {
  it('a cosine schedule with a warmup of 2 over 8 steps: the rates of the step events', { timeout: 120_000 }, async () => {
    const { steps, summary } = await tinyRun(['train.lr_schedule={name: cosine, warmup: 2, min_lr: 0.001}']);
    expect(summary.status, summary.message).toBe('finished');
    // base 0.01: 0.005, 0.01, then 0.001 + 0.009 * (1 + cos(pi * t / 6)) / 2 for t = 1 … 5
    const cosine = (t: number) => 0.001 + 0.009 * 0.5 * (1 + Math.cos((Math.PI * t) / 6));
    const expected = [0.005, 0.01, 0.01, cosine(1), cosine(2), cosine(3), cosine(4), cosine(5)];
    steps.forEach((s, i) => expect(s.learningRate).toBeCloseTo(expected[i], 12));
    expect(steps.every((s) => s.gradNorm === undefined)).toBe(true);
  });

  it('grad_clip: every update gets gradients of global norm at most the clip, and the norm before clipping is reported', { timeout: 120_000 }, async () => {
    const received: number[] = [];
    const original = FusedAdam.prototype.applyGradients;
    vi.spyOn(FusedAdam.prototype, 'applyGradients').mockImplementation(function (this: FusedAdam, grads) {
      if (Array.isArray(grads)) received.push(Math.sqrt(grads.reduce((n, g) => n + tf.sum(tf.square(g.tensor)).dataSync()[0], 0)));
      return original.call(this, grads);
    });
    const { steps, summary } = await tinyRun(['train.grad_clip=0.05']);
    expect(summary.status, summary.message).toBe('finished');
    expect(steps).toHaveLength(8);
    expect(steps.every((s) => s.gradNorm !== undefined && s.gradNorm > 0.05)).toBe(true);
    expect(received).toHaveLength(8);
    received.forEach((n) => expect(n).toBeCloseTo(0.05, 5));
  });
});

/** Makes the gradients of the `at`-th computation NaN, as a float32 overflow in the backward pass would. */
function spoilGradients(at: number): void {
  const original = FusedAdam.prototype.computeGradients;
  let calls = 0;
  vi.spyOn(FusedAdam.prototype, 'computeGradients').mockImplementation(function (this: FusedAdam, f, varList) {
    const r = original.call(this, f, varList);
    if (++calls !== at) return r;
    const grads = Object.fromEntries(Object.entries(r.grads).map(([name, g]) => [name, tf.mul(g, Number.NaN)]));
    return { value: r.value, grads };
  });
}

describe('model.dropout in a run', () => {
  it('draws new masks at every step, the same ones in a second run of the same seed, and none in evaluation', { timeout: 180_000 }, async () => {
    const calls = async () => {
      const keys: { rate: number; key: number; batch: number }[] = [];
      const original = layerOps.dropout;
      vi.spyOn(layerOps, 'dropout').mockImplementation((x, rate, key) => {
        keys.push({ rate, key, batch: x.shape[0] });
        return original(x, rate, key);
      });
      const run = await tinyRun(['model.dropout=0.5', 'train.eval_every=2']);
      vi.restoreAllMocks();
      return { keys, run };
    };
    const first = await calls();
    expect(first.run.summary.status, first.run.summary.message).toBe('finished');
    // Before training, the memory plan measures a step of a throwaway model at batch 1 and 2; then
    // one residual block: one mask per training step (batches of 8), none for the 4 evaluations.
    expect(first.keys.map((k) => k.batch)).toEqual([1, 2, 8, 8, 8, 8, 8, 8, 8, 8]);
    const training = first.keys.slice(2);
    expect(training.every((k) => k.rate === 0.5)).toBe(true);
    expect(new Set(training.map((k) => k.key)).size).toBe(8);
    const second = await calls();
    expect(second.keys).toEqual(first.keys);
    expect(second.run.steps.map((s) => s.loss)).toEqual(first.run.steps.map((s) => s.loss));
    // Without dropout the first step (same weights, same batch) has another loss.
    const plain = await tinyRun([]);
    expect(plain.steps[0].loss).not.toBe(first.run.steps[0].loss);
  });
});

describe('on_nonfinite_gradient: skip', () => {
  it('skips the update of a step with a NaN gradient, counts it, trains on, and resumes exactly after it', { timeout: 240_000 }, async () => {
    spoilGradients(3);
    const runsDir = tempDir();
    const { summary, events, steps, prepared } = await tinyRun(['train.on_nonfinite_gradient=skip', 'train.checkpoint_every=2', 'train.keep_checkpoints=10'], runsDir);
    vi.restoreAllMocks();
    expect(summary.status, summary.message).toBe('finished');
    expect(summary.skipped_steps).toBe(1);
    expect(steps.map((s) => s.step)).toEqual([1, 2, 4, 5, 6, 7, 8]);
    expect(events.filter((e) => e.type === 'warning').map((e) => e.type === 'warning' && e.message)).toContain(
      'step 3 skipped: its gradient is not finite (global norm NaN); the update was not applied (train.on_nonfinite_gradient: skip; 1 skipped so far)',
    );
    // The optimiser took 7 steps of 8: the checkpoints say so and load.
    const { manifest, data } = readCheckpoint(join(prepared.paths.checkpoints, checkpointName(8)));
    expect(manifest.position.skippedSteps).toBe(1);
    expect(data[manifest.optimizer.tensors[0].offset]).toBe(7);

    // Crashed right after the step-4 checkpoint: the resumed run repeats steps 5 to 8 exactly.
    const dir = join(runsDir, 'from-4');
    cpSync(prepared.paths.dir, dir, { recursive: true });
    for (const name of readdirSync(join(dir, 'checkpoints'))) if (/^step-/.test(name) && name > checkpointName(4)) rmSync(join(dir, 'checkpoints', name), { recursive: true });
    writeFileSync(join(dir, 'checkpoints', 'latest'), `${checkpointName(4)}\n`);
    rmSync(join(dir, 'summary.json'));
    const resumed: RunEvent[] = [];
    const end = await runExperiment({ resume: dir, runsDir, stop: { requested: false }, listeners: [(e) => void resumed.push(e)] });
    expect(end.status, end.message).toBe('finished');
    expect(end.skipped_steps).toBe(1);
    const losses = (list: RunEvent[]) => list.filter((e): e is Step => e.type === 'step' && e.step > 4).map((e) => [e.step, e.loss]);
    expect(losses(resumed)).toEqual(losses(events));
    const final = (d: string) => readFileSync(join(d, 'checkpoints', checkpointName(8), 'weights.bin'));
    expect(final(dir).equals(final(prepared.paths.dir))).toBe(true);
  });

  it('stop (the default) with a norm to check: the run fails at the step, without applying it', { timeout: 120_000 }, async () => {
    spoilGradients(3);
    const { summary } = await tinyRun(['train.grad_clip=1']);
    expect(summary.status).toBe('failed');
    expect(summary.steps).toBe(2);
    expect(summary.message).toBe('the gradient of step 3 is not finite (global norm NaN) though its loss was finite; stopped without applying it. No checkpoint had been written.');
  });
});
