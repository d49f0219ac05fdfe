// The operations the model's layers are computed with, asked for by name (`layerOps.maskedConv`,
// `layerOps.batchNorm`, ...); which implementation runs each is decided here, per call: TensorFlow's
// own ops on the native backend where that part is on (native-layer-ops.ts), tfjs's generic
// kernels everywhere else (generic-layer-ops.ts). Both compute the same maths; a new fast path
// for a layer goes into one of those files and is chosen here.
import * as tf from '@tensorflow/tfjs';
import * as generic from './generic-layer-ops.js';
import * as native from './native-layer-ops.js';
import { nativeOps } from './native-ops.js';

/** A conv layer's parameters, as the model holds them. */
export interface ConvParams {
  readonly name: string;
  /** k of the k x k kernel. */
  readonly kernelSize: number;
  /** [k, k, in, out] */
  readonly weight: tf.Variable;
  /** [out] */
  readonly bias: tf.Variable;
  /** The 0/1 mask [k, k, in, out], or null when nothing is masked. */
  readonly mask: tf.Tensor4D | null;
  /** The kernel as the graph uses it: weight × mask. */
  kernel(): tf.Tensor4D;
}

/** Zero padding on each side of the input before a 'VALID' conv; a negative side crops. */
export interface WindowPadding {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/** A conv whose kernel covers only what a position may see, placed by explicit padding (Gated PixelCNN's stacks). */
export interface WindowConvParams {
  readonly name: string;
  /** [rows, cols, in, out] */
  readonly weight: tf.Variable;
  /** [out] */
  readonly bias: tf.Variable;
  /** Taps `dilation` apart in both directions. */
  readonly dilation: number;
  readonly padding: WindowPadding;
  /** The 0/1 mask [rows, cols, in, out] (a colour image's channel groups at the pixel itself), or null. */
  readonly mask: tf.Tensor4D | null;
  /** The kernel as the graph uses it: weight × mask. */
  kernel(): tf.Tensor4D;
}

/** A batch norm layer's parameters and running statistics (PyTorch's BatchNorm2d conventions). */
export interface NormParams {
  readonly name: string;
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  readonly momentum: number;
  readonly epsilon: number;
}

/**
 * training: normalise with the batch's statistics and, when `updateStats`, update the running
 * ones (a block recomputed for its gradient must not count twice); else use the running ones.
 */
export interface NormMode {
  training: boolean;
  updateStats: boolean;
}

export const layerOps = {
  relu<T extends tf.Tensor>(x: T): T {
    return nativeOps('relu') ? (native.relu(x) as T) : tf.relu(x);
  },

  /**
   * conv(x, weight × mask) + bias, stride 1, 'same' zero padding. `inputGradient: false` (the
   * model's first conv, whose input is the image) skips the gradient with respect to x where
   * the implementation allows it.
   */
  maskedConv(x: tf.Tensor4D, conv: ConvParams, inputGradient = true): tf.Tensor4D {
    const ops = nativeOps('conv');
    return ops ? native.maskedConv(ops, x, conv, inputGradient, true) : generic.maskedConv(x, conv);
  },

  /** conv(padOrCrop(x, padding), weight × mask, dilation) + bias, 'VALID' (the window is the spatial mask). */
  windowConv(x: tf.Tensor4D, conv: WindowConvParams, inputGradient = true): tf.Tensor4D {
    const ops = nativeOps('conv');
    return ops ? native.windowConv(ops, x, conv, inputGradient, true) : generic.windowConv(x, conv);
  },

  /** batchNorm(windowConv(x)); on native TensorFlow the batch norm takes the conv's bias over, as in maskedConvBatchNorm. */
  windowConvBatchNorm(x: tf.Tensor4D, conv: WindowConvParams, bn: NormParams, mode: NormMode, inputGradient = true): tf.Tensor4D {
    const ops = nativeOps('biasFold') !== null && nativeOps('conv') !== null ? nativeOps('batchNorm') : null;
    if (!ops) return layerOps.batchNorm(layerOps.windowConv(x, conv, inputGradient), bn, mode);
    return native.batchNorm(ops, native.windowConv(ops, x, conv, inputGradient, false), bn, mode, conv.bias);
  },

  /** tanh(a) ⊙ sigmoid(b), a and b the first and second half of x's channels. */
  gate(x: tf.Tensor4D): tf.Tensor4D {
    const ops = nativeOps('gate');
    return ops ? native.gate(ops, x) : generic.gate(x);
  },

  /**
   * Dropout in training: x × mask, each element kept with probability 1 - rate and scaled by
   * 1 / (1 - rate), the mask a function of `key` alone (util/random.ts, dropoutMask). The same
   * on every backend: the mask is drawn in JavaScript and the product is one multiply, so the
   * native fast paths of the layers around it run as they do without dropout.
   */
  dropout(x: tf.Tensor4D, rate: number, key: number): tf.Tensor4D {
    return generic.dropout(x, rate, key);
  },

  /** Batch norm over batch and space, per channel. */
  batchNorm(x: tf.Tensor4D, bn: NormParams, mode: NormMode): tf.Tensor4D {
    const ops = nativeOps('batchNorm');
    return ops ? native.batchNorm(ops, x, bn, mode, null) : generic.batchNorm(x, bn, mode);
  },

  /**
   * batchNorm(maskedConv(x)). On native TensorFlow (part biasFold) the batch norm takes the
   * conv's bias over: one full-size add less per layer, the same values up to rounding.
   */
  maskedConvBatchNorm(x: tf.Tensor4D, conv: ConvParams, bn: NormParams, mode: NormMode, inputGradient = true): tf.Tensor4D {
    const ops = nativeOps('biasFold') !== null && nativeOps('conv') !== null ? nativeOps('batchNorm') : null;
    if (!ops) return layerOps.batchNorm(layerOps.maskedConv(x, conv, inputGradient), bn, mode);
    return native.batchNorm(ops, native.maskedConv(ops, x, conv, inputGradient, false), bn, mode, conv.bias);
  },

  /** Sum over the rows of logits [n, levels] of -log softmax(row)[target]; targets int32 [n]. */
  softmaxCrossEntropySum(logits: tf.Tensor2D, targets: tf.Tensor1D, levels: number): tf.Scalar {
    const ops = nativeOps('loss');
    return ops ? native.softmaxCrossEntropySum(ops, logits, targets) : generic.softmaxCrossEntropySum(logits, targets, levels);
  },

  /**
   * The output conv and the loss of its logits: sum over the sub-pixels of -log softmax(maskedConv(x))[target],
   * `levels` logits per sub-pixel, targets int32 [pixels × channels]. On native TensorFlow (part
   * outputLoss) one op for a 1x1 conv, without the full-size bias add, gradient and scaling.
   */
  outputCrossEntropySum(x: tf.Tensor4D, conv: ConvParams, targets: tf.Tensor1D, levels: number): tf.Scalar {
    if (conv.kernelSize === 1 && nativeOps('outputLoss')) return native.outputCrossEntropySum(x, conv, targets, levels);
    return tf.tidy(() => layerOps.softmaxCrossEntropySum(tf.reshape(layerOps.maskedConv(x, conv), [-1, levels]) as tf.Tensor2D, targets, levels));
  },

  /** Frees what an implementation keeps for a conv layer (call when the layer is disposed). */
  release(conv: ConvParams): void {
    native.release(conv);
  },
};
