// The sampler seam: every method produces images pixel by pixel in raster order, drawing
// with drawClasses from one seeded stream (raster.ts), so methods can be swapped and compared exactly.
import type { PixelCNN } from '../model/pixelcnn.js';

export type SampleMethod = 'naive' | 'cached';

export interface SampleOptions {
  count: number;
  temperature: number;
  seed: number;
  /** Called after each pixel position with (done, total); for progress displays. */
  onProgress?: (done: number, total: number) => void;
  /** Receives the per-pixel logits [count * channels, levels] before each draw (tests compare methods with it). */
  onLogits?: (pixel: number, logits: Float32Array) => void;
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
