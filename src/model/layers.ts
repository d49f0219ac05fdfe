// The layers a PixelCNN is made of. Each owns its variables and knows its parameter count;
// a mask, when present, is a constant inside the graph, so masked weights get zero gradient.
import * as tf from '@tensorflow/tfjs';
import type { MaskType } from '../config/types.js';
import type { Rng } from '../util/random.js';
import { kernelMask } from './masks.js';
import { nativeOps, type NativeOps } from '../backend/native-ops.js';

/** Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default conv init, so results compare with the reference. */
function uniformInit(shape: number[], fanIn: number, rng: Rng): tf.Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = (rng.next() * 2 - 1) * bound;
  return tf.tensor(values, shape);
}

/**
 * relu. On native TensorFlow its gradient is one ReluGrad op from the output (tfjs's generic
 * one is five full-size kernels from the input), and the output is what the next conv keeps
 * for its own gradient anyway, so the input need not be kept.
 */
export function relu<T extends tf.Tensor>(x: T): T {
  return nativeOps('relu') ? (nativeRelu(x) as T) : tf.relu(x);
}

const nativeRelu = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const ops = nativeOps('relu')!;
  const y = tf.relu(x);
  save([y]);
  return { value: y, gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) => ops.reluGrad(dy, saved) };
}) as (x: tf.Tensor) => tf.Tensor;

/** tfjs variable names are global: each model instance gets its own prefix. */
let instances = 0;
export const newScope = (): string => `pxl${++instances}`;

export interface ConvSpec {
  name: string;
  kernel: number;
  in: number;
  out: number;
  mask: MaskType | null;
}

export class Conv2D {
  readonly spec: ConvSpec;
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  /** The 0/1 mask tensor, or null for an unmasked conv (or a 1x1 mask-B conv, which masks nothing). */
  readonly mask: tf.Tensor4D | null;

  constructor(spec: ConvSpec, rng: Rng, scope: string) {
    this.spec = spec;
    const { kernel: k, in: cin, out: cout } = spec;
    const fanIn = cin * k * k;
    this.weight = tf.variable(uniformInit([k, k, cin, cout], fanIn, rng), true, `${scope}/${spec.name}/weight`);
    this.bias = tf.variable(uniformInit([cout], fanIn, rng), true, `${scope}/${spec.name}/bias`);
    const masked = spec.mask !== null && !(k === 1 && spec.mask === 'B');
    this.mask = masked ? tf.keep(tf.tensor4d(kernelMask(k, spec.mask!, cin, cout), [k, k, cin, cout])) : null;
  }

  /** The kernel as the graph uses it: weight × mask. */
  kernel(): tf.Tensor4D {
    return (this.mask ? tf.mul(this.weight, this.mask) : this.weight) as tf.Tensor4D;
  }

  /**
   * Conv and bias. `inputGradient: false` (the model's first conv, whose input is the image)
   * skips the gradient with respect to x where the backend path allows it. `addBias: false`
   * (native path only) returns the conv without its bias, for a batch norm that takes the
   * bias over (BatchNorm.apply's `shift`); the bias still gets its gradient here.
   */
  apply(x: tf.Tensor4D, inputGradient = true, addBias = true): tf.Tensor4D {
    const ops = nativeOps('conv');
    if (ops) return this.nativeApply(ops, x, inputGradient, addBias);
    if (!addBias) throw new Error(`${this.spec.name}: only the native conv can leave its bias to the next layer`);
    // Conv and bias in one fused op: one output tensor kept for the backward pass instead of two.
    return tf.fused.conv2d({ x, filter: this.kernel(), strides: 1, pad: 'same', bias: this.bias });
  }

  /**
   * Native TensorFlow. The rows of a masked kernel below its centre are zero, so a masked
   * conv runs over the centre row and those above only ((k/2 + 1) x k taps: 6 of 9 for a
   * 3x3, 28 of 49 for a 7x7): the input padded by k/2 above, left and right and none below,
   * then a 'VALID' conv, which is the same sum as the full 'same' conv. (TensorFlow's
   * backprop ops take explicit paddings too, but then leave oneDNN for a path about 1.7x
   * slower; padding the input is cheaper.) The gradient: TensorFlow's backprop ops on those
   * rows, masked, and zeros for the rows below (what the full masked kernel would get).
   * Only the input and the rows kernel are kept for the backward pass, not the output.
   */
  private nativeApply(ops: NativeOps, x: tf.Tensor4D, inputGradient: boolean, addBias: boolean): tf.Tensor4D {
    const { kernel: k } = this.spec;
    const c = k >> 1;
    const cut = this.mask !== null && nativeOps('convRows') !== null;
    const rows = cut ? c + 1 : k;
    const padding = cut ? 'VALID' : 'SAME';
    const padded = (t: tf.Tensor4D) => (cut && c > 0 ? tf.pad(t, [[0, 0], [c, 0], [c, c], [0, 0]]) : t);
    const rowsKernel = (w: tf.Tensor) => {
      if (!this.mask) return w as tf.Tensor4D;
      return (rows < k ? tf.mul(tf.slice(w, 0, [rows]), this.rowsMask()) : tf.mul(w, this.mask)) as tf.Tensor4D;
    };
    const inputGrad = (dy: tf.Tensor4D, input: tf.Tensor4D, filter: tf.Tensor4D): tf.Tensor => {
      if (!(cut && c > 0)) return ops.conv2dBackpropInput(input.shape, dy, filter, padding);
      const [n, h, w, ch] = input.shape;
      return tf.slice(ops.conv2dBackpropInput([n, h + c, w + 2 * c, ch], dy, filter, padding), [0, c, c, 0], input.shape);
    };
    const gradients = (dy: tf.Tensor4D, input: tf.Tensor4D, filter: tf.Tensor4D) => {
      let dw: tf.Tensor = ops.conv2dBackpropFilter(padded(input), dy, filter.shape, padding);
      if (this.mask) dw = tf.mul(dw, rows < k ? this.rowsMask() : this.mask);
      if (rows < k) dw = tf.pad(dw, [[0, k - rows], [0, 0], [0, 0], [0, 0]]);
      return { dw, db: tf.sum(dy, [0, 1, 2]) };
    };
    const forward = (input: tf.Tensor4D, w: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
      const filter = rowsKernel(w);
      save([input, filter]);
      const y = ops.conv2d(padded(input), filter, padding);
      return addBias ? (tf.add(y, b) as tf.Tensor4D) : y;
    };
    if (!inputGradient) {
      const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
        const [w, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
        return {
          value: forward(x, w, b, save),
          gradFunc: (dy: tf.Tensor, [input, filter]: tf.Tensor[]) => {
            const { dw, db } = gradients(dy as tf.Tensor4D, input as tf.Tensor4D, filter as tf.Tensor4D);
            return [dw, db];
          },
        };
      }) as (w: tf.Tensor, b: tf.Tensor) => tf.Tensor4D;
      return op(this.weight, this.bias);
    }
    const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [input, w, b, save] = args as [tf.Tensor4D, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
      return {
        value: forward(input, w, b, save),
        gradFunc: (dy: tf.Tensor, [saved, filter]: tf.Tensor[]) => {
          const dx = inputGrad(dy as tf.Tensor4D, saved as tf.Tensor4D, filter as tf.Tensor4D);
          const { dw, db } = gradients(dy as tf.Tensor4D, saved as tf.Tensor4D, filter as tf.Tensor4D);
          return [dx, dw, db];
        },
      };
    }) as (x: tf.Tensor4D, w: tf.Tensor, b: tf.Tensor) => tf.Tensor4D;
    return op(x, this.weight, this.bias);
  }

  private rowsMaskTensor: tf.Tensor4D | null = null;

  /** The mask's rows down to the centre one, the part a masked native conv computes with. */
  private rowsMask(): tf.Tensor4D {
    if (!this.rowsMaskTensor) {
      const rows = (this.spec.kernel >> 1) + 1;
      this.rowsMaskTensor = tf.keep(tf.slice(this.mask!, 0, [rows])) as tf.Tensor4D;
    }
    return this.rowsMaskTensor;
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
    this.rowsMaskTensor?.dispose();
  }
}

/**
 * Batch norm over batch and space, per channel, as PyTorch's BatchNorm2d (momentum 0.1,
 * eps 1e-5, unbiased running variance).
 *
 * Training mode has a hand-written gradient: tfjs's generic one for tf.batchNorm tiles
 * the statistics to full size several times (most of a small model's step time on wasm),
 * and composing it from elementwise ops keeps four full-size tensors per layer alive for
 * the backward pass. This one keeps only the normalised input.
 */
export class BatchNorm {
  static readonly momentum = 0.1;
  static readonly epsilon = 1e-5;
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
   * unless `updateStats` is false (a block recomputed for its gradient must not count twice).
   *
   * `shift` (native path only): a per-channel shift the input has not had added yet (the
   * bias of the conv before, see Conv2D.apply): batch norm of x + shift. In training mode
   * the normalised output does not depend on a per-channel shift, so only the running mean
   * takes it in; in inference mode it is taken off the running mean. That saves a full-size
   * add per layer and gives the same values up to rounding.
   */
  apply(x: tf.Tensor4D, training: boolean, updateStats = true, shift: tf.Tensor | null = null): tf.Tensor4D {
    const ops = nativeOps('batchNorm');
    if (shift && !ops) throw new Error(`${this.name}: only the native batch norm takes a shift`);
    if (!training) {
      if (!ops) return this.inference(x);
      const mean = shift ? tf.sub(this.runningMean, shift) : this.runningMean;
      const y = ops.batchNormInference(x, this.gamma, this.beta, mean, this.runningVar, BatchNorm.epsilon);
      if (shift) mean.dispose();
      return y;
    }
    this.updateStats = updateStats;
    this.shift = shift;
    return ops ? this.nativeTrainingNorm(x, this.gamma, this.beta) : this.trainingNorm(x, this.gamma, this.beta);
  }

  private updateStats = true;
  private shift: tf.Tensor | null = null;

  /** Running statistics fold into one per-channel scale and shift. */
  private inference(x: tf.Tensor4D): tf.Tensor4D {
    const scale = tf.mul(this.gamma, tf.rsqrt(tf.add(this.runningVar, BatchNorm.epsilon)));
    return tf.add(tf.mul(x, scale), tf.sub(this.beta, tf.mul(this.runningMean, scale)));
  }

  private readonly trainingNorm = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, gamma, beta, save] = args as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const n = x.size / x.shape[3];
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    const rstd = tf.rsqrt(tf.add(variance, BatchNorm.epsilon));
    const xhat = tf.mul(tf.sub(x, mean), rstd);
    if (this.updateStats) this.updateRunning(mean, variance, n);
    save([xhat, rstd]);
    return {
      value: tf.add(tf.mul(xhat, gamma), beta) as tf.Tensor4D,
      gradFunc: (dy: tf.Tensor, [savedXhat, savedRstd]: tf.Tensor[]) => {
        // dx = gamma * rstd / n * (n * dy - sum(dy) - xhat * sum(dy * xhat))
        const dbeta = tf.sum(dy, [0, 1, 2]);
        const dgamma = tf.sum(tf.mul(dy, savedXhat), [0, 1, 2]);
        const inner = tf.sub(tf.sub(tf.mul(dy, n), dbeta), tf.mul(savedXhat, dgamma));
        const dx = tf.mul(inner, tf.div(tf.mul(gamma, savedRstd), n));
        return [dx, dgamma, dbeta];
      },
    };
  }) as (x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor4D;

  /**
   * The same maths as one TensorFlow op each way (FusedBatchNormV3, FusedBatchNormGradV3),
   * which also returns the updated running statistics. The backward pass keeps the input
   * (which the conv before it produced) and three per-channel tensors.
   */
  private readonly nativeTrainingNorm = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, gamma, beta, save] = args as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const ops = nativeOps('batchNorm')!;
    const m = BatchNorm.momentum;
    // The op's new running mean is (1 - m) mean + m batchMean(x); with a shift it must be
    // (1 - m) mean + m (batchMean(x) + shift): hand it mean + shift m / (1 - m).
    const mean = this.shift ? tf.add(this.runningMean, tf.mul(this.shift, m / (1 - m))) : this.runningMean;
    const r = ops.batchNormTraining(x, gamma, beta, mean, this.runningVar, BatchNorm.epsilon, m);
    if (this.updateStats) {
      this.runningMean.assign(r.runningMean);
      this.runningVar.assign(r.runningVar);
    }
    save([x, gamma, ...r.saved]);
    return {
      value: r.y,
      gradFunc: (dy: tf.Tensor, [savedX, savedGamma, ...saved]: tf.Tensor[]) => ops.batchNormGrad(dy, savedX, savedGamma, saved, BatchNorm.epsilon),
    };
  }) as (x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor4D;

  private updateRunning(mean: tf.Tensor, variance: tf.Tensor, n: number): void {
    const m = BatchNorm.momentum;
    const unbiased = n > 1 ? n / (n - 1) : 1;
    tf.tidy(() => {
      this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - m), tf.mul(mean, m)));
      this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - m), tf.mul(variance, m * unbiased)));
    });
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
