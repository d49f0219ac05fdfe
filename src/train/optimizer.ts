// The optimiser named in the experiment: Adam updates all variables in a few fused ops
// (adam.ts, the same arithmetic as tf.train.adam); the others are tfjs's own.
import * as tf from '@tensorflow/tfjs';
import type { OptimizerConfig } from '../config/types.js';
import { FusedAdam } from './adam.js';

export function makeOptimizer(o: OptimizerConfig): tf.Optimizer {
  switch (o.name) {
    case 'adam':
      return new FusedAdam(o.learning_rate, o.beta1, o.beta2, o.epsilon);
    case 'rmsprop':
      return tf.train.rmsprop(o.learning_rate, 0.9, o.momentum, o.epsilon);
    case 'sgd':
      return o.momentum > 0 ? tf.train.momentum(o.learning_rate, o.momentum) : tf.train.sgd(o.learning_rate);
  }
}
