// Will one training step fit in memory? Measured, not guessed: a throwaway copy of the
// model takes a step at batch 1 and at batch 2, and tfjs reports each step's peak bytes;
// the difference is the cost of one more image. Before that, the arithmetic floor of
// model/size.ts refuses a model that could not fit at all, without allocating it.
import { totalmem } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../config/types.js';
import { modelCrossEntropyMean } from '../model/loss.js';
import { PixelCNN, type ImageShape } from '../model/pixelcnn.js';
import { oneHotLabels } from '../model/conditioning.js';
import { trainingStepFloor } from '../model/size.js';

export interface StepMemory {
  fixedBytes: number;
  perImageBytes: number;
}

export async function measureStepMemory(config: ModelConfig, image: ImageShape, recompute: boolean): Promise<StepMemory> {
  const model = new PixelCNN(config, image, 0);
  try {
    const [one, two] = [await peak(model, 1, recompute), await peak(model, 2, recompute)];
    const perImageBytes = Math.max(0, two - one);
    return { fixedBytes: Math.max(0, one - perImageBytes), perImageBytes };
  } finally {
    model.dispose();
  }
}

async function peak(model: PixelCNN, batch: number, recompute: boolean): Promise<number> {
  const { height, width, channels } = model.image;
  const levels = model.config.color_levels;
  const info = await tf.profile(() => {
    tf.tidy(() => {
      const x = tf.zeros([batch, height, width, channels]) as tf.Tensor4D;
      const t = tf.zeros([batch * height * width * channels], 'int32') as tf.Tensor1D;
      const labels = model.classes === null ? null : oneHotLabels(new Uint8Array(batch), model.classes);
      // Step 0's dropout masks, if any: a step keeps one mask per block, whatever the step.
      const { value, grads } = tf.variableGrads(() => modelCrossEntropyMean(model, x, t, recompute, labels, 0), model.trainable());
      tf.dispose([value, ...Object.values(grads)]);
    });
  });
  return info.peakBytes;
}

/**
 * Bytes a backend can give one step: wasm32 addresses 4 GiB at most; others share the machine's
 * memory. `share` is this run's part of the machine: a sweep running members side by side gives
 * each 1/parallel (PXL_MEMORY_SHARE), so that together they fit where one would.
 */
export function memoryBudget(backend: string, share = 1, machine = totalmem()): number {
  if (backend === 'tensorflow-gpu') return Infinity; // the GPU's memory: TensorFlow reports its own errors
  const part = 0.75 * machine * share;
  if (backend === 'wasm') return Math.min(3.5 * 2 ** 30, part); // 4 GiB minus room for the heap's own fragmentation
  return part;
}

/** Set by `pxl sweep --parallel N` for each member it starts (sweep/runner.ts): the member's share of the machine's memory. */
export const MEMORY_SHARE_ENV = 'PXL_MEMORY_SHARE';

/** PXL_MEMORY_SHARE as a fraction in (0, 1]; 1 when unset. Throws on anything else. */
export function memoryShareFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env[MEMORY_SHARE_ENV]?.trim();
  if (!v) return 1;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 1) throw new Error(`${MEMORY_SHARE_ENV} must be a fraction of the machine's memory in (0, 1]; found ${JSON.stringify(v)}`);
  return n;
}

/** "this machine has 16.0 GB", "this run's share is 4.0 GB (0.25 of this machine's 16.0 GB)". */
export function budgetWords(backend: string, share: number, machine = totalmem()): string {
  const shared = share < 1 ? `; this run's share (${MEMORY_SHARE_ENV}=${+share.toPrecision(3)}) gives it ${gb(memoryBudget(backend, share, machine))}` : '';
  const base = backend === 'wasm' ? 'the wasm backend addresses at most 4 GB' : `this machine has ${gb(machine)}`;
  return `${base}${shared}`;
}

/**
 * Refuses, before anything is allocated, a model whose training step cannot fit even by the
 * arithmetic floor (model/size.ts): measuring it would allocate until the process is killed.
 * Returns the reason, with the numbers, or null when the floor fits.
 */
export function floorRefusal(config: ModelConfig, image: ImageShape, batch: number, slots: number, recompute: boolean, budget: number, where: string): string | null {
  const floor = trainingStepFloor(config, image, slots, recompute);
  const need = floor.fixedBytes + batch * floor.perImageBytes;
  if (need <= budget) return null;
  const fixedOnly = floor.fixedBytes > budget;
  return (
    `the model has ${floor.params.toLocaleString('en-US')} parameters; one training step at train.batch_size ${batch} needs at least ` +
    `${gb(need)} (${gb(floor.fixedBytes)} for the weights, their gradients and the optimizer's state, ` +
    `${gb(floor.perImageBytes)} of activations per image${recompute ? ', recomputing blocks' : ''}), and ${gb(budget)} is available (${where}). ` +
    (fixedOnly ? 'Use a smaller model (model.hidden, model.blocks.count).' : 'Use a smaller train.batch_size or a smaller model.')
  );
}

export const gb = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(1)} GB`;

/** The largest batch that fits the budget, or 0. */
export function largestBatch(m: StepMemory, budget: number): number {
  return m.perImageBytes > 0 ? Math.max(0, Math.floor((budget - m.fixedBytes) / m.perImageBytes)) : Infinity;
}

export const stepBytes = (m: StepMemory, batch: number): number => m.fixedBytes + batch * m.perImageBytes;
