// What a compiled model can see: for an output pixel, which input pixels its logits depend on,
// measured as the gradient of that pixel's logits with respect to the input image, not worked
// out from kernel sizes. A gradient entry can be zero by chance (a dead relu, weights that
// cancel), so the model is measured with positive weights, unit batch norm, positive biases
// and a positive image: every activation is then positive, every relu passes its gradient,
// and every path from an input pixel to the output adds a positive term that nothing can
// cancel. The gradient is non-zero exactly where a path exists, which is what "can see" means
// for any weights. The masks stay as they are: they decide which paths exist.
//
// Which pixels a conv connects depends on its kernel, mask and dilation, never on its channels
// (every output channel reads every input channel), so the model is compiled at a width of at
// most MEASURE_WIDTH: the same receptive field for any model, measured in a second, even for a
// model far too large to allocate at its own width.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../config/types.js';
import { nativeParts, setNativeParts } from '../backend/native-ops.js';
import { createRng } from '../util/random.js';
import { oneHotLabels } from './conditioning.js';
import { PixelCNN, type ImageShape } from './pixelcnn.js';

export interface PixelView {
  row: number;
  col: number;
  /** Pixels before this one in raster order. */
  predecessors: number;
  /** Predecessors the pixel's logits depend on. */
  visible: number;
  /** Predecessors they do not depend on: the blind spot. */
  blind: number;
  /** Pixels at or after this one the logits depend on: 0 for an autoregressive model. */
  leaks: number;
  /** Per pixel of the image, row-major: 1 when the logits depend on it. */
  seen: Uint8Array;
}

/** The widest model.hidden the receptive field is measured at (see the file comment). */
export const MEASURE_WIDTH = 16;

/** The width a model of `hidden` is measured at: at most MEASURE_WIDTH, a multiple of the image channels (channel groups). */
export const measureWidth = (hidden: number, channels: number): number => Math.min(hidden, MEASURE_WIDTH - (MEASURE_WIDTH % Math.max(1, channels)));

/**
 * Which input pixels the logits at each of `pixels` depend on, in a model compiled from
 * `config` for `image` (at a width of at most MEASURE_WIDTH). All pixels are measured in one
 * backward pass: image b of a batch carries the gradient of pixel b's logits (batch norm runs
 * in inference mode, so images do not mix).
 */
export function receptiveField(config: ModelConfig, image: ImageShape, pixels: { row: number; col: number }[]): PixelView[] {
  const model = new PixelCNN({ ...config, hidden: measureWidth(config.hidden, image.channels) }, image, 0);
  // Native TensorFlow's fused inference ops have no gradient: the generic ops compute the same layers.
  const parts = nativeParts();
  setNativeParts([]);
  try {
    makePositive(model);
    const grad = tf.tidy(() => inputGradient(model, pixels));
    const values = grad.dataSync();
    grad.dispose();
    return pixels.map((p, b) => view(values, b, p, image));
  } finally {
    setNativeParts(parts);
    model.dispose();
  }
}

/** Positive weights of about unit gain per conv (see the file comment), so no path is lost or overflows float32. */
function makePositive(model: PixelCNN): void {
  const rng = createRng(1);
  const positive = (shape: number[], scale: number) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (0.5 + 0.5 * rng.next()) * scale), shape);
  tf.tidy(() => {
    for (const c of model.convs()) {
      const { kernel: k, in: cin } = c.spec;
      c.weight.assign(positive(c.weight.shape, 1 / (k * k * cin)));
      c.bias.assign(positive(c.bias.shape, 0.1));
    }
    for (const n of model.norms()) {
      n.gamma.assign(tf.onesLike(n.gamma));
      n.beta.assign(tf.zerosLike(n.beta));
      n.runningMean.assign(tf.zerosLike(n.runningMean));
      n.runningVar.assign(tf.onesLike(n.runningVar));
    }
    for (const b of model.classBiases()) b.weight.assign(positive(b.weight.shape, 0.1));
  });
}

/** d(sum of image b's logits at pixels[b] (channel 0's)) / d(input), for every b at once: [B, H, W, C]. */
function inputGradient(model: PixelCNN, pixels: { row: number; col: number }[]): tf.Tensor4D {
  const { height: H, width: W, channels: C } = model.image;
  const B = pixels.length;
  const rng = createRng(2);
  const x = tf.tensor4d(Float32Array.from({ length: B * H * W * C }, () => 0.25 + 0.75 * rng.next()), [B, H, W, C]);
  const classes = model.classes;
  const labels = classes === null ? null : oneHotLabels(new Array<number>(B).fill(0), classes);
  // Picks image b's logits at its pixel: a 0/1 weight [B, H, W, 1] broadcast over the logits.
  const pick = new Float32Array(B * H * W);
  pixels.forEach((p, b) => (pick[(b * H + p.row) * W + p.col] = 1));
  const weight = tf.tensor4d(pick, [B, H, W, 1]);
  // A colour softmax model's first channel (R): the later channels also see the pixel's earlier ones, and nothing
  // else. A mixture's outputs all see the same pixels (those before this one).
  const first = (logits: tf.Tensor4D) => (C > 1 && model.output.type === 'softmax' ? tf.slice(logits, [0, 0, 0, 0], [-1, -1, -1, model.config.color_levels]) : logits);
  const f = (input: tf.Tensor) => tf.sum(tf.mul(first(model.forward(input as tf.Tensor4D, false, false, labels, true)), weight));
  return tf.grad(f)(x) as tf.Tensor4D;
}

function view(values: ArrayLike<number>, b: number, p: { row: number; col: number }, image: ImageShape): PixelView {
  const { height: H, width: W, channels: C } = image;
  const seen = new Uint8Array(H * W);
  for (let q = 0; q < H * W; q++) {
    for (let c = 0; c < C; c++) if (values[(b * H * W + q) * C + c] !== 0) seen[q] = 1;
  }
  const at = p.row * W + p.col;
  let visible = 0;
  let leaks = 0;
  for (let q = 0; q < H * W; q++) {
    if (!seen[q]) continue;
    if (q < at) visible++;
    else leaks++;
  }
  return { row: p.row, col: p.col, predecessors: at, visible, blind: at - visible, leaks, seen };
}

/**
 * The view as text, one character per pixel: `#` a predecessor the pixel sees, `.` one it does
 * not (the blind spot), `@` the pixel itself, `!` a later pixel it sees (a broken mask), and
 * blank for the later pixels it rightly ignores. Rows after the pixel's are left out, and at most
 * `maxRows` rows above it and `maxCols` columns around it are drawn.
 */
export function viewPicture(v: PixelView, width: number, maxRows = 32, maxCols = 64): string[] {
  const top = Math.max(0, v.row - maxRows + 1);
  const left = width <= maxCols ? 0 : Math.min(Math.max(0, v.col - Math.floor(maxCols / 2)), width - maxCols);
  const right = Math.min(width, left + maxCols);
  const lines: string[] = [];
  for (let r = top; r <= v.row; r++) {
    let line = '';
    for (let c = left; c < right; c++) {
      const q = r * width + c;
      const at = v.row * width + v.col;
      line += q === at ? '@' : q < at ? (v.seen[q] ? '#' : '.') : v.seen[q] ? '!' : ' ';
    }
    lines.push(line);
  }
  return lines;
}
