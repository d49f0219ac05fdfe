// What every cached stepper shares: the image drawn so far, as the model sees it, the input
// patches read from it, and a folded conv applied at one position.
import * as tf from '@tensorflow/tfjs';
import { classToInput } from '../data/batches.js';
import type { ImageShape } from '../model/pixelcnn.js';
import type { PositionConv, Tap } from './folded.js';

/** The sampled image so far (0..1), [N, H, W, C]. */
export class DrawnImage {
  readonly pixels: Float32Array;

  constructor(
    readonly image: ImageShape,
    readonly count: number,
    private readonly levels: number,
  ) {
    this.pixels = new Float32Array(count * image.height * image.width * image.channels);
  }

  /** Records the drawn classes [N, C] at position p, as the float32 the data layer feeds in training. */
  set(p: number, drawn: Int32Array): void {
    const { height: H, width: W, channels: C } = this.image;
    for (let n = 0; n < this.count; n++) {
      for (let c = 0; c < C; c++) this.pixels[(n * H * W + p) * C + c] = classToInput(drawn[n * C + c], this.levels);
    }
  }

  /** A conv's patch [N, taps * C] at (i, j), taps outside the image read zeros. */
  patch(taps: Tap[], i: number, j: number): tf.Tensor2D {
    return tf.tensor2d(this.patchValues(taps, i, j), [this.count, taps.length * this.image.channels]);
  }

  /** The values of patch(taps, i, j), row-major. */
  patchValues(taps: Tap[], i: number, j: number): Float32Array {
    const { height: H, width: W, channels: C } = this.image;
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
    return patch;
  }

  /** Row i as [N, W, C]. */
  row(i: number): tf.Tensor3D {
    const { height: H, width: W, channels: C } = this.image;
    const N = this.count;
    const out = new Float32Array(N * W * C);
    for (let n = 0; n < N; n++) out.set(this.pixels.subarray(((n * H + i) * W) * C, ((n * H + i) * W + W) * C), n * W * C);
    return tf.tensor3d(out, [N, W, C]);
  }
}

/** x [N, taps * in] × weight + bias, with the activation fused where the backend can. */
export function affine(x: tf.Tensor2D, conv: PositionConv, activation: 'linear' | 'relu'): tf.Tensor2D {
  return tf.fused.matMul({ a: x, b: conv.weight, bias: conv.bias, activation }) as tf.Tensor2D;
}
