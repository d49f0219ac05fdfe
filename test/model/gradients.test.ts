// The model's hand-written gradients (batch norm, softmax cross-entropy) against tfjs's
// automatic ones for the same maths, on the cpu backend.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchNorm } from '../../src/model/layers.js';
import { crossEntropySum } from '../../src/model/loss.js';

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

const close = (a: tf.Tensor, b: tf.Tensor, tol = 1e-4) => {
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
  const scale = tf.tidy(() => tf.max(tf.abs(b)).dataSync()[0]);
  expect(d, `max diff ${d} (scale ${scale})`).toBeLessThanOrEqual(tol * Math.max(1, scale));
};

describe('batch norm in training mode', () => {
  it('matches the automatic gradient of the textbook formula for x, gamma and beta', () => {
    const bn = new BatchNorm('t', 5, 'gradtest');
    tf.tidy(() => {
      bn.gamma.assign(tf.randomNormal([5], 1, 0.3, 'float32', 1));
      bn.beta.assign(tf.randomNormal([5], 0, 0.3, 'float32', 2));
    });
    const x = tf.randomNormal([3, 4, 4, 5], 0.5, 2, 'float32', 3) as tf.Tensor4D;
    const w = tf.randomNormal([3, 4, 4, 5], 0, 1, 'float32', 4);
    const reference = (x: tf.Tensor4D, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
    };
    const dxOurs = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(bn.apply(x as tf.Tensor4D, true), w)))(x);
    const [dxRef, dgRef, dbRef] = tf.grads((x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(reference(x as tf.Tensor4D, g, b), w)))([x, bn.gamma, bn.beta]);
    close(dxOurs, dxRef);
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(bn.apply(x, true), w)) as tf.Scalar, [bn.gamma, bn.beta]);
    close(grads[bn.gamma.name], dgRef);
    close(grads[bn.beta.name], dbRef);
    // The forward values agree too.
    close(bn.apply(x, true), reference(x, bn.gamma, bn.beta));
    bn.dispose();
  });

  it('updates running statistics as PyTorch does (momentum 0.1, unbiased variance)', () => {
    const bn = new BatchNorm('r', 2, 'gradtest2');
    const x = tf.tensor4d([1, 10, 3, 20, 5, 30, 7, 40], [2, 2, 1, 2]);
    tf.tidy(() => bn.apply(x, true));
    const [m0, m1] = bn.runningMean.dataSync();
    expect(m0).toBeCloseTo(0.1 * 4, 5);
    expect(m1).toBeCloseTo(0.1 * 25, 5);
    // channel 0: values 1,3,5,7 -> unbiased variance 6.6667; running = 0.9 * 1 + 0.1 * 6.6667
    expect(bn.runningVar.dataSync()[0]).toBeCloseTo(0.9 + 0.1 * (20 / 3), 5);
    bn.dispose();
  });
});

describe('softmax cross-entropy', () => {
  it('matches tfjs softmaxCrossEntropy in value and gradient', () => {
    const logits = tf.randomNormal([6, 1, 2, 7], 0, 3, 'float32', 5) as tf.Tensor4D;
    const targets = tf.tensor1d([0, 6, 3, 3, 1, 2, 5, 4, 0, 6, 2, 1], 'int32');
    const ours = tf.valueAndGrad((l: tf.Tensor) => crossEntropySum(l as tf.Tensor4D, targets, 7));
    const ref = tf.valueAndGrad((l: tf.Tensor) =>
      tf.mul(tf.losses.softmaxCrossEntropy(tf.oneHot(targets, 7), tf.reshape(l, [-1, 7])), 12) as tf.Scalar,
    );
    const a = ours(logits);
    const b = ref(logits);
    expect(a.value.dataSync()[0]).toBeCloseTo(b.value.dataSync()[0], 3);
    close(a.grad, b.grad, 1e-5);
  });
});
