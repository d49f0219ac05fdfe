// The layers a PixelCNN is made of: a conv with a causal mask (conv(x, weight × mask) + bias)
// and batch norm. Each owns its variables and knows its parameter count; a mask is a constant
// inside the graph, so masked weights get zero gradient. The backend's layer ops compute them
// (src/backend/layer-ops.ts): the model says what, the backend decides how.
import * as tf from '@tensorflow/tfjs';
import { layerOps, type ConvParams, type NormParams, type WindowConvParams, type WindowPadding } from '../backend/layer-ops.js';
import type { MaskType } from '../config/types.js';
import type { Rng } from '../util/random.js';
import { kernelMask, windowMask, type ChannelGroups } from './masks.js';

/** Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default conv init, so results compare with the reference. */
function uniformInit(shape: number[], fanIn: number, rng: Rng): tf.Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = (rng.next() * 2 - 1) * bound;
  return tf.tensor(values, shape);
}

export const relu = <T extends tf.Tensor>(x: T): T => layerOps.relu(x);

/** The gated activation of Gated PixelCNN: tanh(a) ⊙ sigmoid(b), a and b the two halves of x's channels. */
export const gate = (x: tf.Tensor4D): tf.Tensor4D => layerOps.gate(x);

/** Each row moved one down, a row of zeros on top: what row i reads of it was computed at row i - 1. */
export const shiftDown = (x: tf.Tensor4D): tf.Tensor4D =>
  tf.slice(tf.pad(x, [[0, 0], [1, 0], [0, 0], [0, 0]]), [0, 0, 0, 0], x.shape) as tf.Tensor4D;

/** tfjs variable names are global: each model instance gets its own prefix. */
let instances = 0;
export const newScope = (): string => `pxl${++instances}`;

export interface ConvSpec {
  name: string;
  kernel: number;
  in: number;
  out: number;
  mask: MaskType | null;
  /** Colour images: the channel groups the centre tap is masked by (a 1x1 mask-B conv then masks too). */
  groups?: ChannelGroups | null;
}

/** More than one channel group: the centre tap is masked by group. */
export const byGroup = (g: ChannelGroups | null | undefined): g is ChannelGroups => !!g && g.groups > 1;

export class Conv2D implements ConvParams {
  readonly spec: ConvSpec;
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  /** The 0/1 mask tensor, or null for an unmasked conv (or a 1x1 mask-B conv of one channel group, which masks nothing). */
  readonly mask: tf.Tensor4D | null;

  constructor(spec: ConvSpec, rng: Rng, scope: string) {
    this.spec = spec;
    const { kernel: k, in: cin, out: cout } = spec;
    const fanIn = cin * k * k;
    this.weight = tf.variable(uniformInit([k, k, cin, cout], fanIn, rng), true, `${scope}/${spec.name}/weight`);
    this.bias = tf.variable(uniformInit([cout], fanIn, rng), true, `${scope}/${spec.name}/bias`);
    const masked = spec.mask !== null && !(k === 1 && spec.mask === 'B' && !byGroup(spec.groups));
    this.mask = masked ? tf.keep(tf.tensor4d(kernelMask(k, spec.mask!, cin, cout, spec.groups ?? null), [k, k, cin, cout])) : null;
  }

  get name(): string {
    return this.spec.name;
  }

  get kernelSize(): number {
    return this.spec.kernel;
  }

  /** The kernel as the graph uses it: weight × mask. */
  kernel(): tf.Tensor4D {
    return (this.mask ? tf.mul(this.weight, this.mask) : this.weight) as tf.Tensor4D;
  }

  /** conv(x, weight × mask) + bias, 'same' padding; `inputGradient: false` when x needs no gradient (the image). */
  apply(x: tf.Tensor4D, inputGradient = true): tf.Tensor4D {
    return layerOps.maskedConv(x, this, inputGradient);
  }

  variables(): tf.Variable[] {
    return [this.weight, this.bias];
  }

  params(): number {
    return this.weight.size + this.bias.size;
  }

  dispose(): void {
    this.weight.dispose();
    this.bias.dispose();
    this.mask?.dispose();
    layerOps.release(this);
  }
}

/**
 * Batch norm over batch and space, per channel, as PyTorch's BatchNorm2d (momentum 0.1,
 * eps 1e-5, unbiased running variance): (x - mean) / sqrt(var + eps) × gamma + beta.
 */
export class BatchNorm implements NormParams {
  static readonly momentum = 0.1;
  static readonly epsilon = 1e-5;
  readonly momentum = BatchNorm.momentum;
  readonly epsilon = BatchNorm.epsilon;
  readonly name: string;
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;

  constructor(name: string, channels: number, scope: string) {
    this.name = name;
    this.gamma = tf.variable(tf.ones([channels]), true, `${scope}/${name}/gamma`);
    this.beta = tf.variable(tf.zeros([channels]), true, `${scope}/${name}/beta`);
    this.runningMean = tf.variable(tf.zeros([channels]), false, `${scope}/${name}/running_mean`);
    this.runningVar = tf.variable(tf.ones([channels]), false, `${scope}/${name}/running_var`);
  }

  /**
   * Training mode normalises with the batch's statistics and updates the running ones,
   * unless `updateStats` is false (a block recomputed for its gradient must not count twice);
   * inference mode uses the running ones.
   */
  apply(x: tf.Tensor4D, training: boolean, updateStats = true): tf.Tensor4D {
    return layerOps.batchNorm(x, this, { training, updateStats });
  }

  variables(): tf.Variable[] {
    return [this.gamma, this.beta];
  }

  buffers(): tf.Variable[] {
    return [this.runningMean, this.runningVar];
  }

  params(): number {
    return this.gamma.size + this.beta.size;
  }

  dispose(): void {
    for (const v of [...this.variables(), ...this.buffers()]) v.dispose();
  }
}

/**
 * The convs of Gated PixelCNN's two stacks, which need no spatial mask because their kernels only
 * cover what a position may see: vertical, a (k/2+1) x k kernel over the rows above and the
 * row itself (the horizontal stack reads it one row down, see shiftDown); horizontal, a
 * 1 x (k/2+1) kernel over the pixels to the left and the pixel itself (mask B), or a
 * 1 x k/2 kernel over the pixels to the left only (mask A). Taps are `dilation` apart. For
 * colour images the horizontal kernel also covers the pixel itself, masked by channel group.
 */
export interface StackConvSpec {
  name: string;
  stack: 'vertical' | 'horizontal';
  kernel: number;
  dilation: number;
  /** Horizontal only: A leaves the pixel itself out. */
  mask: MaskType | null;
  in: number;
  out: number;
  /** Colour images, horizontal stack: the channel groups its anchor tap (the pixel itself) is masked by. */
  groups?: ChannelGroups | null;
}

/** The kernel's rows and columns, and which of them sits at the output position (the anchor). */
export function stackWindow(spec: StackConvSpec): { rows: number; cols: number; anchorRow: number; anchorCol: number } {
  const c = spec.kernel >> 1;
  if (spec.stack === 'vertical') return { rows: c + 1, cols: spec.kernel, anchorRow: c, anchorCol: c };
  // Mask A: the k/2 taps left of the pixel, as if the anchor were one past the last tap; with
  // channel groups the pixel itself is a tap too, masked by group (later channels see earlier ones).
  return spec.mask === 'A' && !byGroup(spec.groups) ? { rows: 1, cols: c, anchorRow: 0, anchorCol: c } : { rows: 1, cols: c + 1, anchorRow: 0, anchorCol: c };
}

export class StackConv implements WindowConvParams {
  readonly spec: StackConvSpec;
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly dilation: number;
  /** Zero padding (negative: cropping) that makes a 'VALID' conv put each output at its anchor. */
  readonly padding: WindowPadding;
  /** The anchor tap's mask by channel group [rows, cols, in, out] (horizontal stack, colour images), else null. */
  readonly mask: tf.Tensor4D | null;

  constructor(spec: StackConvSpec, rng: Rng, scope: string) {
    this.spec = spec;
    const { rows, cols, anchorRow, anchorCol } = stackWindow(spec);
    const d = (this.dilation = spec.dilation);
    this.padding = { top: d * anchorRow, bottom: d * (rows - 1 - anchorRow), left: d * anchorCol, right: d * (cols - 1 - anchorCol) };
    const fanIn = rows * cols * spec.in;
    this.weight = tf.variable(uniformInit([rows, cols, spec.in, spec.out], fanIn, rng), true, `${scope}/${spec.name}/weight`);
    this.bias = tf.variable(uniformInit([spec.out], fanIn, rng), true, `${scope}/${spec.name}/bias`);
    const masked = spec.stack === 'horizontal' && byGroup(spec.groups);
    const shape: [number, number, number, number] = [rows, cols, spec.in, spec.out];
    this.mask = masked ? tf.keep(tf.tensor4d(windowMask(rows, cols, anchorRow * cols + anchorCol, spec.mask ?? 'B', spec.in, spec.out, spec.groups!), shape)) : null;
  }

  get name(): string {
    return this.spec.name;
  }

  /** The kernel as the graph uses it: weight × mask. */
  kernel(): tf.Tensor4D {
    return (this.mask ? tf.mul(this.weight, this.mask) : this.weight) as tf.Tensor4D;
  }

  apply(x: tf.Tensor4D, inputGradient = true): tf.Tensor4D {
    return layerOps.windowConv(x, this, inputGradient);
  }

  variables(): tf.Variable[] {
    return [this.weight, this.bias];
  }

  params(): number {
    return this.weight.size + this.bias.size;
  }

  dispose(): void {
    this.weight.dispose();
    this.bias.dispose();
    this.mask?.dispose();
  }
}
