// Cross-entropy of the per-pixel softmax over colour levels, in nats.
import * as tf from '@tensorflow/tfjs';
import { layerOps } from '../backend/layer-ops.js';
import type { PixelCNN } from './pixelcnn.js';

/** Sum over all sub-pixels of -log p(target); logits [B,H,W,C*L], targets int32 [B*H*W*C]. */
export function crossEntropySum(logits: tf.Tensor4D, targets: tf.Tensor1D, levels: number): tf.Scalar {
  return tf.tidy(() => {
    const rows = tf.reshape(logits, [-1, levels]) as tf.Tensor2D;
    return layerOps.softmaxCrossEntropySum(rows, targets, levels);
  });
}

/** Mean over sub-pixels: the training loss. */
export function crossEntropyMean(logits: tf.Tensor4D, targets: tf.Tensor1D, levels: number): tf.Scalar {
  return tf.tidy(() => tf.div(crossEntropySum(logits, targets, levels), targets.size) as tf.Scalar);
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
