// The ops a PixelCNN training step uses, as cases run on a native TensorFlow backend and on the
// pure-JS cpu backend, compared value by value: forward results and gradients, to 1e-4.
// Shared by test/backend/tfjs-node.test.ts (tfjs-node) and test/gpu-build (tfjs-node-gpu).
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { pseudoRandom } from './conv-cases.js';

export const TOL = 1e-4;

/** Deterministic inputs, so both backends see the same values. */
const values = pseudoRandom;

interface Result {
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

/** Runs `f` on one backend and reads its tensors back. */
async function on(backend: string, f: () => tf.Tensor[]): Promise<Result[]> {
  if (!(await tf.setBackend(backend)) || tf.getBackend() !== backend) throw new Error(`backend ${backend} did not initialize`);
  const tensors = tf.tidy(f);
  const out = tensors.map((t) => ({ shape: t.shape, data: t.dataSync() as Result['data'] }));
  tf.dispose(tensors);
  return out;
}

/** Largest |a-b| / max(1, |b|) over all results of `f` on backend 'tensorflow' against cpu; fails on shape mismatch. */
export async function compare(names: string[], f: () => tf.Tensor[]): Promise<number> {
  const native = await on('tensorflow', f);
  const ref = await on('cpu', f);
  let worst = 0;
  native.forEach((a, k) => {
    const b = ref[k]!;
    expect(a.shape, `${names[k]} shape`).toEqual(b.shape);
    for (let i = 0; i < a.data.length; i++) {
      const err = Math.abs(a.data[i]! - b.data[i]!) / Math.max(1, Math.abs(b.data[i]!));
      if (!(err <= TOL)) {
        expect.fail(`${names[k]}[${i}]: tensorflow ${a.data[i]}, cpu ${b.data[i]} (tolerance ${TOL})`);
      }
      worst = Math.max(worst, err);
    }
  });
  return worst;
}

function convCase(k: number): () => tf.Tensor[] {
  return () => {
    const x = tf.tensor4d(values(2 * 7 * 6 * 5, 1), [2, 7, 6, 5]); // NHWC
    const w = tf.tensor4d(values(k * k * 5 * 8, 2), [k, k, 5, 8]);
    const b = tf.tensor1d(values(8, 3));
    const r = tf.tensor4d(values(2 * 7 * 6 * 8, 4), [2, 7, 6, 8]);
    const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
      tf.sum(tf.mul(tf.relu(tf.add(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 1, 'same'), bb)), r));
    const y = tf.add(tf.conv2d(x, w, 1, 'same'), b);
    const [dx, dw, db] = tf.grads(f)([x, w, b]);
    return [y, dx!, dw!, db!];
  };
}

export interface OpCase {
  title: string;
  /** One name per returned tensor, for the failure message. */
  names: string[];
  f: () => tf.Tensor[];
}

export const OP_CASES: OpCase[] = [
  { title: 'conv2d 3x3, same padding, NHWC: forward and gradients', names: ['y', 'dx', 'dw', 'db'], f: convCase(3) },
  { title: 'conv2d 1x1, same padding, NHWC: forward and gradients', names: ['y', 'dx', 'dw', 'db'], f: convCase(1) },
  {
    title: 'matMul (plain and transposed): forward and gradients',
    names: ['ab', 'abT', 'da', 'db', 'dc'],
    f: () => {
      const a = tf.tensor2d(values(6 * 9, 5), [6, 9]);
      const b = tf.tensor2d(values(9 * 4, 6), [9, 4]);
      const c = tf.tensor2d(values(4 * 9, 7), [4, 9]);
      const f = (aa: tf.Tensor, bb: tf.Tensor, cc: tf.Tensor) =>
        tf.sum(tf.square(tf.add(tf.matMul(aa as tf.Tensor2D, bb as tf.Tensor2D), tf.matMul(aa as tf.Tensor2D, cc as tf.Tensor2D, false, true))));
      const [da, db, dc] = tf.grads(f)([a, b, c]);
      return [tf.matMul(a, b), tf.matMul(a, c, false, true), da!, db!, dc!];
    },
  },
  {
    title: 'batch-norm from tf.moments over N,H,W: forward and gradients',
    names: ['mean', 'variance', 'y', 'dx', 'dgamma', 'dbeta'],
    f: () => {
      const x = tf.add(tf.mul(tf.tensor4d(values(3 * 5 * 4 * 6, 8), [3, 5, 4, 6]), 2), 0.5);
      const gamma = tf.tensor1d(values(6, 9));
      const beta = tf.tensor1d(values(6, 10));
      const r = tf.tensor4d(values(3 * 5 * 4 * 6, 11), [3, 5, 4, 6]);
      const norm = (xx: tf.Tensor, g: tf.Tensor, bt: tf.Tensor) => {
        const { mean, variance } = tf.moments(xx, [0, 1, 2]);
        return tf.add(tf.mul(tf.div(tf.sub(xx, mean), tf.sqrt(tf.add(variance, 1e-5))), g), bt);
      };
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      const [dx, dg, db] = tf.grads((xx: tf.Tensor, g: tf.Tensor, bt: tf.Tensor) => tf.sum(tf.mul(norm(xx, g, bt), r)))([x, gamma, beta]);
      return [mean, variance, norm(x, gamma, beta), dx!, dg!, db!];
    },
  },
  {
    title: 'softmax cross-entropy over 256 classes: loss and gradient of the logits',
    names: ['loss', 'dlogits', 'nll', 'dlogits (logSoftmax)'],
    f: () => {
      const n = 12;
      const logits = tf.mul(tf.tensor2d(values(n * 256, 12), [n, 256]), 4);
      const labels = tf.tensor1d(Array.from({ length: n }, (_, i) => (i * 37 + 5) % 256), 'int32');
      const onehot = tf.oneHot(labels, 256);
      const ce = (l: tf.Tensor) => tf.losses.softmaxCrossEntropy(onehot, l);
      const nll = (l: tf.Tensor) => tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(l), onehot), -1)));
      return [ce(logits), tf.grad(ce)(logits), nll(logits), tf.grad(nll)(logits)];
    },
  },
];
