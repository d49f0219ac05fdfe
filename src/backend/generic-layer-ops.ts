// The layer ops on any tfjs backend, from its generic kernels. Batch norm and the loss have
// hand-written gradients: tfjs's generic ones cost several times the arithmetic or memory.
import * as tf from '@tensorflow/tfjs';
import type { ConvParams, NormMode, NormParams, WindowConvParams, WindowPadding } from './layer-ops.js';
import { dropoutMask } from '../util/random.js';

/** Conv and bias in one fused op: one output tensor kept for the backward pass instead of two. */
export function maskedConv(x: tf.Tensor4D, conv: ConvParams): tf.Tensor4D {
  return tf.fused.conv2d({ x, filter: conv.kernel(), strides: 1, pad: 'same', bias: conv.bias });
}

/** Zero padding where a side is positive, cropping where it is negative. */
export function padOrCrop(x: tf.Tensor4D, p: WindowPadding): tf.Tensor4D {
  const grow = (n: number) => Math.max(0, n);
  const padded = p.top > 0 || p.bottom > 0 || p.left > 0 || p.right > 0
    ? (tf.pad(x, [[0, 0], [grow(p.top), grow(p.bottom)], [grow(p.left), grow(p.right)], [0, 0]]) as tf.Tensor4D)
    : x;
  if (p.top >= 0 && p.bottom >= 0 && p.left >= 0 && p.right >= 0) return padded;
  const [n, h, w, c] = padded.shape;
  const [top, left] = [grow(-p.top), grow(-p.left)];
  return tf.slice(padded, [0, top, left, 0], [n, h - top - grow(-p.bottom), w - left - grow(-p.right), c]);
}

/**
 * A stride-1 conv over explicitly padded (or cropped) input, 'VALID', its taps `dilation`
 * apart. tfjs's conv gradients refuse dilations, so a dilated kernel is written out with
 * zeros between its taps: the same sums (the zeros add nothing) for more arithmetic.
 */
export function windowConv(x: tf.Tensor4D, conv: WindowConvParams): tf.Tensor4D {
  return tf.fused.conv2d({ x: padOrCrop(x, conv.padding), filter: dilatedKernel(conv.kernel(), conv.dilation), strides: 1, pad: 'valid', bias: conv.bias });
}

/** [r, c, in, out] -> [(r-1)d+1, (c-1)d+1, in, out], d-1 zero rows and columns between the taps. */
function dilatedKernel(w: tf.Tensor, d: number): tf.Tensor4D {
  if (d === 1) return w as tf.Tensor4D;
  const [r, c, cin, cout] = w.shape as [number, number, number, number];
  const spaced = tf.pad(tf.reshape(w, [r, 1, c, 1, cin, cout]), [[0, 0], [0, d - 1], [0, 0], [0, d - 1], [0, 0], [0, 0]]);
  return tf.slice(tf.reshape(spaced, [r * d, c * d, cin, cout]), [0, 0, 0, 0], [(r - 1) * d + 1, (c - 1) * d + 1, cin, cout]) as tf.Tensor4D;
}

/**
 * tanh(a) ⊙ sigmoid(b) over the two halves of x's channels. The gradient is written from the
 * two outputs, which are all the backward pass keeps (tfjs's automatic one keeps a and b too).
 */
export const gate = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor4D, tf.GradSaveFunc];
  const [a, b] = tf.split(x, 2, 3);
  const t = tf.tanh(a);
  const s = tf.sigmoid(b);
  save([t, s]);
  return {
    value: tf.mul(t, s),
    gradFunc: (dy: tf.Tensor, [savedT, savedS]: tf.Tensor[]) => {
      const da = tf.mul(tf.mul(dy, savedS), tf.sub(1, tf.square(savedT)));
      const db = tf.mul(tf.mul(dy, savedT), tf.mul(savedS, tf.sub(1, savedS)));
      return tf.concat([da, db], 3);
    },
  };
}) as (x: tf.Tensor4D) => tf.Tensor4D;

/**
 * x × mask, the mask (dropoutMask: 0 or 1 / (1 - rate) per element) drawn from `key`. The
 * gradient is dy × mask: the backward pass keeps the mask alone, not x.
 */
export function dropout(x: tf.Tensor4D, rate: number, key: number): tf.Tensor4D {
  const mask = tf.tensor4d(dropoutMask(key, x.size, rate), x.shape);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor4D, tf.GradSaveFunc];
    save([mask]);
    return { value: tf.mul(input, mask) as tf.Tensor4D, gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) => tf.mul(dy, saved) };
  }) as (x: tf.Tensor4D) => tf.Tensor4D;
  const out = op(x);
  mask.dispose();
  return out;
}

export function batchNorm(x: tf.Tensor4D, bn: NormParams, mode: NormMode): tf.Tensor4D {
  return mode.training ? trainingNorm(bn, mode.updateStats)(x, bn.gamma, bn.beta) : inferenceNorm(x, bn);
}

/** Running statistics fold into one per-channel scale and shift. */
function inferenceNorm(x: tf.Tensor4D, bn: NormParams): tf.Tensor4D {
  const scale = tf.mul(bn.gamma, tf.rsqrt(tf.add(bn.runningVar, bn.epsilon)));
  return tf.add(tf.mul(x, scale), tf.sub(bn.beta, tf.mul(bn.runningMean, scale)));
}

/**
 * Training mode with a hand-written gradient: tfjs's generic one for tf.batchNorm tiles the
 * statistics to full size several times (most of a small model's step time on wasm), and
 * composing it from elementwise ops keeps four full-size tensors per layer alive for the
 * backward pass. This one keeps only the normalised input.
 */
function trainingNorm(bn: NormParams, updateStats: boolean) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, gamma, beta, save] = args as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const n = x.size / x.shape[3];
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    const rstd = tf.rsqrt(tf.add(variance, bn.epsilon));
    const xhat = tf.mul(tf.sub(x, mean), rstd);
    if (updateStats) updateRunning(bn, mean, variance, n);
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
}

/** PyTorch's convention: new = (1 - m) old + m batch, with the unbiased batch variance. */
function updateRunning(bn: NormParams, mean: tf.Tensor, variance: tf.Tensor, n: number): void {
  const m = bn.momentum;
  const unbiased = n > 1 ? n / (n - 1) : 1;
  tf.tidy(() => {
    bn.runningMean.assign(tf.add(tf.mul(bn.runningMean, 1 - m), tf.mul(mean, m)));
    bn.runningVar.assign(tf.add(tf.mul(bn.runningVar, 1 - m), tf.mul(variance, m * unbiased)));
  });
}

/**
 * A custom gradient because the generic one runs exp over every logit again in the backward
 * pass, and exp dominates the loss's cost (6.4 M logits per batch of 32 MNIST images at 256
 * levels); here the forward pass keeps the softmax for the backward pass.
 */
export function softmaxCrossEntropySum(logits: tf.Tensor2D, targets: tf.Tensor1D, levels: number): tf.Scalar {
  const onehot = tf.oneHot(targets, levels) as tf.Tensor2D;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [rows, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const shifted = tf.sub(rows, tf.max(rows, 1, true));
    const expd = tf.exp(shifted);
    const total = tf.sum(expd, 1, true);
    save([tf.sub(tf.div(expd, total), onehot)]); // the gradient itself, ready for the backward pass
    const value = tf.sub(tf.sum(tf.log(total)), tf.sum(tf.mul(onehot, shifted))) as tf.Scalar;
    return { value, gradFunc: (dy: tf.Tensor, [grad]: tf.Tensor[]) => tf.mul(grad, dy) };
  }) as (logits: tf.Tensor2D) => tf.Scalar;
  return op(logits);
}
