// Cached sampling: each layer's activation at a position is computed once, when that
// position comes up, from cached activations of earlier positions. Every conv is masked,
// so at position p every layer depends only on pixels before p: the whole image costs
// about one forward pass of arithmetic instead of one per pixel. Same draws as naive.
// Gated models step their vertical stack a row at a time (gated-stepper.ts).
import * as tf from '@tensorflow/tfjs';
import type { PixelCNN } from '../model/pixelcnn.js';
import { positionOps, type PositionAffine, type PositionOps } from '../backend/position-ops.js';
import { type FoldedModel, type Tap, disposeFolded, foldedConvs, foldModel, mapFolded } from './folded.js';
import { GatedStepper } from './gated-stepper.js';
import { DrawnImage } from './position.js';
import { drawRaster } from './raster.js';
import { sampleLabels, type SampleOptions, type SampleResult, type Sampler } from './sampler.js';
import { TapCache } from './tap-cache.js';

export const cachedSampler: Sampler = {
  method: 'cached',
  async sample(model: PixelCNN, opts: SampleOptions): Promise<SampleResult> {
    const start = performance.now();
    const labels = sampleLabels(model, opts);
    const stepper: Stepper = model.gated ? new GatedStepper(model, opts.count, labels) : new PositionStepper(model, opts.count, labels, positionOps());
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
  /** The output at (i, j): logits [N * C, L] or a mixture's parameters [N, size]; the only read back from the backend per position. */
  logitsAt(i: number, j: number): Promise<Float32Array>;
  /** Records the drawn classes [N, C] at position p. */
  setPixel(p: number, drawn: Int32Array): void;
  dispose(): void;
}

/** The residual network evaluated at one position at a time, on the position ops' matrices (T). */
class PositionStepper<T> implements Stepper {
  private readonly net: FoldedModel<PositionAffine<T> & { taps: Tap[] }>;
  /** One per block: the input of its masked conv. */
  private readonly caches: TapCache<T>[];
  private readonly drawn: DrawnImage;
  /** One per block of a conditional model: each image's class bias [N, h], the same at every position. */
  private readonly classBiases: (T | null)[];

  constructor(
    model: PixelCNN,
    private readonly count: number,
    labels: tf.Tensor2D | null,
    private readonly ops: PositionOps<T>,
  ) {
    this.classBiases = model.blocks.map((b) => (b.classBias && labels ? constant(ops, tf.tidy(() => b.classBias!.rows(labels))) : null));
    labels?.dispose();
    const folded = foldModel(model); // batch norm folded into the convs once, before the raster
    this.net = mapFolded(folded, (c) => ({ taps: c.taps, weight: ops.constant(c.weight), bias: ops.constant(c.bias) }));
    disposeFolded(folded);
    this.caches = this.net.blocks.map((b) => new TapCache(ops, b.conv2.taps, model.image.width, count, model.config.hidden));
    this.drawn = new DrawnImage(model.image, count, model.config.color_levels);
  }

  /** Logits [N * C, L] at (i, j); the only read back from the backend per position. */
  async logitsAt(i: number, j: number): Promise<Float32Array> {
    const out = this.ops.tidy(() => this.forwardAt(i, j));
    try {
      return await this.ops.read(out);
    } finally {
      this.ops.dispose(out);
    }
  }

  setPixel(p: number, drawn: Int32Array): void {
    this.drawn.set(p, drawn);
  }

  dispose(): void {
    for (const c of this.caches) c.dispose();
    this.ops.dispose(this.classBiases.filter((b): b is NonNullable<T> => b !== null));
    this.ops.dispose(foldedConvs(this.net).flatMap((c) => [c.weight, c.bias]));
    this.ops.release();
  }

  // Mirrors PixelCNN.forward at one position, with batch norm already folded into each conv.
  private forwardAt(i: number, j: number): T {
    const { ops, net: f } = this;
    const patch = ops.matrix(this.drawn.patchValues(f.input.taps, i, j), this.count, f.input.taps.length * this.drawn.image.channels);
    let h = ops.affine(patch, f.input, 'linear');
    f.blocks.forEach((b, k) => {
      const u = ops.affine(ops.relu(h), b.conv1, 'relu');
      const bias = this.classBiases[k];
      const taps = this.caches[k].gather(i, j, u);
      // The class bias goes after the masked conv (its batch norm folded in) and before its relu, as in the block.
      const v = ops.affine(taps, b.conv2, 'relu', bias ?? undefined);
      h = ops.affine(v, b.conv3, 'linear', h); // the residual: h + conv3(v)
    });
    h = ops.relu(h);
    for (const c of f.head) h = ops.affine(h, c, 'relu');
    return ops.affine(h, f.out, 'linear'); // [N, perPixel]: for the softmax the same layout as [N * C, L]
  }
}

/** A copy of `t` held by `ops`; `t` is disposed. */
function constant<T>(ops: PositionOps<T>, t: tf.Tensor): T {
  try {
    return ops.constant(t);
  } finally {
    t.dispose();
  }
}
