// train/: the training loop, the optimisers and the memory plan of a step.
//
// The training loop. It emits typed events and knows none of its subscribers
// (dashboard, reporters, run store, MLflow): see src/events/run-events.ts. What it writes
// goes where the RunFolder it is handed says (the run store's, from src/app/run.ts).
import * as tf from '@tensorflow/tfjs';
import type { Experiment } from '../config/types.js';
import { intervalSteps } from '../config/rules.js';
import { classToInput, EpochOrder, makeBatch } from '../data/batches.js';
import type { Dataset, ImageSet } from '../data/datasets.js';
import { bitsPerDim, crossEntropyMean, crossEntropySum } from '../model/loss.js';
import type { PixelCNN } from '../model/pixelcnn.js';
import type { Sampler } from '../sample/sampler.js';
import { loadCheckpoint, saveCheckpoint, type TrainingPosition } from '../checkpoint/checkpoint.js';
import type { RunEvent, RunStartEvent, RunStatus, RunSummary } from '../events/run-events.js';
import { makeOptimizer } from './optimizer.js';

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
  data: Dataset;
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

/** Trains until the schedule ends, a stop is requested, or the loss stops being finite. */
export async function train(o: TrainOptions): Promise<RunSummary> {
  const { experiment: e, data, model } = o;
  const sched = schedule(e, data.train.count);
  const order = new EpochOrder(e.seed, data.train.count, e.train.batch_size);
  const optimizer = makeOptimizer(e.train.optimizer);
  const startedAt = new Date();
  const pos: TrainingPosition = o.resumeFrom ? await resume(o.resumeFrom, model, optimizer) : freshPosition();
  const wallAtStart = pos.wallSeconds;
  const t0 = performance.now();
  const wall = () => wallAtStart + (performance.now() - t0) / 1000;
  const levels = e.model.color_levels;
  const emit = (ev: RunEvent) => o.emit(ev);

  emit({
    type: 'start', time: Date.now(), runId: o.paths.id, runDir: o.paths.dir, experiment: e.name, description: e.description,
    config: e as unknown as Record<string, unknown>, params: model.paramCount(), ...o.start,
    dataset: { name: data.name, train: data.train.count, test: data.test.count, height: data.height, width: data.width, channels: data.channels },
    totalSteps: sched.total, stepsPerEpoch: sched.perEpoch, resumedFromStep: pos.step,
  });
  for (const notice of o.notices ?? []) emit(notice);

  let status: RunStatus = 'finished';
  let message = '';
  let lastCheckpointStep = pos.step;
  let ema: number | null = null;
  const checkpoint = async () => {
    pos.wallSeconds = wall();
    const path = await saveCheckpoint(o.paths.checkpoints, model, optimizer, pos, e.seed, e.train.keep_checkpoints);
    lastCheckpointStep = pos.step;
    emit({ type: 'checkpoint', time: Date.now(), step: pos.step, path });
  };

  try {
    while (pos.step < sched.total) {
      const stepStart = performance.now();
      const loss = trainStep(model, optimizer, data.train, order.forStep(pos.step), levels, o.recompute ?? false);
      const value = (await loss.data())[0];
      loss.dispose();
      const seconds = (performance.now() - stepStart) / 1000;
      if (!Number.isFinite(value)) {
        status = 'failed';
        message = `the training loss became ${value} at step ${pos.step + 1}; stopped. The last good checkpoint (step ${lastCheckpointStep}) is kept. Try a lower train.optimizer.learning_rate.`;
        break;
      }
      advance(pos, sched.perEpoch, e.train.batch_size, seconds, bitsPerDim(value));
      const rate = e.train.batch_size / seconds;
      ema = ema === null ? rate : 0.9 * ema + 0.1 * rate;
      emit({
        type: 'step', time: Date.now(), step: pos.step, epoch: Math.floor((pos.step - 1) / sched.perEpoch),
        epochStep: ((pos.step - 1) % sched.perEpoch) + 1, loss: value, bitsPerDim: bitsPerDim(value),
        imagesPerSecond: ema, stepsPerSecond: ema / e.train.batch_size,
      });
      if (due(pos.step, sched.evalEvery, sched.total)) await evaluate(o, pos, sched.perEpoch);
      if (due(pos.step, sched.sampleEvery, sched.total)) await sample(o, pos.step);
      if (due(pos.step, sched.checkpointEvery, sched.total) || o.stop.requested) await checkpoint();
      if (o.stop.requested && pos.step < sched.total) {
        status = 'interrupted';
        message = `stopped at step ${pos.step} of ${sched.total}; resume with: pxl run --resume ${o.paths.dir}`;
        break;
      }
      await new Promise(setImmediate); // let signals, keys and the dashboard through
    }
    if (status === 'finished' && pos.step >= sched.total && lastCheckpointStep !== pos.step) await checkpoint();
  } catch (err) {
    status = 'failed';
    message = describeFailure(err);
  } finally {
    optimizer.dispose();
  }
  const summary = summarise(o, pos, status, message, startedAt, wall());
  emit({ type: 'end', time: Date.now(), status, message, summary });
  return summary;
}

function freshPosition(): TrainingPosition {
  return {
    step: 0, epoch: 0, epochStep: 0, bestTestBitsPerDim: null, lastTestBitsPerDim: null, lastTrainBitsPerDim: null,
    wallSeconds: 0, trainSeconds: 0, imagesSeen: 0,
  };
}

async function resume(path: string, model: PixelCNN, optimizer: tf.Optimizer): Promise<TrainingPosition> {
  const { position, optimizerWeights } = loadCheckpoint(path, model);
  await optimizer.setWeights(optimizerWeights);
  tf.dispose(optimizerWeights.map((w) => w.tensor));
  return position;
}

function advance(pos: TrainingPosition, perEpoch: number, batch: number, seconds: number, bits: number): void {
  pos.step += 1;
  pos.epoch = Math.floor(pos.step / perEpoch);
  pos.epochStep = pos.step % perEpoch;
  pos.trainSeconds += seconds;
  pos.imagesSeen += batch;
  pos.lastTrainBitsPerDim = bits;
}

/** One optimiser step on one batch; returns the batch's mean loss in nats (caller disposes). */
export function trainStep(model: PixelCNN, optimizer: tf.Optimizer, set: ImageSet, indices: Uint32Array, levels: number, recompute = false): tf.Scalar {
  const batch = makeBatch(set, indices, levels);
  const { height, width, channels } = model.image;
  return tf.tidy(() => {
    const x = tf.tensor4d(batch.inputs, [batch.count, height, width, channels]);
    const t = tf.tensor1d(batch.targets, 'int32');
    return optimizer.minimize(() => crossEntropyMean(model.forward(x, true, recompute), t, levels), true, model.trainable())!;
  });
}

/** Mean test cross-entropy in inference mode (batch norm uses its running statistics). */
export async function testLoss(model: PixelCNN, set: ImageSet, levels: number, batchSize: number): Promise<number> {
  const { height, width, channels } = model.image;
  let total = 0;
  for (let start = 0; start < set.count; start += batchSize) {
    const indices = Uint32Array.from({ length: Math.min(batchSize, set.count - start) }, (_, i) => start + i);
    const batch = makeBatch(set, indices, levels);
    const sum = tf.tidy(() => {
      const x = tf.tensor4d(batch.inputs, [batch.count, height, width, channels]);
      return crossEntropySum(model.forward(x, false), tf.tensor1d(batch.targets, 'int32'), levels);
    });
    total += (await sum.data())[0];
    sum.dispose();
    await new Promise(setImmediate);
  }
  return total / (set.count * height * width * channels);
}

async function evaluate(o: TrainOptions, pos: TrainingPosition, perEpoch: number): Promise<void> {
  const start = performance.now();
  o.emit({ type: 'eval-start', time: Date.now(), step: pos.step });
  const nats = await testLoss(o.model, o.data.test, o.experiment.model.color_levels, o.experiment.train.batch_size);
  const bits = bitsPerDim(nats);
  pos.lastTestBitsPerDim = bits;
  pos.bestTestBitsPerDim = pos.bestTestBitsPerDim === null ? bits : Math.min(pos.bestTestBitsPerDim, bits);
  o.emit({
    type: 'eval', time: Date.now(), step: pos.step, epoch: Math.floor(Math.max(0, pos.step - 1) / perEpoch),
    testLoss: nats, testBitsPerDim: bits, bestTestBitsPerDim: pos.bestTestBitsPerDim, images: o.data.test.count,
    seconds: (performance.now() - start) / 1000,
  });
}

async function sample(o: TrainOptions, step: number): Promise<void> {
  const s = o.experiment.sample;
  const { height, width, channels } = o.model.image;
  o.emit({ type: 'sample-start', time: Date.now(), step, count: s.count, method: o.sampler.method });
  const result = await o.sampler.sample(o.model, { count: s.count, temperature: s.temperature, seed: s.seed });
  const levels = o.experiment.model.color_levels;
  const path = o.paths.saveSamples(step, result.classes);
  const pixels = Float32Array.from(result.classes, (k) => classToInput(k, levels));
  o.emit({ type: 'sample', time: Date.now(), step, path, method: o.sampler.method, count: s.count, columns: s.columns, height, width, pixels, seconds: result.seconds });
}

function summarise(o: TrainOptions, pos: TrainingPosition, status: RunStatus, message: string, startedAt: Date, wallSeconds: number): RunSummary {
  return {
    status,
    run_id: o.paths.id,
    experiment: o.experiment.name,
    steps: pos.step,
    epochs: pos.step / schedule(o.experiment, o.data.train.count).perEpoch,
    train_bits_per_dim: pos.lastTrainBitsPerDim,
    test_bits_per_dim: pos.lastTestBitsPerDim,
    best_test_bits_per_dim: pos.bestTestBitsPerDim,
    params: o.model.paramCount(),
    backend: o.start.backend,
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
