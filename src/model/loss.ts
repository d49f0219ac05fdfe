// Cross-entropy of the per-pixel softmax over colour levels, in nats.
import * as tf from '@tensorflow/tfjs';
import { nativeOps } from '../backend/native-ops.js';

/**
 * Sum over rows of -log softmax(logits)[target], with the gradient softmax - onehot.
 * A custom gradient because the generic one runs exp over every logit again in the
 * backward pass, and exp dominates the loss's cost (6.4 M logits per batch of 32 MNIST
 * images at 256 levels); here the forward pass keeps the softmax for the backward pass.
 */
function softmaxCrossEntropySum(onehot: tf.Tensor2D): (logits: tf.Tensor2D) => tf.Scalar {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [logits, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const shifted = tf.sub(logits, tf.max(logits, 1, true));
    const expd = tf.exp(shifted);
    const total = tf.sum(expd, 1, true);
    save([tf.sub(tf.div(expd, total), onehot)]); // the gradient itself, ready for the backward pass
    const value = tf.sub(tf.sum(tf.log(total)), tf.sum(tf.mul(onehot, shifted))) as tf.Scalar;
    return { value, gradFunc: (dy: tf.Tensor, [grad]: tf.Tensor[]) => tf.mul(grad, dy) };
  }) as (logits: tf.Tensor2D) => tf.Scalar;
}

/**
 * The same on native TensorFlow: one SparseSoftmaxCrossEntropyWithLogits op gives the loss
 * per row and its gradient together, from the integer targets (no one-hot tensor).
 */
function nativeSoftmaxCrossEntropySum(targets: tf.Tensor1D): (logits: tf.Tensor2D) => tf.Scalar {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [logits, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const [loss, grad] = nativeOps('loss')!.sparseSoftmaxCrossEntropy(logits, targets);
    save([grad]);
    return { value: tf.sum(loss) as tf.Scalar, gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) => tf.mul(saved, dy) };
  }) as (logits: tf.Tensor2D) => tf.Scalar;
}

/** Sum over all sub-pixels of -log p(target); logits [B,H,W,C*L], targets int32 [B*H*W*C]. */
export function crossEntropySum(logits: tf.Tensor4D, targets: tf.Tensor1D, levels: number): tf.Scalar {
  return tf.tidy(() => {
    const rows = tf.reshape(logits, [-1, levels]) as tf.Tensor2D;
    if (nativeOps('loss')) return nativeSoftmaxCrossEntropySum(targets)(rows);
    return softmaxCrossEntropySum(tf.oneHot(targets, levels) as tf.Tensor2D)(rows);
  });
}

/** Mean over sub-pixels: the training loss. */
export function crossEntropyMean(logits: tf.Tensor4D, targets: tf.Tensor1D, levels: number): tf.Scalar {
  return tf.tidy(() => tf.div(crossEntropySum(logits, targets, levels), targets.size) as tf.Scalar);
}

export const NATS_PER_BIT = Math.LN2;
export const bitsPerDim = (nats: number): number => nats / NATS_PER_BIT;
