// Polyak averaging (train.ema): an exponential moving average of the model's weights, kept
// beside them as one flat vector. An update is a concat of the variables and three ops on
// the vector, whatever the number of variables, so it costs little next to a training step.
//
// The average covers model.state(): the trainable weights and the batch-norm running
// statistics. Averaging the statistics with the weights (as timm's ModelEma does) rather than
// recomputing them for the averaged weights with extra forward passes keeps the cost at one
// update per step and the state a function of the steps taken, so a resume is exact; with a
// decay near 1 the averaged weights move slowly and the averaged statistics follow them.
import * as tf from '@tensorflow/tfjs';
import type { PixelCNN } from '../model/pixelcnn.js';

export class WeightAverage {
  private readonly vars: tf.Variable[];
  private readonly shapes: number[][];
  private readonly sizes: number[];
  private readonly average: tf.Variable;

  constructor(model: PixelCNN, readonly decay: number) {
    this.vars = model.state();
    this.shapes = this.vars.map((v) => v.shape);
    this.sizes = this.vars.map((v) => v.size);
    this.average = tf.tidy(() => tf.variable(flat(this.vars), false));
  }

  /**
   * The decay of the update after step `step` (1-based): min(decay, (1 + step) / (10 + step)),
   * tf.train.ExponentialMovingAverage's num_updates rule, so the first weights do not
   * dominate the average of a short run. Computed in JavaScript from the step alone.
   */
  decayAt(step: number): number {
    return Math.fround(Math.min(this.decay, (1 + step) / (10 + step)));
  }

  /** Folds the current weights into the average after step `step`. */
  update(step: number): void {
    const d = this.decayAt(step);
    tf.tidy(() => this.average.assign(tf.add(tf.mul(this.average, d), tf.mul(flat(this.vars), Math.fround(1 - d)))));
  }

  /** Runs `fn` with the averaged weights in the model, then puts the trained ones back. */
  async withAveraged<T>(fn: () => Promise<T>): Promise<T> {
    const trained = tf.tidy(() => flat(this.vars).clone()); // a copy: with one variable, flat is the variable itself
    this.assignFrom(this.average);
    try {
      return await fn();
    } finally {
      this.assignFrom(trained);
      trained.dispose();
    }
  }

  /** The average as one tensor per variable, in model.state() order (caller disposes). */
  tensors(): tf.Tensor[] {
    return tf.tidy(() => this.split(this.average));
  }

  /** Replaces the average with saved values, one array per variable in model.state() order. */
  restore(values: Float32Array[]): void {
    if (values.length !== this.vars.length) throw new Error(`WeightAverage.restore: ${values.length} tensors for ${this.vars.length} variables`);
    tf.tidy(() => this.average.assign(tf.concat(values.map((v) => tf.tensor1d(v)))));
  }

  dispose(): void {
    this.average.dispose();
  }

  private split(whole: tf.Tensor): tf.Tensor[] {
    const parts = this.vars.length === 1 ? [whole] : tf.split(whole, this.sizes);
    return parts.map((p, i) => tf.reshape(p, this.shapes[i]));
  }

  private assignFrom(whole: tf.Tensor): void {
    tf.tidy(() => this.split(whole).forEach((p, i) => this.vars[i].assign(p)));
  }
}

/** The tensors flattened and joined end to end. */
function flat(tensors: tf.Tensor[]): tf.Tensor1D {
  const rows = tensors.map((t) => (t.rank === 1 ? t : tf.reshape(t, [-1])));
  return (rows.length === 1 ? rows[0] : tf.concat(rows)) as tf.Tensor1D;
}
