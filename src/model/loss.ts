// The loss: -log p of the data under the model's output (output.ts), in nats; the softmax's
// cross-entropy over colour levels, and bits per dimension.
import * as tf from '@tensorflow/tfjs';
import { softmaxCrossEntropySum } from './output.js';
import type { PixelCNN } from './pixelcnn.js';

/** Sum over all sub-pixels of -log p(target) under the softmax; logits [B,H,W,C*L], targets int32 [B*H*W*C]. */
export function crossEntropySum(logits: tf.Tensor4D, targets: tf.Tensor1D, levels: number): tf.Scalar {
  return softmaxCrossEntropySum(logits, targets, levels);
}

/** Mean over sub-pixels: the training loss of a softmax model. */
export function crossEntropyMean(logits: tf.Tensor4D, targets: tf.Tensor1D, levels: number): tf.Scalar {
  return tf.tidy(() => tf.div(crossEntropySum(logits, targets, levels), targets.size) as tf.Scalar);
}

/** Sum over all sub-pixels of -log p(target) under `model`'s output (softmax or mixture), from its forward output. */
export function outputNllSum(model: PixelCNN, outputs: tf.Tensor4D, targets: tf.Tensor1D): tf.Scalar {
  return model.output.nllSum(outputs, targets);
}

/**
 * The training loss of `model` on inputs x: the mean over sub-pixels, with the output conv and the loss as one op.
 * `step`: the training step, which draws the dropout masks (needed when the model has dropout).
 */
export function modelCrossEntropyMean(model: PixelCNN, x: tf.Tensor4D, targets: tf.Tensor1D, recompute = false, labels: tf.Tensor2D | null = null, step: number | null = null): tf.Scalar {
  return tf.tidy(() => tf.div(model.crossEntropySum(x, targets, true, recompute, labels, step), targets.size) as tf.Scalar);
}

export const NATS_PER_BIT = Math.LN2;
export const bitsPerDim = (nats: number): number => nats / NATS_PER_BIT;
