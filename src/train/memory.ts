// Will one training step fit in memory? Measured, not guessed: a throwaway copy of the
// model takes a step at batch 1 and at batch 2, and tfjs reports each step's peak bytes;
// the difference is the cost of one more image.
import { totalmem } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../config/types.js';
import { crossEntropyMean } from '../model/loss.js';
import { PixelCNN, type ImageShape } from '../model/pixelcnn.js';

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
      const { value, grads } = tf.variableGrads(() => crossEntropyMean(model.forward(x, true, recompute), t, levels), model.trainable());
      tf.dispose([value, ...Object.values(grads)]);
    });
  });
  return info.peakBytes;
}

/** Bytes a backend can give one step: wasm32 addresses 4 GiB at most; others share the machine's memory. */
export function memoryBudget(backend: string): number {
  if (backend === 'wasm') return 3.5 * 2 ** 30; // 4 GiB minus room for the heap's own fragmentation
  if (backend === 'tensorflow-gpu') return Infinity; // the GPU's memory: TensorFlow reports its own errors
  return 0.75 * totalmem();
}

export const gb = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(1)} GB`;

/** The largest batch that fits the budget, or 0. */
export function largestBatch(m: StepMemory, budget: number): number {
  return m.perImageBytes > 0 ? Math.max(0, Math.floor((budget - m.fixedBytes) / m.perImageBytes)) : Infinity;
}

export const stepBytes = (m: StepMemory, batch: number): number => m.fixedBytes + batch * m.perImageBytes;
