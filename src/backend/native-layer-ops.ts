// The layer ops on native TensorFlow ('tensorflow': tfjs-node), from TensorFlow's own fused
// ops (native-ops.ts), each with its own gradient: fewer kernels, fewer tensors kept for the
// backward pass. test/backend/native-ops.test.ts compares each with generic-layer-ops.ts.
import * as tf from '@tensorflow/tfjs';
import { padOrCrop } from './generic-layer-ops.js';
import type { ConvParams, NormMode, NormParams, WindowConvParams } from './layer-ops.js';
import { nativeOps, type NativeOps } from './native-ops.js';

/**
 * relu. Its gradient is one ReluGrad op from the output (tfjs's generic one is five full-size
 * kernels from the input), and the output is what the next conv keeps for its own gradient
 * anyway, so the input need not be kept.
 */
export const relu = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const ops = nativeOps('relu')!;
  const y = tf.relu(x);
  save([y]);
  return { value: y, gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) => ops.reluGrad(dy, saved) };
}) as (x: tf.Tensor) => tf.Tensor;

/** Per conv layer: its mask's rows down to the centre one, the part a masked native conv computes with. */
const rowsMasks = new WeakMap<ConvParams, tf.Tensor4D>();

function rowsMask(conv: ConvParams): tf.Tensor4D {
  let m = rowsMasks.get(conv);
  if (!m) {
    const rows = (conv.kernelSize >> 1) + 1;
    m = tf.keep(tf.slice(conv.mask!, 0, [rows])) as tf.Tensor4D;
    rowsMasks.set(conv, m);
  }
  return m;
}

export function release(conv: ConvParams): void {
  rowsMasks.get(conv)?.dispose();
  rowsMasks.delete(conv);
}

/**
 * The rows of a masked kernel below its centre are zero, so a masked conv runs over the
 * centre row and those above only ((k/2 + 1) x k taps: 6 of 9 for a 3x3, 28 of 49 for a 7x7):
 * the input padded by k/2 above, left and right and none below, then a 'VALID' conv, which is
 * the same sum as the full 'same' conv. (TensorFlow's backprop ops take explicit paddings too,
 * but then leave oneDNN for a path about 1.7x slower; padding the input is cheaper.) The
 * gradient: TensorFlow's backprop ops on those rows, masked, and zeros for the rows below
 * (what the full masked kernel would get). Only the input and the rows kernel are kept for the
 * backward pass, not the output. `addBias: false` returns the conv without its bias, for a
 * batch norm that takes the bias over (batchNorm's `shift`); the bias still gets its gradient.
 */
export function maskedConv(ops: NativeOps, x: tf.Tensor4D, conv: ConvParams, inputGradient: boolean, addBias: boolean): tf.Tensor4D {
  const k = conv.kernelSize;
  const mask = conv.mask;
  const c = k >> 1;
  const cut = mask !== null && nativeOps('convRows') !== null;
  const rows = cut ? c + 1 : k;
  const padding = cut ? 'VALID' : 'SAME';
  const padded = (t: tf.Tensor4D) => (cut && c > 0 ? tf.pad(t, [[0, 0], [c, 0], [c, c], [0, 0]]) : t);
  const rowsKernel = (w: tf.Tensor) => {
    if (!mask) return w as tf.Tensor4D;
    return (rows < k ? tf.mul(tf.slice(w, 0, [rows]), rowsMask(conv)) : tf.mul(w, mask)) as tf.Tensor4D;
  };
  const inputGrad = (dy: tf.Tensor4D, input: tf.Tensor4D, filter: tf.Tensor4D): tf.Tensor => {
    if (!(cut && c > 0)) return ops.conv2dBackpropInput(input.shape, dy, filter, padding);
    const [n, h, w, ch] = input.shape;
    return tf.slice(ops.conv2dBackpropInput([n, h + c, w + 2 * c, ch], dy, filter, padding), [0, c, c, 0], input.shape);
  };
  const gradients = (dy: tf.Tensor4D, input: tf.Tensor4D, filter: tf.Tensor4D) => {
    let dw: tf.Tensor = ops.conv2dBackpropFilter(padded(input), dy, filter.shape, padding);
    if (mask) dw = tf.mul(dw, rows < k ? rowsMask(conv) : mask);
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
    return op(conv.weight, conv.bias);
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
  return op(x, conv.weight, conv.bias);
}

/**
 * A window conv (Gated PixelCNN's stacks) on TensorFlow's Conv2D and its backprop ops, with
 * the dilation TensorFlow does natively (tfjs's generic path writes the dilated kernel out
 * with zeros). The backward pass keeps only the padded input and the kernel; the input's
 * gradient is the padded one with the padding cut off again (or zeros put back where the
 * window cropped). `addBias: false` as in maskedConv.
 */
export function windowConv(ops: NativeOps, x: tf.Tensor4D, conv: WindowConvParams, inputGradient: boolean, addBias: boolean): tf.Tensor4D {
  const d = conv.dilation;
  const p = conv.padding;
  const unpad = (g: tf.Tensor4D): tf.Tensor => padOrCrop(g, { top: -p.top, bottom: -p.bottom, left: -p.left, right: -p.right });
  // A colour image's horizontal stack masks the pixel itself by channel group: weight × mask, and its gradient masked alike.
  const mask = conv.mask;
  const forward = (input: tf.Tensor4D, w: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const padded = padOrCrop(input, p);
    const filter = mask ? tf.mul(w, mask) : w;
    save([padded, filter]);
    const y = ops.conv2d(padded, filter as tf.Tensor4D, 'VALID', d);
    return addBias ? (tf.add(y, b) as tf.Tensor4D) : y;
  };
  const paramGrads = (dy: tf.Tensor, padded: tf.Tensor, w: tf.Tensor) => {
    const dw = ops.conv2dBackpropFilter(padded as tf.Tensor4D, dy as tf.Tensor4D, w.shape, 'VALID', d);
    return [mask ? tf.mul(dw, mask) : dw, tf.sum(dy, [0, 1, 2])];
  };
  if (!inputGradient) {
    const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [w, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
      return { value: forward(x, w, b, save), gradFunc: (dy: tf.Tensor, [padded, w2]: tf.Tensor[]) => paramGrads(dy, padded, w2) };
    }) as (w: tf.Tensor, b: tf.Tensor) => tf.Tensor4D;
    return op(conv.weight, conv.bias);
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, w, b, save] = args as [tf.Tensor4D, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    return {
      value: forward(input, w, b, save),
      gradFunc: (dy: tf.Tensor, [padded, w2]: tf.Tensor[]) => {
        const dPadded = ops.conv2dBackpropInput(padded.shape, dy as tf.Tensor4D, w2 as tf.Tensor4D, 'VALID', d);
        return [unpad(dPadded), ...paramGrads(dy, padded, w2)];
      },
    };
  }) as (x: tf.Tensor4D, w: tf.Tensor, b: tf.Tensor) => tf.Tensor4D;
  return op(x, conv.weight, conv.bias);
}

/**
 * The gate tanh(a) ⊙ sigmoid(b): its gradient from the two outputs, with TensorFlow's
 * TanhGrad and SigmoidGrad (one kernel each instead of three elementwise ones).
 */
export function gate(ops: NativeOps, x: tf.Tensor4D): tf.Tensor4D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor4D, tf.GradSaveFunc];
    const [a, b] = tf.split(input, 2, 3);
    const t = tf.tanh(a);
    const s = tf.sigmoid(b);
    save([t, s]);
    return {
      value: tf.mul(t, s) as tf.Tensor4D,
      gradFunc: (dy: tf.Tensor, [savedT, savedS]: tf.Tensor[]) =>
        tf.concat([ops.tanhGrad(savedT, tf.mul(dy, savedS)), ops.sigmoidGrad(savedS, tf.mul(dy, savedT))], 3),
    };
  }) as (x: tf.Tensor4D) => tf.Tensor4D;
  return op(x);
}

/**
 * `shift`: a per-channel shift the input has not had added yet (the bias of the conv before,
 * see maskedConv's addBias): batch norm of x + shift. In training mode the normalised output
 * does not depend on a per-channel shift, so only the running mean takes it in; in inference
 * mode it is taken off the running mean.
 */
export function batchNorm(ops: NativeOps, x: tf.Tensor4D, bn: NormParams, mode: NormMode, shift: tf.Tensor | null): tf.Tensor4D {
  if (!mode.training) {
    const mean = shift ? tf.sub(bn.runningMean, shift) : bn.runningMean;
    const y = ops.batchNormInference(x, bn.gamma, bn.beta, mean, bn.runningVar, bn.epsilon);
    if (shift) mean.dispose();
    return y;
  }
  return trainingNorm(ops, bn, mode.updateStats, shift)(x, bn.gamma, bn.beta);
}

/**
 * One TensorFlow op each way (FusedBatchNormV3, FusedBatchNormGradV3), which also returns the
 * updated running statistics. The backward pass keeps the input (which the conv before it
 * produced) and three per-channel tensors.
 */
function trainingNorm(ops: NativeOps, bn: NormParams, updateStats: boolean, shift: tf.Tensor | null) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, gamma, beta, save] = args as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const m = bn.momentum;
    // The op's new running mean is (1 - m) mean + m batchMean(x); with a shift it must be
    // (1 - m) mean + m (batchMean(x) + shift): hand it mean + shift m / (1 - m).
    const mean = shift ? tf.add(bn.runningMean, tf.mul(shift, m / (1 - m))) : bn.runningMean;
    const r = ops.batchNormTraining(x, gamma, beta, mean, bn.runningVar, bn.epsilon, m);
    if (updateStats) {
      bn.runningMean.assign(r.runningMean);
      bn.runningVar.assign(r.runningVar);
    }
    save([x, gamma, ...r.saved]);
    return {
      value: r.y,
      gradFunc: (dy: tf.Tensor, [savedX, savedGamma, ...saved]: tf.Tensor[]) => ops.batchNormGrad(dy, savedX, savedGamma, saved, bn.epsilon),
    };
  }) as (x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor4D;
}

/**
 * One SparseSoftmaxCrossEntropyWithLogits op gives the loss per row and its gradient together,
 * from the integer targets (no one-hot tensor).
 */
export function softmaxCrossEntropySum(ops: NativeOps, logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [rows, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const [loss, grad] = ops.sparseSoftmaxCrossEntropy(rows, targets);
    save([grad]);
    return { value: tf.sum(loss) as tf.Scalar, gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) => tf.mul(saved, dy) };
  }) as (logits: tf.Tensor2D) => tf.Scalar;
  return op(logits);
}

/** Smallest probability the loss takes a log of: a sub-pixel's loss is at most -log(FLT_MIN) = 87.3 nats. */
const TINY = 1.1754944e-38;

/**
 * The output 1x1 conv and the cross-entropy of its logits as one op: sum over sub-pixels of
 * -log softmax(conv(x))[target], for `levels` logits per sub-pixel. It saves a step a third
 * of its full-size [pixels, channels × levels] passes: the bias rides in the contraction as
 * a column of ones beside x (no bias add, and its gradient comes with the weight's); the
 * softmax is oneDNN's (SparseSoftmaxCrossEntropyWithLogits is an Eigen kernel over twice as
 * slow); and the gradient softmax - onehot is never written out: its one-hot part is a
 * gather of the weight's columns for x's gradient and a segment sum of x's rows for the
 * weight's, both pixels × channels small, and the loss's scale (dy) goes on the small results.
 * The cancellation in p - onehot is the same as in the generic path's.
 */
export function outputCrossEntropySum(x: tf.Tensor4D, conv: ConvParams, targets: tf.Tensor1D, levels: number): tf.Scalar {
  const [n, height, width, c] = x.shape;
  const outs = conv.bias.size;
  const ch = outs / levels;
  const pixels = n * height * width;
  // Row r = pixel × ch + channel of the logits as [rows, levels]: its place in the flattened
  // softmax, and its column in [pixels, outs]. (Made where they are used: the forward pass's
  // tensors, the targets too, are gone by the backward pass unless saved.)
  const int = (v: number) => tf.scalar(v, 'int32');
  const rows = () => tf.range(0, pixels * ch, 1, 'int32');
  const flat = () => tf.add(tf.mul(rows(), int(levels)), targets);
  const column = (t: tf.Tensor1D): tf.Tensor1D => (ch === 1 ? t : tf.add(tf.mul(tf.mod(rows(), int(ch)), int(levels)), t));
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, w, b, save] = args as [tf.Tensor4D, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const withOnes = tf.concat([input, tf.ones([n, height, width, 1])], 3);
    const kernel = tf.reshape(conv.mask ? tf.mul(w, conv.mask) : w, [c, outs]);
    const logits = tf.einsum('nhwc,co->nhwo', withOnes, tf.concat([kernel, tf.reshape(b, [1, outs])], 0));
    const p = tf.softmax(ch === 1 ? logits : tf.reshape(logits, [n, height, width, ch, levels]));
    const pTarget = tf.gather(tf.reshape(p, [-1]), flat());
    save([withOnes, kernel, p, targets]);
    return {
      value: tf.neg(tf.sum(tf.log(tf.maximum(pTarget, TINY)))) as tf.Scalar,
      gradFunc: (dy: tf.Tensor, [savedX, savedKernel, savedP, savedTargets]: tf.Tensor[]) => {
        const p4 = ch === 1 ? savedP : tf.reshape(savedP, [n, height, width, outs]);
        const columns = column(savedTargets as tf.Tensor1D);
        const onehotX = tf.gather(tf.transpose(savedKernel), columns);
        const dxOnehot = tf.reshape(ch === 1 ? onehotX : tf.sum(tf.reshape(onehotX, [pixels, ch, c]), 1), [n, height, width, c]);
        const dx = tf.mul(tf.sub(tf.einsum('nhwo,co->nhwc', p4, savedKernel), dxOnehot), dy);
        const rowsX = tf.reshape(savedX, [pixels, c + 1]);
        const onehotW = tf.unsortedSegmentSum(ch === 1 ? rowsX : tf.gather(rowsX, tf.floorDiv(rows(), int(ch))), columns, outs);
        const dwb = tf.mul(tf.sub(tf.einsum('nhwc,nhwo->co', savedX, p4), tf.transpose(onehotW)), dy);
        const [dk, db] = tf.split(dwb, [c, 1], 0);
        const dw = tf.reshape(dk, [1, 1, c, outs]);
        return [dx, conv.mask ? tf.mul(dw, conv.mask) : dw, tf.reshape(db, [outs])];
      },
    };
  }) as (x: tf.Tensor4D, w: tf.Tensor, b: tf.Tensor) => tf.Scalar;
  return op(x, conv.weight, conv.bias);
}
