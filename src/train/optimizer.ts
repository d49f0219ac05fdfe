// The optimiser named in the experiment: Adam updates all variables in a few fused ops
// (adam.ts, the same arithmetic as tf.train.adam); the others are tfjs's own. The learning
// rate of each step (lr-schedule.ts) and decoupled weight decay are applied here, whichever it is.
import * as tf from '@tensorflow/tfjs';
import type { OptimizerConfig } from '../config/types.js';
import { FusedAdam } from './adam.js';

export function makeOptimizer(o: OptimizerConfig): tf.Optimizer {
  switch (o.name) {
    case 'adam':
      return new FusedAdam(o.learning_rate, o.beta1, o.beta2, o.epsilon, o.weight_decay);
    case 'rmsprop':
      return tf.train.rmsprop(o.learning_rate, 0.9, o.momentum, o.epsilon);
    case 'sgd':
      return o.momentum > 0 ? tf.train.momentum(o.learning_rate, o.momentum) : tf.train.sgd(o.learning_rate);
  }
}

// tfjs's optimisers answer instanceof for any object with an optimiser's methods
// (Symbol.hasInstance), so they are told apart by their constructor and class name.
const isFused = (o: tf.Optimizer): o is FusedAdam => o.constructor === FusedAdam;

/** Sets the learning rate of the next update. */
export function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  if (isFused(optimizer)) optimizer.learningRate = lr;
  else if (optimizer.getClassName() === 'RMSProp') (optimizer as unknown as { learningRate: number }).learningRate = lr;
  else if (['SGD', 'Momentum'].includes(optimizer.getClassName())) (optimizer as tf.SGDOptimizer).setLearningRate(lr);
  else throw new Error(`setLearningRate: unknown optimiser ${optimizer.getClassName()}`);
}

/**
 * Applies one update at learning rate `lr`. Decoupled weight decay (w -= lr * wd * w, on the
 * weights the step began with): FusedAdam folds it into its update; for tfjs's optimisers
 * the weights are decayed first, then the optimiser adds its step, as torch.optim.AdamW does.
 */
export function applyUpdate(optimizer: tf.Optimizer, grads: { name: string; tensor: tf.Tensor }[], lr: number, weightDecay: number): void {
  setLearningRate(optimizer, lr);
  if (weightDecay > 0 && !isFused(optimizer)) {
    const keep = Math.fround(1 - lr * weightDecay);
    tf.tidy(() => grads.forEach((g) => {
      const v = tf.engine().registeredVariables[g.name];
      v.assign(tf.mul(v, keep));
    }));
  }
  optimizer.applyGradients(grads);
}
