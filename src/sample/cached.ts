// Cached sampling: each layer's activation at a position is computed once, when that
// position comes up, from cached activations of earlier positions. Every conv is masked,
// so at position p every layer depends only on pixels before p: the whole image costs
// about one forward pass of arithmetic instead of one per pixel. Same draws as naive.
import * as tf from '@tensorflow/tfjs';
import type { PixelCNN } from '../model/pixelcnn.js';
import { classToInput } from '../data/batches.js';
import { type FoldedModel, type PositionConv, type Tap, disposeFolded, foldModel } from './folded.js';
import { drawRaster } from './raster.js';
import { sampleLabels, type SampleOptions, type SampleResult, type Sampler } from './sampler.js';
import { TapCache } from './tap-cache.js';

export const cachedSampler: Sampler = {
  method: 'cached',
  async sample(model: PixelCNN, opts: SampleOptions): Promise<SampleResult> {
    const start = performance.now();
    const stepper = new PositionStepper(model, opts.count, sampleLabels(model, opts));
    try {
      const W = model.image.width;
      const classes = await drawRaster(model, opts, {
        logitsAt: (p) => stepper.logitsAt(Math.floor(p / W), p % W),
        setPixel: (p, drawn) => stepper.setPixel(p, drawn),
      });
      return { classes, count: opts.count, seconds: (performance.now() - start) / 1000 };
    } finally {
      stepper.dispose();
    }
  },
};

/** The network evaluated at one position at a time, in raster order, for a batch of N images. */
class PositionStepper {
  private readonly folded: FoldedModel;
  /** One per block: the input of its masked conv. */
  private readonly caches: TapCache[];
  /** The sampled image so far, as the model sees it (0..1), [N, H, W, C]. */
  private readonly pixels: Float32Array;
  /** One per block of a conditional model: each image's class bias [N, h], the same at every position. */
  private readonly classBiases: (tf.Tensor2D | null)[];

  constructor(
    private readonly model: PixelCNN,
    private readonly count: number,
    labels: tf.Tensor2D | null,
  ) {
    const { height: H, width: W, channels: C } = model.image;
    this.classBiases = model.blocks.map((b) => (b.classBias && labels ? tf.keep(b.classBias.rows(labels)) : null));
    labels?.dispose();
    this.folded = foldModel(model);
    this.caches = this.folded.blocks.map((b) => new TapCache(b.conv2.taps, W, count, model.config.hidden));
    this.pixels = new Float32Array(count * H * W * C);
  }

  /** Logits [N * C, L] at (i, j); the only read back from the backend per position. */
  async logitsAt(i: number, j: number): Promise<Float32Array> {
    const out = tf.tidy(() => this.forwardAt(i, j));
    try {
      return (await out.data()) as Float32Array;
    } finally {
      out.dispose();
    }
  }

  /** Records the drawn classes [N, C] at position p, as the float32 the data layer feeds in training. */
  setPixel(p: number, drawn: Int32Array): void {
    const { height: H, width: W, channels: C } = this.model.image;
    const L = this.model.config.color_levels;
    for (let n = 0; n < this.count; n++) {
      for (let c = 0; c < C; c++) this.pixels[(n * H * W + p) * C + c] = classToInput(drawn[n * C + c], L);
    }
  }

  dispose(): void {
    for (const c of this.caches) c.dispose();
    tf.dispose(this.classBiases.filter((b): b is tf.Tensor2D => b !== null));
    disposeFolded(this.folded);
  }

  // Mirrors PixelCNN.forward at one position, with batch norm already folded into each conv.
  private forwardAt(i: number, j: number): tf.Tensor2D {
    const f = this.folded;
    let h = affine(this.imagePatch(f.input.taps, i, j), f.input, 'linear');
    f.blocks.forEach((b, k) => {
      const u = affine(tf.relu(h), b.conv1, 'relu');
      const bias = this.classBiases[k];
      const taps = this.caches[k].gather(i, j, u);
      // The class bias goes after the masked conv (its batch norm folded in) and before its relu, as in the block.
      const v = bias ? (tf.relu(tf.add(affine(taps, b.conv2, 'linear'), bias)) as tf.Tensor2D) : affine(taps, b.conv2, 'relu');
      h = tf.add(h, affine(v, b.conv3, 'linear'));
    });
    h = tf.relu(h);
    for (const c of f.head) h = affine(h, c, 'relu');
    return affine(h, f.out, 'linear'); // [N, C * L]: the same layout as [N * C, L]
  }

  /** The input conv's patch [N, taps * C] at (i, j), built here from the pixels drawn so far. */
  private imagePatch(taps: Tap[], i: number, j: number): tf.Tensor2D {
    const { height: H, width: W, channels: C } = this.model.image;
    const N = this.count;
    const patch = new Float32Array(N * taps.length * C); // fresh: some backends keep the array they are given
    taps.forEach((t, k) => {
      const r = i + t.dr;
      const c = j + t.dc;
      if (r < 0 || c < 0 || c >= W) return; // zero padding
      for (let n = 0; n < N; n++) {
        const from = ((n * H + r) * W + c) * C;
        patch.set(this.pixels.subarray(from, from + C), (n * taps.length + k) * C);
      }
    });
    return tf.tensor2d(patch, [N, taps.length * C]);
  }
}

/** x [N, taps * in] × weight + bias, with the activation fused where the backend can. */
function affine(x: tf.Tensor2D, conv: PositionConv, activation: 'linear' | 'relu'): tf.Tensor2D {
  return tf.fused.matMul({ a: x, b: conv.weight, bias: conv.bias, activation }) as tf.Tensor2D;
}
