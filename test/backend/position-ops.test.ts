// The cached sampler's position ops: direct TensorFlow calls (native-position-ops.ts) against
// tfjs's ops, both on the 'tensorflow' backend: the same values from every op, and the
// TensorFlow tensors they make freed by tidy and dispose, none left behind.
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { nativeParts, setNativeParts } from '../../src/backend/native-ops.js';
import { positionOps, tfjsPositionOps, type PositionMatrix, type PositionOps } from '../../src/backend/position-ops.js';
import { liveNativeTensors, nativeMissingAdvice, skipNative } from '../helpers/native.js';

const SKIP = skipNative();
const ALL = nativeParts();
let loadError = '';

beforeAll(async () => {
  if (SKIP) return;
  tf.env().set('PROD', true);
  try {
    await initBackend('tensorflow');
  } catch (err) {
    loadError = String((err as Error)?.message ?? err).split('\n')[0];
  }
});

afterEach(() => setNativeParts(ALL));

function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** relu(relu(concat(x, y) W1 + b1) W2 + b2) + x and friends: every op, with and without an addend, read back. */
async function network(ops: PositionOps<PositionMatrix>): Promise<Float32Array[]> {
  const w1 = tf.tensor2d(values(10 * 7, 1), [10, 7]);
  const b1 = tf.tensor1d(values(7, 2));
  const w2 = tf.tensor2d(values(7 * 4, 3), [7, 4]);
  const b2 = tf.tensor1d(values(4, 4));
  const conv1 = { weight: ops.constant(w1), bias: ops.constant(b1) };
  const conv2 = { weight: ops.constant(w2), bias: ops.constant(b2) };
  tf.dispose([w1, b1, w2, b2]);
  const outs = ops.tidy(() => {
    const x = ops.matrix(values(3 * 4, 5), 3, 4);
    const y = ops.matrix(values(3 * 6, 6), 3, 6);
    const xy = ops.concat([x, y]);
    const u = ops.affine(xy, conv1, 'relu');
    const linear = ops.affine(xy, conv1, 'linear');
    const v = ops.add(ops.relu(ops.affine(u, conv2, 'linear')), x);
    // With an addend: relu(u W2 + b2 + x), and the residual form x + (u W2 + b2).
    const added = ops.affine(u, conv2, 'relu', x);
    const residual = ops.affine(u, conv2, 'linear', x);
    return [xy, u, linear, v, ops.concat([v]), added, residual];
  });
  const read = await Promise.all(outs.map((o) => ops.read(o)));
  ops.dispose([...outs, conv1.weight, conv1.bias, conv2.weight, conv2.bias]);
  ops.release();
  return read;
}

describe.skipIf(SKIP)('position ops on native TensorFlow', () => {
  it('compute what tfjs computes, op for op', async () => {
    expect(loadError, `${loadError}; ${nativeMissingAdvice()}`).toBe('');
    const native = positionOps();
    expect(native.name).toBe('tensorflow eager');
    const ours = await network(native);
    const theirs = await network(tfjsPositionOps as unknown as PositionOps<PositionMatrix>);
    expect(ours.map((o) => o.length)).toEqual([30, 21, 21, 12, 12, 12, 12]);
    ours.forEach((o, k) => o.forEach((v, i) => expect(Math.abs(v - theirs[k][i]), `output ${k}, value ${i}`).toBeLessThan(1e-6)));
    // Not trivially equal: relu cut some values, the linear map kept negatives.
    expect(ours[1].some((v) => v === 0) && ours[2].some((v) => v < 0)).toBe(true);
    expect(ours[5].some((v) => v === 0) && ours[6].some((v) => v < 0)).toBe(true);
  });

  it('leave no TensorFlow tensor behind: tidy frees all but its result, keep and dispose as in tfjs', async () => {
    expect(loadError, `${loadError}; ${nativeMissingAdvice()}`).toBe('');
    const ops = positionOps();
    const before = liveNativeTensors(tf.backend());
    await network(ops);
    expect(liveNativeTensors(tf.backend())).toBe(before);

    let kept: PositionMatrix | null = null;
    const result = ops.tidy(() => {
      const inner = ops.tidy(() => ops.relu(ops.matrix(values(4, 7), 2, 2)));
      kept = ops.keep(ops.add(inner, inner));
      ops.matrix(values(4, 8), 2, 2);
      return inner;
    });
    expect(liveNativeTensors(tf.backend())).toBe(before + 2); // the result and the kept one
    expect(Array.from(await ops.read(kept!))).toEqual(Array.from(await ops.read(result)).map((v) => 2 * v));
    ops.dispose([result, kept!]);
    expect(() => ops.tidy(() => {
      ops.matrix(values(4, 9), 2, 2);
      throw new Error('stop');
    })).toThrow('stop');
    ops.release();
    expect(liveNativeTensors(tf.backend())).toBe(before);
  });

  it('are tfjs\'s ops when the native part "position" is off', () => {
    expect(loadError, `${loadError}; ${nativeMissingAdvice()}`).toBe('');
    setNativeParts(ALL.filter((p) => p !== 'position'));
    expect(positionOps().name).toBe('tfjs');
  });

  it('refuse a matrix whose values do not fit its shape', () => {
    expect(loadError, `${loadError}; ${nativeMissingAdvice()}`).toBe('');
    expect(() => positionOps().matrix(new Float32Array(5), 2, 3)).toThrow(/5 values for a 2x3 matrix/);
  });
});

describe('position ops elsewhere', () => {
  it('are tfjs\'s ops on wasm', async () => {
    await initBackend('wasm');
    expect(positionOps().name).toBe('tfjs');
    if (!SKIP && !loadError) await initBackend('tensorflow');
  });
});
