// The layer ops on any tfjs backend, from its generic kernels. Batch norm and the loss have
// hand-written gradients: tfjs's generic ones cost several times the arithmetic or memory.
import * as tf from '@tensorflow/tfjs';
import type { ConvParams, NormMode, NormParams } from './layer-ops.js';

/** Conv and bias in one fused op: one output tensor kept for the backward pass instead of two. */
export function maskedConv(x: tf.Tensor4D, conv: ConvParams): tf.Tensor4D {
  return tf.fused.conv2d({ x, filter: conv.kernel(), strides: 1, pad: 'same', bias: conv.bias });
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
