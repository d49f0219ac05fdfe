// Class conditioning: p(image | class) instead of p(image). Each block owns a learned bias per
// class (a [classes, channels] table) that it adds to one of its pre-activations, the same at
// every position, as in the conditional PixelCNN (van den Oord et al. 2016b, arXiv 1606.05328,
// eq. 4 with a one-hot h). A block of any type asks `classBias` for its bias and `addClassBias`
// to add it: the label enters nowhere else, so it cannot carry information about any pixel.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../config/types.js';
import type { Rng } from '../util/random.js';

/** The number of classes a model is conditioned on, or null for an unconditional model. */
export function conditioningClasses(config: Pick<ModelConfig, 'conditioning'>): number | null {
  const c = config.conditioning;
  return c?.type === 'class' && c.classes ? c.classes : null;
}

/**
 * The labels of a batch as the blocks read them: one-hot rows [batch, classes]. Built here in
 * JavaScript rather than with tf.oneHot, whose wasm kernel and gradient path are not needed then.
 */
export function oneHotLabels(labels: ArrayLike<number>, classes: number): tf.Tensor2D {
  const values = new Float32Array(labels.length * classes);
  for (let i = 0; i < labels.length; i++) {
    const k = labels[i];
    if (!Number.isInteger(k) || k < 0 || k >= classes) throw new RangeError(`class label ${k} outside 0..${classes - 1}`);
    values[i * classes + k] = 1;
  }
  return tf.tensor2d(values, [labels.length, classes]);
}

/** One block's learned bias per class: a [classes, channels] variable. */
export class ClassBias {
  readonly name: string;
  readonly weight: tf.Variable;

  /** Uniform(-1/sqrt(classes), 1/sqrt(classes)): PyTorch's Linear init for a one-hot input. */
  constructor(name: string, classes: number, channels: number, rng: Rng, scope: string) {
    this.name = name;
    const bound = 1 / Math.sqrt(classes);
    const values = Float32Array.from({ length: classes * channels }, () => (rng.next() * 2 - 1) * bound);
    this.weight = tf.variable(tf.tensor2d(values, [classes, channels]), true, `${scope}/${name}/weight`);
  }

  get classes(): number {
    return this.weight.shape[0]!;
  }

  get channels(): number {
    return this.weight.shape[1]!;
  }

  /** The bias of each image in the batch, [batch, channels], from one-hot labels [batch, classes]. */
  rows(labels: tf.Tensor2D): tf.Tensor2D {
    return tf.matMul(labels, this.weight);
  }

  variables(): tf.Variable[] {
    return [this.weight];
  }

  params(): number {
    return this.weight.size;
  }

  dispose(): void {
    this.weight.dispose();
  }
}

/** Parameters of one block's class bias: the size of its table. */
export const classBiasParams = (classes: number | null, channels: number): number => (classes ? classes * channels : 0);

/** A block's class bias, or null when the model is unconditional. */
export function classBias(config: Pick<ModelConfig, 'conditioning'>, name: string, channels: number, rng: Rng, scope: string): ClassBias | null {
  const classes = conditioningClasses(config);
  return classes ? new ClassBias(`${name}.class_bias`, classes, channels, rng, scope) : null;
}

/**
 * x [batch, height, width, channels] plus each image's class bias at every position; x itself
 * when the block has no bias. A conditional model given no labels is a programming error.
 */
export function addClassBias(x: tf.Tensor4D, bias: ClassBias | null, labels: tf.Tensor2D | null): tf.Tensor4D {
  if (!bias) return x;
  if (!labels) throw new Error(`${bias.name}: a class-conditional model needs the labels of its images`);
  return tf.add(x, tf.reshape(bias.rows(labels), [x.shape[0], 1, 1, bias.channels]));
}
