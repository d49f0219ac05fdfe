// Shared by the kernel tests: conv2d forward and gradients on the active backend,
// from deterministic data, for comparison across backends.
import * as tf from '@tensorflow/tfjs';

export type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

export interface ConvCase {
  k: number;
  ci: number;
  co: number;
  pad: Pad;
  batch: number;
  bias: boolean;
  stride?: number;
  h?: number;
  w?: number;
}

export interface ConvResult {
  y: Float32Array;
  dx: Float32Array;
  dw: Float32Array;
  db?: Float32Array;
}

export function describeCase(c: ConvCase): string {
  const pad = typeof c.pad === 'string' ? c.pad : JSON.stringify(c.pad);
  return `${c.k}x${c.k} ${c.ci}->${c.co} pad ${pad} batch ${c.batch}${c.bias ? ' +bias' : ''}${c.stride ? ` stride ${c.stride}` : ''}`;
}

/** The matrix the task asks for: kernel sizes 1-7, with/without bias, several channel counts, both paddings, batch 1 and 3. */
export function standardCases(): ConvCase[] {
  const cases: ConvCase[] = [];
  for (const k of [1, 3, 5, 7])
    for (const [ci, co] of [[1, 4], [3, 8], [16, 5]])
      for (const pad of ['same', 'valid'] as const)
        for (const batch of [1, 3])
          for (const bias of [false, true]) cases.push({ k, ci, co, pad, batch, bias });
  return cases;
}

/** Values in [-1, 1) from a fixed linear congruential sequence. */
export function pseudoRandom(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

function tensor(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(pseudoRandom(shape.reduce((a, b) => a * b, 1), seed), shape);
}

/** y = conv(x, w) (+ b), loss = sum(y * r) for a fixed r, so that dy is not uniform; dw only when asked. */
export function runConv(c: ConvCase, withFilterGrad = true): ConvResult {
  return tf.tidy(() => {
    const stride = c.stride ?? 1;
    const x = tensor([c.batch, c.h ?? 10, c.w ?? 9, c.ci], 1) as tf.Tensor4D;
    const w = tensor([c.k, c.k, c.ci, c.co], 2) as tf.Tensor4D;
    const b = tensor([c.co], 3) as tf.Tensor1D;
    const conv = (xs: tf.Tensor4D, ws: tf.Tensor4D, bs: tf.Tensor1D) =>
      c.bias ? tf.fused.conv2d({ x: xs, filter: ws, bias: bs, strides: stride, pad: c.pad }) : tf.conv2d(xs, ws, stride, c.pad);
    const y = conv(x, w, b);
    const r = tensor(y.shape, 4);
    if (!withFilterGrad) {
      const dx = tf.grad((xs: tf.Tensor) => conv(xs as tf.Tensor4D, w, b).mul(r).sum())(x);
      return { y: y.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array, dw: new Float32Array(0) };
    }
    const inputs = c.bias ? [x, w, b] : [x, w];
    const grads = tf.grads((...ts: tf.Tensor[]) => conv(ts[0] as tf.Tensor4D, ts[1] as tf.Tensor4D, ts[2] as tf.Tensor1D).mul(r).sum())(inputs);
    return {
      y: y.dataSync() as Float32Array,
      dx: grads[0].dataSync() as Float32Array,
      dw: grads[1].dataSync() as Float32Array,
      db: c.bias ? (grads[2].dataSync() as Float32Array) : undefined,
    };
  });
}

/** Largest elementwise difference relative to the reference's largest magnitude. */
export function relativeError(got: Float32Array, want: Float32Array): number {
  if (got.length !== want.length) return Infinity;
  let diff = 0;
  let scale = 1e-12;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff / scale;
}

export const TOLERANCE = 1e-5;
