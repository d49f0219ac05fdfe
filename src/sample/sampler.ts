// The sampler seam: every method produces images pixel by pixel in raster order, drawing
// with drawClasses from one seeded stream (raster.ts), so methods can be swapped and compared exactly.
import * as tf from '@tensorflow/tfjs';
import { oneHotLabels } from '../model/conditioning.js';
import type { PixelCNN } from '../model/pixelcnn.js';

export type SampleMethod = 'naive' | 'cached';

export interface SampleOptions {
  count: number;
  temperature: number;
  seed: number;
  /** The class of each image (count of them), for a class-conditional model; required there. */
  labels?: ArrayLike<number>;
  /** Called after each pixel position with (done, total); for progress displays. */
  onProgress?: (done: number, total: number) => void;
  /** Receives the per-pixel output before each draw: logits [count * channels, levels], or a mixture's parameters [count, size] once per pixel (tests compare methods with it). */
  onLogits?: (pixel: number, logits: Float32Array, channel: number) => void;
}

export interface SampleResult {
  /** Sampled classes, [count, height, width, channels] row-major. */
  classes: Int32Array;
  count: number;
  seconds: number;
}

export interface Sampler {
  readonly method: SampleMethod;
  sample(model: PixelCNN, opts: SampleOptions): Promise<SampleResult>;
}

/**
 * The one-hot labels [count, classes] the images are drawn given, for a class-conditional
 * model; null for an unconditional one. Labels that do not fit the model are an error.
 */
export function sampleLabels(model: PixelCNN, opts: SampleOptions): tf.Tensor2D | null {
  const classes = model.classes;
  if (classes === null) {
    if (opts.labels) throw new Error('class labels were given to sample an unconditional model');
    return null;
  }
  if (!opts.labels || opts.labels.length !== opts.count) {
    throw new Error(`a model conditioned on ${classes} classes samples given one class per image: expected ${opts.count} labels, got ${opts.labels?.length ?? 'none'}`);
  }
  return tf.keep(oneHotLabels(opts.labels, classes));
}
