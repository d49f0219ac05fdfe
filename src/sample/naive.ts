// Naive sampling: the whole network runs once per pixel position; only that position's
// logits are used. Simple and obviously correct: the reference for faster methods.
import * as tf from '@tensorflow/tfjs';
import type { PixelCNN } from '../model/pixelcnn.js';
import { classToInput } from '../data/batches.js';
import { drawRaster } from './raster.js';
import { sampleLabels, type SampleOptions, type SampleResult, type Sampler } from './sampler.js';

export const naiveSampler: Sampler = {
  method: 'naive',
  async sample(model: PixelCNN, opts: SampleOptions): Promise<SampleResult> {
    const start = performance.now();
    const { height: H, width: W, channels: C } = model.image;
    const L = model.config.color_levels;
    const N = opts.count;
    const pixels = new Float32Array(N * H * W * C); // model input, 0..1
    const labels = sampleLabels(model, opts);
    try {
      const classes = await drawRaster(model, opts, {
        logitsAt: (p) => pixelLogits(model, pixels, N, p, labels),
        setPixel: (p, drawn) => {
          for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) pixels[(n * H * W + p) * C + c] = classToInput(drawn[n * C + c], L);
        },
      });
      return { classes, count: N, seconds: (performance.now() - start) / 1000 };
    } finally {
      labels?.dispose();
    }
  },
};

/** The output at pixel p from a full forward pass in inference mode: [N, perPixel] (for the softmax the same as [N * C, L]). */
async function pixelLogits(model: PixelCNN, pixels: Float32Array, n: number, p: number, labels: tf.Tensor2D | null): Promise<Float32Array> {
  const { height: H, width: W, channels: C } = model.image;
  const P = model.output.perPixel;
  const out = tf.tidy(() => {
    const logits = model.forward(tf.tensor4d(pixels, [n, H, W, C]), false, false, labels);
    return tf.reshape(tf.slice(tf.reshape(logits, [n, H * W, P]), [0, p, 0], [n, 1, P]), [n, P]);
  });
  const values = (await out.data()) as Float32Array;
  out.dispose();
  return values;
}
