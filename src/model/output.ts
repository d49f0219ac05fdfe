// What the head's last conv emits per pixel and the likelihood read from it (model.output):
// a softmax over the colour levels per channel, or the discretised mixture of logistics of
// PixelCNN++ (Salimans et al. 2017, arXiv 1701.05517, sec. 2.1-2.2).
import * as tf from '@tensorflow/tfjs';
import { layerOps, type ConvParams } from '../backend/layer-ops.js';
import type { ModelConfig, OutputConfig } from '../config/types.js';
import type { ChannelGroups } from './masks.js';

/** The log-scale floor of PixelCNN++: a logistic narrower than e^-7 puts all its mass in one level anyway. */
export const MIN_LOG_SCALE = -7;

/** Below this CDF difference a level's probability is read from the density at its centre (PixelCNN++). */
export const TINY_PROBABILITY = 1e-5;

export interface ModelOutput {
  readonly type: OutputConfig['type'];
  /** Values the output conv emits per pixel. */
  readonly perPixel: number;
  /** The output conv's mask (by channel group for colour images), null for an unmasked 1x1 conv. */
  readonly mask: 'B' | null;
  readonly groups: ChannelGroups | null;
  /** The logistic mixture's parameter layout; null for the softmax. */
  readonly mixture: MixtureLayout | null;
  /** Sum over all sub-pixels of -log p(target), in nats; outputs [B, H, W, perPixel], targets int32 [B × H × W × C]. */
  nllSum(outputs: tf.Tensor4D, targets: tf.Tensor1D): tf.Scalar;
  /** nllSum of the output conv applied to the head's features: one backend op for the softmax where the backend has it. */
  convNllSum(features: tf.Tensor4D, conv: ConvParams & { apply(x: tf.Tensor4D): tf.Tensor4D }, targets: tf.Tensor1D): tf.Scalar;
}

/** The output model.output describes, for images of `channels` channels. */
export function modelOutput(config: ModelConfig, channels: number): ModelOutput {
  const output = config.output ?? { type: 'softmax', components: null };
  if (output.type === 'logistic_mixture') {
    if (output.components == null || !Number.isInteger(output.components) || output.components < 1) {
      throw new Error(`model.output.components: a logistic mixture needs a whole number of components, 1 or more; found ${JSON.stringify(output.components)}`);
    }
    return mixtureOutput(output.components, channels, config.color_levels);
  }
  return softmaxOutput(channels, config.color_levels);
}

/** Values per pixel of the output conv, from the config alone (model/size.ts). */
export const outputsPerPixel = (config: ModelConfig, channels: number): number => modelOutput(config, channels).perPixel;

/**
 * The softmax: `levels` logits per channel, channel c the c-th group of them, so with channel
 * groups (mask B) channel c's logits see the features of channels <= c.
 */
function softmaxOutput(channels: number, levels: number): ModelOutput {
  return {
    type: 'softmax',
    perPixel: channels * levels,
    mask: channels > 1 ? 'B' : null,
    groups: channels > 1 ? { groups: channels, inHalves: 1, outHalves: 1 } : null,
    mixture: null,
    nllSum: (outputs, targets) => softmaxCrossEntropySum(outputs, targets, levels),
    convNllSum: (features, conv, targets) => layerOps.outputCrossEntropySum(features, conv, targets, levels),
  };
}

/** Sum over all sub-pixels of -log softmax(logits)[target]; logits [B,H,W,C*L], targets int32 [B*H*W*C]. */
export function softmaxCrossEntropySum(logits: tf.Tensor4D, targets: tf.Tensor1D, levels: number): tf.Scalar {
  return tf.tidy(() => layerOps.softmaxCrossEntropySum(tf.reshape(logits, [-1, levels]) as tf.Tensor2D, targets, levels));
}

/**
 * Where each parameter of a pixel sits among its K * (1 + 2C) + K * C(C-1)/2 outputs: the K
 * mixture logits; per channel c the K means and then the K log-scales; then per pair (c, j < c)
 * the K coefficients of channel j in channel c's mean (for RGB: G on R, B on R, B on G).
 */
export interface MixtureLayout {
  readonly components: number;
  readonly channels: number;
  readonly size: number;
  readonly logits: number;
  mean(c: number): number;
  logScale(c: number): number;
  coefficient(c: number, j: number): number;
}

export function mixtureLayout(components: number, channels: number): MixtureLayout {
  const K = components;
  const C = channels;
  return {
    components: K,
    channels: C,
    size: K * (1 + 2 * C) + (K * C * (C - 1)) / 2,
    logits: 0,
    mean: (c) => K + 2 * c * K,
    logScale: (c) => K + (2 * c + 1) * K,
    coefficient: (c, j) => K * (1 + 2 * C) + ((c * (c - 1)) / 2 + j) * K,
  };
}

/**
 * The discretised logistic mixture. Every output of pixel p reads only the features of the
 * first channel group, which depend only on the pixels before p (channel-ordered masks); the
 * pixel's own earlier channels enter channel c's means through the coefficients alone.
 */
function mixtureOutput(components: number, channels: number, levels: number): ModelOutput {
  if (levels < 2) throw new Error(`model.color_levels: a logistic mixture discretises over 2 or more levels; found ${levels}`);
  const layout = mixtureLayout(components, channels);
  const nllSum = (outputs: tf.Tensor4D, targets: tf.Tensor1D): tf.Scalar =>
    tf.tidy(() => tf.neg(tf.sum(mixtureLogProb(tf.reshape(outputs, [-1, layout.size]) as tf.Tensor2D, tf.reshape(targets, [-1, channels]) as tf.Tensor2D, layout, levels))) as tf.Scalar);
  return {
    type: 'logistic_mixture',
    perPixel: layout.size,
    mask: channels > 1 ? 'B' : null,
    // All outputs in the first group: at the pixel itself they see only R's features, which see only earlier pixels.
    groups: channels > 1 ? { groups: channels, inHalves: 1, outHalves: 1, outputGroup: 0 } : null,
    mixture: layout,
    nllSum,
    convNllSum: (features, conv, targets) => tf.tidy(() => nllSum(conv.apply(features), targets)),
  };
}

/**
 * `test` of x as a 0/1 tensor that passes no gradient back: what a branch is chosen by, kept off the
 * tape (tfjs has no gradient for comparisons, and none is wanted).
 */
const branch = (test: (x: tf.Tensor) => tf.Tensor) =>
  tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    const shape = x.shape; // x itself may be gone by the backward pass
    return { value: tf.cast(test(x), 'float32'), gradFunc: () => tf.zeros(shape) };
  });

const isTiny = branch((logDelta) => tf.less(logDelta, Math.log(TINY_PROBABILITY)));

/**
 * log p(pixel) per pixel [N] under the mixture, params [N, layout.size], targets int32 [N, C]
 * (levels 0..L-1, rescaled to x = 2k/(L-1) - 1 in [-1, 1], bin half-width 1/(L-1)). Level 0 takes
 * the mass below its upper edge, level L-1 the mass above its lower edge; in between the CDF
 * difference over the bin, or, where that is under 1e-5, the density at the bin's centre times the
 * bin's width (PixelCNN++'s fallback). The difference σ(b) - σ(a) is taken in logs as
 * log σ(b) + log σ(-a) + log(1 - e^(a-b)), which keeps float32's digits in both tails.
 */
export function mixtureLogProb(params: tf.Tensor2D, targets: tf.Tensor2D, layout: MixtureLayout, levels: number): tf.Tensor1D {
  return tf.tidy(() => {
    const N = params.shape[0];
    const { components: K, channels: C } = layout;
    const part = (at: number) => tf.slice(params, [0, at], [N, K]);
    const k = tf.cast(targets, 'float32');
    const x = tf.sub(tf.mul(k, 2 / (levels - 1)), 1);
    const column = (t: tf.Tensor, c: number) => tf.broadcastTo(tf.slice(t, [0, c], [N, 1]), [N, K]);
    const half = 1 / (levels - 1);
    let logp = tf.logSoftmax(part(layout.logits));
    for (let c = 0; c < C; c++) {
      let mean = part(layout.mean(c));
      for (let j = 0; j < c; j++) mean = tf.add(mean, tf.mul(tf.tanh(part(layout.coefficient(c, j))), column(x, j)));
      const logScale = tf.maximum(part(layout.logScale(c)), MIN_LOG_SCALE);
      const invScale = tf.exp(tf.neg(logScale));
      const centred = tf.sub(column(x, c), mean);
      const plusIn = tf.mul(invScale, tf.add(centred, half));
      const minIn = tf.mul(invScale, tf.sub(centred, half));
      const midIn = tf.mul(invScale, centred);
      const below = tf.neg(tf.softplus(tf.neg(plusIn))); // log CDF(upper edge): level 0
      const above = tf.neg(tf.softplus(minIn)); // log (1 - CDF(lower edge)): level L-1
      // b - a = 2 / (scale (L - 1)) > 0; floored so that a vanishing width stays finite.
      const width = tf.maximum(tf.mul(invScale, 2 * half), 1e-30);
      const logDelta = tf.add(tf.add(below, above), tf.log(tf.neg(tf.expm1(tf.neg(width)))));
      const logPdfMid = tf.sub(tf.sub(midIn, logScale), tf.mul(2, tf.softplus(midIn)));
      const inner = tf.where(tf.cast(isTiny(logDelta), 'bool'), tf.sub(logPdfMid, Math.log((levels - 1) / 2)), logDelta);
      const level = column(k, c);
      const lp = tf.where(tf.equal(level, 0), below, tf.where(tf.equal(level, levels - 1), above, inner));
      logp = tf.add(logp, lp);
    }
    return tf.logSumExp(logp, 1) as tf.Tensor1D;
  });
}
