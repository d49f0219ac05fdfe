// FusedAdam (all variables in a few fused ops) against tf.train.adam: the same updates
// step by step, the same getWeights layout, and state that resumes exactly from either.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { FusedAdam } from '../../src/train/adam.js';

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

let scopes = 0;

/** Variables of a few shapes (rank 4, 2 and 1, one scalar-sized) with fixed values. */
function makeVars(): tf.Variable[] {
  const scope = `adam${++scopes}`;
  const shapes = [[3, 3, 2, 4], [5], [4, 6], [1]];
  return shapes.map((s, i) => tf.variable(tf.randomNormal(s, 0, 1, 'float32', 10 + i), true, `${scope}/v${i}`));
}

/** A loss with gradients of different scales per variable, depending on step `k`. */
function loss(vars: tf.Variable[], k: number): tf.Scalar {
  return tf.tidy(() => tf.addN(vars.map((v, i) => tf.sum(tf.mul(tf.square(tf.sub(v, 0.1 * (k + 1))), (i + 1) ** 2 * (k % 2 ? 1 : 0.01))))) as tf.Scalar);
}

const read = (vars: tf.Variable[]) => vars.map((v) => Array.from(v.dataSync()));

function expectSame(a: number[][], b: number[][], tol: number): void {
  a.forEach((xs, i) => xs.forEach((x, j) => expect(Math.abs(x - b[i][j]), `variable ${i}[${j}]: ${x} vs ${b[i][j]}`).toBeLessThanOrEqual(tol)));
}

function train(opt: tf.Optimizer, vars: tf.Variable[], from: number, to: number): void {
  for (let k = from; k < to; k++) tf.dispose(opt.minimize(() => loss(vars, k), true, vars) ?? []);
}

describe('FusedAdam', () => {
  it('updates as tf.train.adam does, step by step (bit for bit on the cpu backend while the beta powers agree)', () => {
    const [a, b] = [makeVars(), makeVars()];
    const ref = tf.train.adam(0.01, 0.9, 0.999, 1e-8);
    const ours = new FusedAdam(0.01, 0.9, 0.999, 1e-8);
    for (let k = 0; k < 12; k++) {
      train(ref, a, k, k + 1);
      train(ours, b, k, k + 1);
      // tf.train.adam's running float32 product beta^t is exact for t = 1, 2 (a product of
      // two float32 fits a double); from t = 3 it may differ from beta^t in the last bit.
      expectSame(read(b), read(a), k < 2 ? 0 : 1e-6);
    }
    expect(ours.iterations).toBe(12);
    ref.dispose();
    ours.dispose();
    tf.dispose([...a, ...b]);
  });

  it('holds the same state as tf.train.adam, in its getWeights layout', async () => {
    const [a, b] = [makeVars(), makeVars()];
    const ref = tf.train.adam(0.002, 0.8, 0.99, 1e-7);
    const ours = new FusedAdam(0.002, 0.8, 0.99, 1e-7);
    train(ref, a, 0, 5);
    train(ours, b, 0, 5);
    const [wa, wb] = [await ref.getWeights(), await ours.getWeights()];
    expect(wb.map((w) => w.name.replace(/^adam\d+/, ''))).toEqual(wa.map((w) => w.name.replace(/^adam\d+/, '')));
    expect(wb.map((w) => w.tensor.shape)).toEqual(wa.map((w) => w.tensor.shape));
    expect(wb[0].tensor.dataSync()[0]).toBe(5);
    wb.forEach((w, i) => expectSame([Array.from(w.tensor.dataSync())], [Array.from(wa[i].tensor.dataSync())], 1e-6));
    expect(ours.getClassName()).toBe(ref.getClassName());
    ref.dispose();
    ours.dispose();
    tf.dispose([...a, ...b]);
  });

  it('getWeights does not leak: its views are replaced at each call and freed on dispose', async () => {
    const vars = makeVars();
    const ours = new FusedAdam(0.01, 0.9, 0.999, 1e-8);
    train(ours, vars, 0, 1);
    await ours.getWeights();
    const before = tf.memory().numTensors;
    await ours.getWeights();
    await ours.getWeights();
    expect(tf.memory().numTensors).toBe(before);
    ours.dispose();
    tf.dispose(vars);
  });

  it('resumes from its own weights or tf.train.adam\'s exactly as tf.train.adam resumes', async () => {
    // Uninterrupted reference run, and a reference that stops at step 4 and resumes.
    const full = makeVars();
    const ref = tf.train.adam(0.01, 0.9, 0.999, 1e-8);
    train(ref, full, 0, 9);
    const part = makeVars();
    const refA = tf.train.adam(0.01, 0.9, 0.999, 1e-8);
    train(refA, part, 0, 4);
    const refWeights = (await refA.getWeights()).map((w) => ({ name: w.name, tensor: w.tensor.clone() }));
    const resumedRef = tf.train.adam(0.01, 0.9, 0.999, 1e-8);
    await resumedRef.setWeights(refWeights.map((w) => ({ name: w.name, tensor: w.tensor.clone() })));
    const snapshot = read(part);
    train(resumedRef, part, 4, 9);

    // FusedAdam resumed from tf.train.adam's state, on the same variable values.
    const mine = makeVars();
    tf.tidy(() => mine.forEach((v, i) => v.assign(tf.tensor(snapshot[i], v.shape))));
    const fromRef = new FusedAdam(0.01, 0.9, 0.999, 1e-8);
    await fromRef.setWeights(refWeights.map((w) => ({ name: w.name.replace(/^adam\d+/, mine[0].name.split('/')[0]), tensor: w.tensor.clone() })));
    expect(fromRef.iterations).toBe(4);
    train(fromRef, mine, 4, 9);
    expectSame(read(mine), read(part), 1e-6);
    expectSame(read(mine), read(full), 1e-5);

    // FusedAdam stopped and resumed from its own state.
    const own = makeVars();
    const first = new FusedAdam(0.01, 0.9, 0.999, 1e-8);
    train(first, own, 0, 4);
    const saved = (await first.getWeights()).map((w) => ({ name: w.name, tensor: w.tensor.clone() }));
    first.dispose();
    const second = new FusedAdam(0.01, 0.9, 0.999, 1e-8);
    await second.setWeights(saved);
    train(second, own, 4, 9);
    expectSame(read(own), read(part), 1e-6);
    tf.dispose([...full, ...part, ...mine, ...own]);
    [ref, refA, resumedRef, fromRef, second].forEach((o) => o.dispose());
  });

  it('resumes from its own state at any step bit for bit as the uninterrupted run', async () => {
    const full = makeVars();
    const whole = new FusedAdam(0.01, 0.9, 0.999, 1e-8);
    train(whole, full, 0, 12);
    const differ: number[] = [];
    for (let stop = 1; stop < 12; stop++) {
      const vars = makeVars();
      const first = new FusedAdam(0.01, 0.9, 0.999, 1e-8);
      train(first, vars, 0, stop);
      const saved = (await first.getWeights()).map((w) => ({ name: w.name, tensor: w.tensor.clone() }));
      first.dispose();
      const second = new FusedAdam(0.01, 0.9, 0.999, 1e-8);
      await second.setWeights(saved);
      train(second, vars, stop, 12);
      if (JSON.stringify(read(vars)) !== JSON.stringify(read(full))) differ.push(stop);
      second.dispose();
      tf.dispose([...vars, ...saved.map((w) => w.tensor)]);
    }
    expect(differ, 'resumed after these steps and ended elsewhere').toEqual([]);
    whole.dispose();
    tf.dispose(full);
  });

  it('refuses gradients for a different set of variables', () => {
    const [a, b] = [makeVars(), makeVars()];
    const ours = new FusedAdam(0.01, 0.9, 0.999, 1e-8);
    train(ours, a, 0, 1);
    expect(() => train(ours, b, 1, 2)).toThrow(/variables/);
    ours.dispose();
    tf.dispose([...a, ...b]);
  });
});
