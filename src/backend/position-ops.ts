// The ops a cached sampler evaluates the network with at one pixel position: small matrices
// [N, channels], a few matrix products, relus and adds, some thousands of calls per image
// grid. On native TensorFlow they go straight to TensorFlow's eager ops
// (native-position-ops.ts): at this size tfjs's engine costs more per op than the op itself.
// Everywhere else they are tfjs's own ops. Both compute the same sums; the handles they return
// are theirs (a tfjs tensor, or a TensorFlow tensor id) and the sampler only passes them on.
import * as tf from '@tensorflow/tfjs';
import { nativeBackend } from './native-ops.js';
import { NativePositionOps } from './native-position-ops.js';

declare const matrixBrand: unique symbol;
/** A matrix of the position ops, opaque to the sampler: it only hands it back to them. */
export type PositionMatrix = { readonly [matrixBrand]: true };

/** A conv at one position as a matrix product: x [N, in] × weight [in, out] + bias [out]. */
export interface PositionAffine<T> {
  weight: T;
  bias: T;
}

export type PositionActivation = 'linear' | 'relu';

/** T: what the ops hold a matrix as. Each op returns a new matrix, the caller's to free (or tidy's). */
export interface PositionOps<T> {
  /** The implementation, for benchmarks and errors. */
  readonly name: string;
  /** A [rows, cols] float32 matrix of `values` (which the ops may keep: pass a fresh array). */
  matrix(values: Float32Array, rows: number, cols: number): T;
  /** A copy of a tfjs tensor (weights, class biases) as one of these matrices; the tensor stays the caller's. */
  constant(t: tf.Tensor): T;
  /** activation(x × weight + bias + addend): a folded conv, with what is added before its activation (a residual, a class bias). */
  affine(x: T, conv: PositionAffine<T>, activation: PositionActivation, addend?: T): T;
  relu(x: T): T;
  add(a: T, b: T): T;
  /** Matrices side by side: [N, a] and [N, b] make [N, a + b]. */
  concat(parts: T[]): T;
  read(x: T): Promise<Float32Array>;
  /** Runs fn and frees every matrix the ops made in it but those it returns (as tf.tidy does). */
  tidy<R extends T | T[]>(fn: () => R): R;
  /** Keeps x past the tidy it was made in. */
  keep(x: T): T;
  dispose(x: T | T[]): void;
  /** Frees what the ops hold themselves; call when the sampler is done. */
  release(): void;
}

/** tfjs's ops: every backend, and native TensorFlow when its position ops are switched off. */
export const tfjsPositionOps: PositionOps<tf.Tensor> = {
  name: 'tfjs',
  matrix: (values, rows, cols) => tf.tensor2d(values, [rows, cols]),
  constant: (t) => tf.keep(tf.clone(t)),
  affine: (x, conv, activation, addend) => {
    if (!addend) return tf.fused.matMul({ a: x as tf.Tensor2D, b: conv.weight as tf.Tensor2D, bias: conv.bias, activation });
    const sum = tf.add(tf.fused.matMul({ a: x as tf.Tensor2D, b: conv.weight as tf.Tensor2D, bias: conv.bias }), addend);
    return activation === 'relu' ? tf.relu(sum) : sum;
  },
  relu: (x) => tf.relu(x),
  add: (a, b) => tf.add(a, b),
  concat: (parts) => tf.concat(parts, 1),
  read: async (x) => (await x.data()) as Float32Array,
  tidy: (fn) => tf.tidy(fn),
  keep: (x) => tf.keep(x),
  dispose: (x) => tf.dispose(x),
  release: () => {},
};

/** The position ops for the current backend: TensorFlow's eager ops on native TensorFlow (part 'position'), else tfjs's. */
export function positionOps(): PositionOps<PositionMatrix> {
  const native = nativeBackend('position');
  return (native ? new NativePositionOps(native) : tfjsPositionOps) as unknown as PositionOps<PositionMatrix>;
}
