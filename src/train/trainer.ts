// train/: the training loop, the optimisers and the memory plan of a step.
//
// The training loop. It emits typed events and knows none of its subscribers
// (dashboard, reporters, run store, MLflow): see src/events/run-events.ts. What it writes
// goes where the RunFolder it is handed says (the run store's, from src/app/run.ts).
import * as tf from '@tensorflow/tfjs';
import type { Experiment } from '../config/types.js';
import { intervalSteps } from '../config/rules.js';
import { batchLabels, classToInput, EpochOrder, makeBatch } from '../data/batches.js';
import type { Dataset, ImageSet } from '../data/datasets.js';
import { oneHotLabels } from '../model/conditioning.js';
import { bitsPerDim, modelCrossEntropyMean, outputNllSum } from '../model/loss.js';
import type { PixelCNN } from '../model/pixelcnn.js';
import type { Sampler } from '../sample/sampler.js';
import { sampleRows } from '../sample/rows.js';
import { bestCheckpoint, loadCheckpoint, namedState, NonFiniteStateError, saveBestCheckpoint, saveCheckpoint, type TrainingPosition } from '../checkpoint/checkpoint.js';
import type { EvalEvent, EvalSet, RunEvent, RunStartEvent, RunStatus, RunSummary } from '../events/run-events.js';
import { learningRate, scheduleSteps } from './lr-schedule.js';
import { applyUpdate, makeOptimizer } from './optimizer.js';
import { WeightAverage } from './weight-average.js';

/** The run folder as the trainer needs it: its id and place, where checkpoints go, how samples are kept. */
export interface RunFolder {
  id: string;
  dir: string;
  checkpoints: string;
  /** Stores the images sampled at `step` (classes [sample.count, height, width, channels]); returns where they went. */
  saveSamples(step: number, classes: Int32Array): string;
}

export interface TrainOptions {
  experiment: Experiment;
  /** With `validation`, the held-out training images evaluations and the best checkpoint use (src/data/split.ts). */
  data: Dataset & { validation?: ImageSet | null };
  model: PixelCNN;
  paths: RunFolder;
  sampler: Sampler;
  /** Fields of the start event the trainer cannot know (backend, device). */
  start: Pick<RunStartEvent, 'backend' | 'backendNote' | 'device'>;
  emit: (e: RunEvent) => void;
  /** Emitted right after the start event: config warnings, backend fallbacks, tracking status. */
  notices?: RunEvent[];
  /** Set `requested` to stop after the current step with a checkpoint (SIGINT, `q`). */
  stop: { requested: boolean };
  /** Checkpoint folder to continue from. */
  resumeFrom?: string | null;
  /** Recompute blocks in the backward pass (see PixelCNN.forward). */
  recompute?: boolean;
  /**
   * For tests that kill a run at a known point: after this step (its evaluation and samples,
   * before its checkpoint) the run waits until stopped, then stops as a stop does.
   */
  holdAfterStep?: number | null;
}

interface Schedule {
  total: number;
  perEpoch: number;
  evalEvery: number;
  checkpointEvery: number;
  sampleEvery: number;
}

export function schedule(e: Experiment, trainCount: number): Schedule {
  const order = new EpochOrder(e.seed, trainCount, e.train.batch_size);
  const perEpoch = order.batchesPerEpoch;
  return {
    total: e.train.steps ?? e.train.epochs * perEpoch,
    perEpoch,
    evalEvery: intervalSteps(e.train.eval_every, perEpoch),
    checkpointEvery: intervalSteps(e.train.checkpoint_every, perEpoch),
    sampleEvery: intervalSteps(e.train.sample_every, perEpoch),
  };
}

const due = (step: number, every: number, total: number) => step === total || (every > 0 && step % every === 0);

/** Said at the start of a run without a validation set. */
export const BEST_ON_TEST_WARNING =
  'no validation set (dataset.validation: none): evaluations and the best checkpoint use the test set, so the best test bits/dim is chosen on the test set ' +
  'and is an optimistic estimate; set dataset.validation to a number of training images to hold out';

/** The test bits/dim evaluated at the end of a run with a validation set: of the last weights and of the best checkpoint. */
interface FinalTests {
  last: number | null;
  best: number | null;
}

/** Trains until the schedule ends, a stop is requested, or the loss stops being finite. */
export async function train(o: TrainOptions): Promise<RunSummary> {
  const { experiment: e, data, model } = o;
  const sched = schedule(e, data.train.count);
  const order = new EpochOrder(e.seed, data.train.count, e.train.batch_size);
  const optimizer = makeOptimizer(e.train.optimizer);
  const lrs = scheduleSteps(e, sched.perEpoch, sched.total);
  const average = e.train.ema.decay === null ? null : new WeightAverage(model, e.train.ema.decay);
  const startedAt = new Date();
  const { position: pos, warnings } = o.resumeFrom ? await resume(o.resumeFrom, model, optimizer, average) : { position: freshPosition(), warnings: [] };
  const resumedFrom = pos.step;
  const wallAtStart = pos.wallSeconds;
  const t0 = performance.now();
  const wall = () => wallAtStart + (performance.now() - t0) / 1000;
  const levels = e.model.color_levels;
  const emit = (ev: RunEvent) => o.emit(ev);

  emit({
    type: 'start', time: Date.now(), runId: o.paths.id, runDir: o.paths.dir, experiment: e.name, description: e.description,
    config: e as unknown as Record<string, unknown>, params: model.paramCount(), ...o.start,
    dataset: {
      name: data.name, train: data.train.count, test: data.test.count, height: data.height, width: data.width, channels: data.channels,
      ...(data.validation ? { validation: data.validation.count } : {}),
    },
    totalSteps: sched.total, stepsPerEpoch: sched.perEpoch, resumedFromStep: pos.step,
  });
  for (const notice of o.notices ?? []) emit(notice);
  for (const message of warnings) emit({ type: 'warning', time: Date.now(), message });
  if (!data.validation) emit({ type: 'warning', time: Date.now(), message: BEST_ON_TEST_WARNING });
  const finals: FinalTests = { last: null, best: null };

  let status: RunStatus = 'finished';
  let message = '';
  let lastCheckpointStep = pos.step;
  let ema: number | null = null;
  const kept = () => (lastCheckpointStep > 0 ? `The last good checkpoint (step ${lastCheckpointStep}) is kept.` : 'No checkpoint had been written.');
  /** Saves a checkpoint; false (and the run failed) when the state is not finite, which is never saved. */
  const checkpoint = async (): Promise<boolean> => {
    pos.wallSeconds = wall();
    try {
      const path = await withAveragedState(average, (avg) => saveCheckpoint(o.paths.checkpoints, model, optimizer, pos, e.seed, e.train.keep_checkpoints, avg));
      lastCheckpointStep = pos.step;
      emit({ type: 'checkpoint', time: Date.now(), step: pos.step, path });
      return true;
    } catch (err) {
      if (!(err instanceof NonFiniteStateError)) throw err;
      status = 'failed';
      const weights = new Set(namedState(model).map(([name]) => name));
      const why = err.tensors.some((t) => weights.has(t)) ? brokenByUpdate(pos.step, err.tensors) : brokenOptimizer(pos.step, err.tensors);
      message = `${why}; stopped without saving it. ${kept()}`;
      return false;
    }
  };
  /** Keeps the weights just evaluated as checkpoints/best; false (and the run failed) when the state is not finite. */
  const saveBest = async (): Promise<boolean> => {
    pos.wallSeconds = wall();
    try {
      const path = await withAveragedState(average, (avg) => saveBestCheckpoint(o.paths.checkpoints, model, optimizer, pos, e.seed, avg));
      emit({ type: 'checkpoint', time: Date.now(), step: pos.step, path, best: true });
      return true;
    } catch (err) {
      if (!(err instanceof NonFiniteStateError)) throw err;
      status = 'failed';
      message = `${brokenOptimizer(pos.step, err.tensors)}; stopped without saving it. ${kept()}`;
      return false;
    }
  };

  try {
    while (pos.step < sched.total) {
      const stepStart = performance.now();
      const lr = learningRate(lrs, pos.step);
      const computed = gradientStep(model, optimizer, data.train, order.forStep(pos.step), levels, o.recompute ?? false, pos.step);
      const { value, norm } = await lossAndNorm(computed, e.train.grad_clip !== null || e.train.on_nonfinite_gradient === 'skip');
      const finite = Number.isFinite(value) && (norm === null || Number.isFinite(norm));
      if (!finite && e.train.on_nonfinite_gradient === 'skip') {
        // Nothing is applied: weights, moments and average stay; the data and the schedule move on.
        tf.dispose(computed.grads.map((g) => g.tensor));
        advance(pos, sched.perEpoch, e.train.batch_size, (performance.now() - stepStart) / 1000, pos.lastTrainBitsPerDim);
        pos.skippedSteps = (pos.skippedSteps ?? 0) + 1;
        emit({ type: 'warning', time: Date.now(), message: skippedMessage(pos.step, value, norm, pos.skippedSteps) });
      } else {
        if (!finite) {
          // The update is not applied: the weights are still those the step began with, which tells why.
          tf.dispose(computed.grads.map((g) => g.tensor));
          status = 'failed';
          message = !Number.isFinite(value)
            ? `${await whyLossNotFinite(model, value, pos.step + 1, resumedFrom)}; stopped. ${kept()}`
            : `the gradient of step ${pos.step + 1} is not finite (global norm ${norm}) though its loss was finite; stopped without applying it. ${kept()}`;
          break;
        }
        const grads = clipped(computed.grads, norm, e.train.grad_clip);
        applyUpdate(optimizer, grads, lr, e.train.optimizer.weight_decay);
        tf.dispose(grads.map((g) => g.tensor));
        const seconds = (performance.now() - stepStart) / 1000;
        advance(pos, sched.perEpoch, e.train.batch_size, seconds, bitsPerDim(value));
        average?.update(pos.step);
        const rate = e.train.batch_size / seconds;
        ema = ema === null ? rate : 0.9 * ema + 0.1 * rate;
        emit({
          type: 'step', time: Date.now(), step: pos.step, epoch: Math.floor((pos.step - 1) / sched.perEpoch),
          epochStep: ((pos.step - 1) % sched.perEpoch) + 1, loss: value, bitsPerDim: bitsPerDim(value),
          imagesPerSecond: ema, stepsPerSecond: ema / e.train.batch_size, learningRate: lr, ...(norm === null ? {} : { gradNorm: norm }),
        });
      }
      const [evalDue, sampleDue, checkpointDue] = [sched.evalEvery, sched.sampleEvery, sched.checkpointEvery].map((every) => due(pos.step, every, sched.total));
      if (evalDue || sampleDue) {
        // A finite loss does not make the update finite (a non-finite gradient): no evaluation or samples of broken weights.
        const broken = await nonFiniteVariables(model);
        if (broken.length) {
          status = 'failed';
          message = `${brokenByUpdate(pos.step, broken)}; stopped. ${kept()}`;
          break;
        }
      }
      if (evalDue && (await averaged(average, () => evaluate(o, pos, sched.perEpoch, average !== null))) && !(await saveBest())) break;
      // The final grid is drawn after the loop, from the best checkpoint.
      if (sampleDue && pos.step < sched.total) await averaged(average, () => sample(o, pos.step));
      if (pos.step === o.holdAfterStep) await untilStopped(o.stop);
      if ((checkpointDue || o.stop.requested) && !(await checkpoint())) break;
      if (o.stop.requested && pos.step < sched.total) {
        status = 'interrupted';
        message = `stopped at step ${pos.step} of ${sched.total}; resume with: pxl run --resume ${o.paths.dir}`;
        break;
      }
      await new Promise(setImmediate); // let signals, keys and the dashboard through
    }
    if (status === 'finished' && pos.step >= sched.total && (lastCheckpointStep === pos.step || (await checkpoint()))) {
      Object.assign(finals, await finish(o, pos, sched.perEpoch, average));
    }
  } catch (err) {
    status = 'failed';
    message = describeFailure(err);
  } finally {
    optimizer.dispose();
    average?.dispose();
  }
  const summary = summarise(o, pos, status, message, startedAt, wall(), finals);
  emit({ type: 'end', time: Date.now(), status, message, summary });
  return summary;
}

/** Polls the stop request; the event loop runs meanwhile (the tracker keeps sending). */
async function untilStopped(stop: { requested: boolean }): Promise<void> {
  while (!stop.requested) await new Promise((resolve) => setTimeout(resolve, 100));
}

function freshPosition(): TrainingPosition {
  return {
    step: 0, epoch: 0, epochStep: 0, bestTestBitsPerDim: null, lastTestBitsPerDim: null, bestStep: null, lastTrainBitsPerDim: null,
    wallSeconds: 0, trainSeconds: 0, imagesSeen: 0, skippedSteps: 0,
  };
}

async function resume(path: string, model: PixelCNN, optimizer: tf.Optimizer, average: WeightAverage | null): Promise<{ position: TrainingPosition; warnings: string[] }> {
  const { position, optimizerWeights, averaged, warnings } = loadCheckpoint(path, model);
  await optimizer.setWeights(optimizerWeights);
  tf.dispose(optimizerWeights.map((w) => w.tensor));
  if (average) {
    if (!averaged) throw new Error(`${path} holds no averaged weights, but train.ema is on: it was written by a run without weight averaging`);
    average.restore(averaged);
  }
  return { position, warnings };
}

/** Runs `fn` with the averaged weights in the model when there is an average, else with the trained ones. */
const averaged = <T>(average: WeightAverage | null, fn: () => Promise<T>): Promise<T> => (average ? average.withAveraged(fn) : fn());

/** Hands a checkpoint writer the averaged weights (or null) and frees them after. */
async function withAveragedState<T>(average: WeightAverage | null, write: (avg: tf.Tensor[] | null) => Promise<T>): Promise<T> {
  const tensors = average?.tensors() ?? null;
  try {
    return await write(tensors);
  } finally {
    if (tensors) tf.dispose(tensors);
  }
}

/**
 * The step's loss and, when clipping or skipping needs it, the global norm of its gradients
 * (the square root of the sum of every gradient's squares), read in one transfer. A
 * non-finite gradient makes the norm non-finite, so the norm tells whether to skip.
 */
async function lossAndNorm(step: { loss: tf.Scalar; grads: { tensor: tf.Tensor }[] }, withNorm: boolean): Promise<{ value: number; norm: number | null }> {
  if (!withNorm) {
    const value = (await step.loss.data())[0];
    step.loss.dispose();
    return { value, norm: null };
  }
  const both = tf.tidy(() => tf.stack([step.loss, tf.sqrt(tf.addN(step.grads.map((g) => tf.sum(tf.square(g.tensor)))))]));
  step.loss.dispose();
  const [value, norm] = await both.data();
  both.dispose();
  return { value, norm };
}

/** The gradients scaled down to a global norm of `clip` when theirs is above it (the originals are disposed then). */
function clipped(grads: { name: string; tensor: tf.Tensor }[], norm: number | null, clip: number | null): { name: string; tensor: tf.Tensor }[] {
  if (clip === null || norm === null || norm <= clip) return grads;
  const scale = Math.fround(clip / norm);
  const out = grads.map((g) => ({ name: g.name, tensor: tf.mul(g.tensor, scale) }));
  tf.dispose(grads.map((g) => g.tensor));
  return out;
}

const skippedMessage = (step: number, loss: number, norm: number | null, count: number) =>
  `step ${step} skipped: its ${Number.isFinite(loss) ? `gradient is not finite (global norm ${norm})` : `loss is ${loss}`}; ` +
  `the update was not applied (train.on_nonfinite_gradient: skip; ${count} skipped so far)`;

/** Names of the model's variables (weights, batch-norm statistics) holding a NaN or an infinity. */
async function nonFiniteVariables(model: PixelCNN): Promise<string[]> {
  const named = namedState(model);
  const flags = tf.tidy(() => tf.stack(named.map(([, v]) => tf.all(tf.isFinite(v)))));
  const ok = await flags.data();
  flags.dispose();
  return named.filter((_, i) => !ok[i]).map(([name]) => name);
}

const names = (list: string[]) => `${list.slice(0, 3).join(', ')}${list.length > 3 ? ` and ${list.length - 3} more` : ''}`;

/**
 * Step `step` had a finite loss, but its update left non-finite weights: non-finite weights
 * before it would have made its loss non-finite, so it was this update.
 */
const brokenByUpdate = (step: number, tensors: string[]) =>
  `the update of step ${step} made the weights non-finite (${names(tensors)}) though the step's loss was finite: ` +
  'a non-finite gradient or optimiser state, not a too-high learning rate';

/** Only the optimiser state is non-finite (checked at checkpoints): some update since the last one did it. */
const brokenOptimizer = (step: number, tensors: string[]) =>
  `the optimiser state became non-finite by step ${step} (${names(tensors)}) though every loss was finite: ` +
  'a gradient too large for float32, or a non-finite one';

/**
 * Why the loss of `step` is not finite, from the weights the step began with: finite
 * weights and a non-finite loss is training that diverged (a learning rate too high);
 * non-finite weights came from the update before, whose loss was finite.
 */
async function whyLossNotFinite(model: PixelCNN, value: number, step: number, resumedFrom: number): Promise<string> {
  const broken = await nonFiniteVariables(model);
  const what = `the training loss became ${value} at step ${step}`;
  if (!broken.length) return `${what} (the weights it began with were finite: the training diverged; try a lower train.optimizer.learning_rate)`;
  const cause = step - 1 > resumedFrom
    ? `the update of step ${step - 1} made them so though that step's loss was finite (a non-finite gradient or optimiser state, not a too-high learning rate)`
    : 'they were so when training started';
  return `${what} because the weights it began with were already non-finite (${names(broken)}): ${cause}`;
}

function advance(pos: TrainingPosition, perEpoch: number, batch: number, seconds: number, bits: number | null): void {
  pos.step += 1;
  pos.epoch = Math.floor(pos.step / perEpoch);
  pos.epochStep = pos.step % perEpoch;
  pos.trainSeconds += seconds;
  pos.imagesSeen += batch;
  pos.lastTrainBitsPerDim = bits;
}

/** One optimiser step on one batch; returns the batch's mean loss in nats (caller disposes). `step` draws the dropout masks. */
export function trainStep(model: PixelCNN, optimizer: tf.Optimizer, set: ImageSet, indices: Uint32Array, levels: number, recompute = false, step: number | null = null): tf.Scalar {
  const { loss, grads } = gradientStep(model, optimizer, set, indices, levels, recompute, step);
  optimizer.applyGradients(grads);
  tf.dispose(grads.map((g) => g.tensor));
  return loss;
}

/**
 * The batch's mean loss in nats and the gradients, not applied yet (the trainer applies them
 * once the loss is finite). Gradients come in model.trainable() order, as minimize hands them
 * to the optimiser, since optimiser state is matched to variables by position. `step`: the
 * training step (completed steps before this one), which draws the dropout masks (a model with
 * dropout needs it). Caller disposes.
 */
export function gradientStep(
  model: PixelCNN, optimizer: tf.Optimizer, set: ImageSet, indices: Uint32Array, levels: number, recompute = false, step: number | null = null,
): { loss: tf.Scalar; grads: { name: string; tensor: tf.Tensor }[] } {
  const batch = makeBatch(set, indices, levels);
  const { height, width, channels } = model.image;
  const vars = model.trainable();
  return tf.tidy(() => {
    const x = tf.tensor4d(batch.inputs, [batch.count, height, width, channels]);
    const t = tf.tensor1d(batch.targets, 'int32');
    const labels = labelsOf(model, set, indices);
    const { value, grads } = optimizer.computeGradients(() => modelCrossEntropyMean(model, x, t, recompute, labels, step), vars);
    // A variable the loss does not reach gets a zero gradient, so that the optimiser's state
    // still matches the variables by position: the last gated block's vertical class bias
    // (nothing reads the vertical stack after the last block).
    return { loss: value, grads: vars.map((v) => ({ name: v.name, tensor: grads[v.name] ?? tf.zerosLike(v) })) };
  });
}

/** One-hot labels of the images at `indices` for a class-conditional model; null for an unconditional one. */
function labelsOf(model: PixelCNN, set: ImageSet, indices: ArrayLike<number>): tf.Tensor2D | null {
  const classes = model.classes;
  return classes === null ? null : oneHotLabels(batchLabels(set, indices), classes);
}

/**
 * Mean test NLL per sub-pixel in nats, in inference mode (batch norm uses its running statistics),
 * under the model's output (softmax or logistic mixture); for a class-conditional model the
 * conditional one, -log p(image | its label).
 */
export async function testLoss(model: PixelCNN, set: ImageSet, levels: number, batchSize: number): Promise<number> {
  const { height, width, channels } = model.image;
  let total = 0;
  for (let start = 0; start < set.count; start += batchSize) {
    const indices = Uint32Array.from({ length: Math.min(batchSize, set.count - start) }, (_, i) => start + i);
    const batch = makeBatch(set, indices, levels);
    const sum = tf.tidy(() => {
      const x = tf.tensor4d(batch.inputs, [batch.count, height, width, channels]);
      return outputNllSum(model, model.forward(x, false, false, labelsOf(model, set, indices)), tf.tensor1d(batch.targets, 'int32'));
    });
    total += (await sum.data())[0];
    sum.dispose();
    await new Promise(setImmediate);
  }
  return total / (set.count * height * width * channels);
}

/** The set periodic evaluations and the best checkpoint use: the validation set when there is one. */
const evalSetOf = (o: TrainOptions): { set: EvalSet; images: ImageSet } =>
  o.data.validation ? { set: 'validation', images: o.data.validation } : { set: 'test', images: o.data.test };

/** Bits/dim of the model's weights on `images`, emitted as an eval event. */
async function evaluateOn(
  o: TrainOptions, pos: TrainingPosition, perEpoch: number, set: EvalSet, images: ImageSet, weights: EvalEvent['weights'], best: (bits: number) => [number, number],
  averaged: boolean,
): Promise<number> {
  const start = performance.now();
  o.emit({ type: 'eval-start', time: Date.now(), step: pos.step });
  const nats = await testLoss(o.model, images, o.experiment.model.color_levels, o.experiment.train.batch_size);
  const bits = bitsPerDim(nats);
  const [bestBitsPerDim, bestStep] = best(bits);
  o.emit({
    type: 'eval', time: Date.now(), step: pos.step, epoch: Math.floor(Math.max(0, pos.step - 1) / perEpoch), set, weights,
    loss: nats, bitsPerDim: bits, bestBitsPerDim, bestStep, images: images.count, conditional: o.model.classes !== null, averaged,
    seconds: (performance.now() - start) / 1000,
  });
  return bits;
}

/** A periodic evaluation on the validation set (or the test set without one); true when it is a new best. */
async function evaluate(o: TrainOptions, pos: TrainingPosition, perEpoch: number, averaged: boolean): Promise<boolean> {
  const { set, images } = evalSetOf(o);
  let improved = false;
  const bits = await evaluateOn(o, pos, perEpoch, set, images, 'current', (value) => {
    // Strictly lower: of equal evaluations the earliest stays the best.
    improved = pos.bestTestBitsPerDim === null || value < pos.bestTestBitsPerDim;
    if (improved) [pos.bestTestBitsPerDim, pos.bestStep] = [value, pos.step];
    return [pos.bestTestBitsPerDim!, pos.bestStep ?? pos.step];
  }, averaged);
  pos.lastTestBitsPerDim = bits;
  return improved;
}

/**
 * The end of a finished run: with a validation set, test bits/dim of the last weights and of
 * the best checkpoint, each evaluated once; then the final grid, drawn from the best checkpoint.
 * The model is left holding the best checkpoint's weights.
 */
async function finish(o: TrainOptions, pos: TrainingPosition, perEpoch: number, average: WeightAverage | null): Promise<FinalTests> {
  const finals: FinalTests = { last: null, best: null };
  const bestStep = pos.bestStep ?? pos.step;
  const best = (): [number, number] => [pos.bestTestBitsPerDim!, bestStep];
  const isAveraged = average !== null;
  if (o.data.validation) finals.last = await averaged(average, () => evaluateOn(o, pos, perEpoch, 'test', o.data.test, 'current', best, isAveraged));
  const bestPath = bestCheckpoint(o.paths.checkpoints);
  if (bestPath && bestStep !== pos.step) {
    const loaded = loadCheckpoint(bestPath, o.model);
    tf.dispose(loaded.optimizerWeights.map((w) => w.tensor));
    if (average && loaded.averaged) average.restore(loaded.averaged);
  }
  if (o.data.validation) {
    finals.best = bestStep === pos.step ? finals.last : await averaged(average, () => evaluateOn(o, pos, perEpoch, 'test', o.data.test, 'best', best, isAveraged));
    if (bestStep === pos.step) o.emit({ ...lastEval(o, pos, perEpoch, finals.last!, bestStep, isAveraged), weights: 'best' });
  }
  await averaged(average, () => sample(o, pos.step, bestStep));
  return finals;
}

/** The eval event of the best checkpoint's test when it is the last weights: the same figures, not evaluated twice. */
function lastEval(o: TrainOptions, pos: TrainingPosition, perEpoch: number, bits: number, bestStep: number, averaged: boolean): EvalEvent {
  return {
    type: 'eval', time: Date.now(), step: pos.step, epoch: Math.floor(Math.max(0, pos.step - 1) / perEpoch), set: 'test', weights: 'best',
    loss: bits * Math.LN2, bitsPerDim: bits, bestBitsPerDim: pos.bestTestBitsPerDim!, bestStep, images: o.data.test.count,
    conditional: o.model.classes !== null, averaged, seconds: 0,
  };
}

async function sample(o: TrainOptions, step: number, weightsStep = step): Promise<void> {
  const s = o.experiment.sample;
  const { height, width } = o.model.image;
  const rows = sampleRows(o.experiment);
  o.emit({ type: 'sample-start', time: Date.now(), step, count: rows.count, method: o.sampler.method });
  const result = await o.sampler.sample(o.model, { count: rows.count, temperature: s.temperature, seed: s.seed, labels: rows.labels });
  const levels = o.experiment.model.color_levels;
  const path = o.paths.saveSamples(step, result.classes);
  const pixels = Float32Array.from(result.classes, (k) => classToInput(k, levels));
  o.emit({
    type: 'sample', time: Date.now(), step, path, method: o.sampler.method, count: rows.count, columns: rows.columns, height, width, pixels,
    seconds: result.seconds, ...(rows.rowLabels ? { rowLabels: rows.rowLabels } : {}), ...(weightsStep !== step ? { weightsStep } : {}),
  });
}

function summarise(o: TrainOptions, pos: TrainingPosition, status: RunStatus, message: string, startedAt: Date, wallSeconds: number, finals: FinalTests): RunSummary {
  const validation = !!o.data.validation;
  // Without a validation set the best checkpoint is the one of the lowest test bits/dim.
  const bestTest = validation ? finals.best : pos.bestTestBitsPerDim;
  return {
    status,
    run_id: o.paths.id,
    experiment: o.experiment.name,
    steps: pos.step,
    epochs: pos.step / schedule(o.experiment, o.data.train.count).perEpoch,
    train_bits_per_dim: pos.lastTrainBitsPerDim,
    test_bits_per_dim: validation ? finals.last : pos.lastTestBitsPerDim,
    best_test_bits_per_dim: bestTest,
    test_bits_per_dim_best_checkpoint: bestTest,
    best_chosen_on: validation ? 'validation' : 'test',
    best_step: pos.bestStep ?? null,
    validation_bits_per_dim: validation ? pos.lastTestBitsPerDim : null,
    best_validation_bits_per_dim: validation ? pos.bestTestBitsPerDim : null,
    test_nll: o.model.classes === null ? 'unconditional' : 'conditional',
    evaluated_weights: o.experiment.train.ema.decay === null ? 'trained' : 'averaged',
    skipped_steps: pos.skippedSteps ?? 0,
    params: o.model.paramCount(),
    backend: o.start.backend,
    device: o.start.device,
    wall_seconds: wallSeconds,
    images_per_second: pos.trainSeconds > 0 ? pos.imagesSeen / pos.trainSeconds : null,
    started_at: startedAt.toISOString(),
    ended_at: new Date().toISOString(),
    message,
  };
}

/** wasm reports running out of its 4 GB as a bare RuntimeError: say what it most likely means. */
function describeFailure(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  if (/table index is out of bounds|memory access out of bounds|Cannot enlarge memory|Aborted\(/.test(text)) {
    return `${text} (the wasm backend most likely ran out of its 4 GB of memory: use a smaller train.batch_size or sample.count, or the tensorflow backend)`;
  }
  return text;
}
