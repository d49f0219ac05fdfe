// The native TensorFlow backend (@tensorflow/tfjs-node, set up by
// `npm run setup:native`) against the pure-JS cpu backend: forward values and
// gradients of the ops a PixelCNN training step uses, to 1e-4.
//
// tfjs-node is optional. When it does not load these tests FAIL, saying why,
// unless PXL_NATIVE=0 is set outside CI, which skips them (test/helpers/native.ts).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { pxl, ROOT } from '../helpers/cli.js';
import { pseudoRandom } from './conv-cases.js';
import { nativeMissingAdvice, skipNative } from '../helpers/native.js';

const TOL = 1e-4;
const SKIP = skipNative();

interface TfjsNode {
  engine: () => unknown;
  version: Record<string, string>;
}

let tfn: TfjsNode | null = null;
let loadError = '';

beforeAll(async () => {
  if (SKIP) return;
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2'; // TensorFlow's oneDNN / CPU-feature notices
  const name = '@tensorflow/tfjs-node'; // not a literal: the package may be absent
  try {
    tfn = (await import(/* @vite-ignore */ name)) as TfjsNode;
  } catch (err) {
    loadError = String((err as Error)?.message ?? err).split('\n')[0] ?? 'unknown error';
  }
  tf.env().set('PROD', true); // no "install tfjs-node" advice from the cpu backend
});

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

/** Largest |a-b| / max(1, |b|) over all results; fails on shape mismatch. */
async function compare(names: string[], f: () => tf.Tensor[]): Promise<number> {
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

describe.skipIf(SKIP)('tfjs-node (native TensorFlow) against the cpu backend', () => {
  it('loads and registers backend "tensorflow" on the same engine as @tensorflow/tfjs', async () => {
    if (!tfn) {
      expect.fail(
        `@tensorflow/tfjs-node does not load: ${loadError}\n` +
          nativeMissingAdvice(),
      );
    }
    expect(tfn.engine()).toBe(tf.engine());
    expect(tf.findBackend('tensorflow')).toBeTruthy();
    expect(await tf.setBackend('tensorflow')).toBe(true);
    const binding = (tf.backend() as unknown as { binding?: { TF_Version?: string } }).binding;
    expect(binding?.TF_Version).toMatch(/^2\./);
  });

  describe('with tfjs-node loaded', () => {
    beforeAll(() => {
      if (!tfn) expect.fail(`@tensorflow/tfjs-node does not load: ${loadError} (${nativeMissingAdvice()})`);
    });

    it('conv2d 3x3, same padding, NHWC: forward and gradients', async () => {
      expect(await compare(['y', 'dx', 'dw', 'db'], convCase(3))).toBeLessThanOrEqual(TOL);
    });

    it('conv2d 1x1, same padding, NHWC: forward and gradients', async () => {
      expect(await compare(['y', 'dx', 'dw', 'db'], convCase(1))).toBeLessThanOrEqual(TOL);
    });

    it('matMul (plain and transposed): forward and gradients', async () => {
      const worst = await compare(['ab', 'abT', 'da', 'db', 'dc'], () => {
        const a = tf.tensor2d(values(6 * 9, 5), [6, 9]);
        const b = tf.tensor2d(values(9 * 4, 6), [9, 4]);
        const c = tf.tensor2d(values(4 * 9, 7), [4, 9]);
        const f = (aa: tf.Tensor, bb: tf.Tensor, cc: tf.Tensor) =>
          tf.sum(tf.square(tf.add(tf.matMul(aa as tf.Tensor2D, bb as tf.Tensor2D), tf.matMul(aa as tf.Tensor2D, cc as tf.Tensor2D, false, true))));
        const [da, db, dc] = tf.grads(f)([a, b, c]);
        return [tf.matMul(a, b), tf.matMul(a, c, false, true), da!, db!, dc!];
      });
      expect(worst).toBeLessThanOrEqual(TOL);
    });

    it('batch-norm from tf.moments over N,H,W: forward and gradients', async () => {
      const worst = await compare(['mean', 'variance', 'y', 'dx', 'dgamma', 'dbeta'], () => {
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
      });
      expect(worst).toBeLessThanOrEqual(TOL);
    });

    it('softmax cross-entropy over 256 classes: loss and gradient of the logits', async () => {
      const worst = await compare(['loss', 'dlogits', 'nll', 'dlogits (logSoftmax)'], () => {
        const n = 12;
        const logits = tf.mul(tf.tensor2d(values(n * 256, 12), [n, 256]), 4);
        const labels = tf.tensor1d(Array.from({ length: n }, (_, i) => (i * 37 + 5) % 256), 'int32');
        const onehot = tf.oneHot(labels, 256);
        const ce = (l: tf.Tensor) => tf.losses.softmaxCrossEntropy(onehot, l);
        const nll = (l: tf.Tensor) => tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(l), onehot), -1)));
        return [ce(logits), tf.grad(ce)(logits), nll(logits), tf.grad(nll)(logits)];
      });
      expect(worst).toBeLessThanOrEqual(TOL);
    });
  });

  it('`pxl setup native --check` verifies the setup and says what it checked', () => {
    const r = pxl(['setup', 'native', '--check'], { cwd: ROOT });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/tfjs-node 4\.22\.0 on TensorFlow 2\.\d+\.\d+: backend 'tensorflow' loads/);
    expect(r.stdout).toMatch(/conv2d forward and gradients match cpu \(max rel\. diff [\d.e-]+\)/);
  });
});
