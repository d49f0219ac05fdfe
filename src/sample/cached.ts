// Cached sampling: each layer's activation at a position is computed once, when that
// position comes up, from cached activations of earlier positions. Every conv is masked,
// so at position p every layer depends only on pixels before p: the whole image costs
// about one forward pass of arithmetic instead of one per pixel. Same draws as naive.
// Gated models step their vertical stack a row at a time (gated-stepper.ts).
import * as tf from '@tensorflow/tfjs';
import type { PixelCNN } from '../model/pixelcnn.js';
import { type FoldedModel, disposeFolded, foldModel } from './folded.js';
import { GatedStepper } from './gated-stepper.js';
import { affine, DrawnImage } from './position.js';
import { drawRaster } from './raster.js';
import { sampleLabels, type SampleOptions, type SampleResult, type Sampler } from './sampler.js';
import { TapCache } from './tap-cache.js';

export const cachedSampler: Sampler = {
  method: 'cached',
  async sample(model: PixelCNN, opts: SampleOptions): Promise<SampleResult> {
    const start = performance.now();
    const labels = sampleLabels(model, opts);
    const stepper: Stepper = model.gated ? new GatedStepper(model, opts.count, labels) : new PositionStepper(model, opts.count, labels);
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

/** A model evaluated one position at a time, in raster order, for a batch of N images. */
export interface Stepper {
  /** Logits [N * C, L] at (i, j); the only read back from the backend per position. */
  logitsAt(i: number, j: number): Promise<Float32Array>;
  /** Records the drawn classes [N, C] at position p. */
  setPixel(p: number, drawn: Int32Array): void;
  dispose(): void;
}

/** The residual network evaluated at one position at a time. */
class PositionStepper implements Stepper {
  private readonly folded: FoldedModel;
  /** One per block: the input of its masked conv. */
  private readonly caches: TapCache[];
  private readonly drawn: DrawnImage;
  /** One per block of a conditional model: each image's class bias [N, h], the same at every position. */
  private readonly classBiases: (tf.Tensor2D | null)[];

  constructor(model: PixelCNN, count: number, labels: tf.Tensor2D | null) {
    this.classBiases = model.blocks.map((b) => (b.classBias && labels ? tf.keep(b.classBias.rows(labels)) : null));
    labels?.dispose();
    this.folded = foldModel(model);
    this.caches = this.folded.blocks.map((b) => new TapCache(b.conv2.taps, model.image.width, count, model.config.hidden));
    this.drawn = new DrawnImage(model.image, count, model.config.color_levels);
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

  setPixel(p: number, drawn: Int32Array): void {
    this.drawn.set(p, drawn);
  }

  dispose(): void {
    for (const c of this.caches) c.dispose();
    tf.dispose(this.classBiases.filter((b): b is tf.Tensor2D => b !== null));
    disposeFolded(this.folded);
  }

  // Mirrors PixelCNN.forward at one position, with batch norm already folded into each conv.
  private forwardAt(i: number, j: number): tf.Tensor2D {
    const f = this.folded;
    let h = affine(this.drawn.patch(f.input.taps, i, j), f.input, 'linear');
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
}
