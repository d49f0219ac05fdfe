// The native backend's layer ops (src/backend/native-layer-ops.ts, on the kernels of
// native-ops.ts: ReluGrad, FusedBatchNormV3 and its gradient, SparseSoftmaxCrossEntropyWithLogits,
// masked convs over the kernel's upper rows with explicit padding) against the generic ones
// they replace (generic-layer-ops.ts), both on the 'tensorflow' backend: forward values,
// gradients and batch-norm running statistics.
//
// tfjs-node is optional: when it does not load these tests fail, saying why, unless
// PXL_NATIVE=0 is set outside CI, which skips them (test/helpers/native.ts).
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MaskType, ModelConfig } from '../../src/config/types.js';
import { BatchNorm, Conv2D, gate, relu, StackConv, type StackConvSpec } from '../../src/model/layers.js';
import { crossEntropyMean, crossEntropySum, modelCrossEntropyMean } from '../../src/model/loss.js';
import { layerOps } from '../../src/backend/layer-ops.js';
import { disableNativeOps, nativeOps, nativeParts, setNativeParts } from '../../src/backend/native-ops.js';
import { PixelCNN } from '../../src/model/pixelcnn.js';
import { createRng } from '../../src/util/random.js';
import { prepareTensorFlowEnv } from '../../src/backend/native.js';
import { nativeMissingAdvice, skipNative } from '../helpers/native.js';

const SKIP = skipNative();
let loadError = '';

beforeAll(async () => {
  if (SKIP) return;
  prepareTensorFlowEnv(); // as pxl does before it loads tfjs-node
  const name = '@tensorflow/tfjs-node';
  try {
    await import(/* @vite-ignore */ name);
  } catch (err) {
    loadError = String((err as Error)?.message ?? err).split('\n')[0] ?? 'unknown error';
  }
  tf.env().set('PROD', true);
  if (!loadError && !(await tf.setBackend('tensorflow'))) loadError = "backend 'tensorflow' did not initialize";
});

afterEach(() => disableNativeOps(false));

function values(n: number, seed: number, scale = 1, shift = 0): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 31 - 1) * scale + shift;
  }
  return out;
}

/** Runs `f` with the native ops on and off; returns both results read back. */
function both(f: () => tf.Tensor[]): { native: Float32Array[]; generic: Float32Array[]; shapes: number[][] } {
  const parts = nativeParts();
  const run = (off: boolean) => {
    if (off) disableNativeOps(true);
    else setNativeParts(parts);
    const out = tf.tidy(f);
    const data = out.map((t) => t.dataSync() as Float32Array);
    const shapes = out.map((t) => t.shape);
    tf.dispose(out);
    return { data, shapes };
  };
  const native = run(false);
  const generic = run(true);
  setNativeParts(parts);
  expect(native.shapes).toEqual(generic.shapes);
  return { native: native.data, generic: generic.data, shapes: native.shapes };
}

/** Largest |a - b| / max |b| per result, checked against `tol`. */
function expectClose(names: string[], r: { native: Float32Array[]; generic: Float32Array[] }, tol = 1e-5, floor = 0): void {
  r.native.forEach((a, k) => {
    const b = r.generic[k]!;
    let scale = Math.max(1e-30, floor);
    for (const v of b) scale = Math.max(scale, Math.abs(v));
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    if (process.env.PXL_SHOW_DIFFS) console.log(`${names[k]}: ${(worst / scale).toExponential(2)}`);
    expect(worst / scale, `${names[k]}: max diff ${worst} (scale ${scale})`).toBeLessThanOrEqual(tol);
  });
}

describe.skipIf(SKIP)('native TensorFlow ops against the generic maths', () => {
  beforeAll(() => {
    if (loadError) expect.fail(`@tensorflow/tfjs-node does not load: ${loadError} (${nativeMissingAdvice()})`);
  });

  it('are used on the tensorflow backend, and not when disabled', () => {
    expect(nativeOps('conv')).not.toBeNull();
    disableNativeOps(true);
    expect(nativeOps('conv')).toBeNull();
  });

  it('relu: value and gradient', () => {
    const x = tf.tensor4d(values(2 * 5 * 4 * 3, 1), [2, 5, 4, 3]);
    const w = tf.tensor4d(values(2 * 5 * 4 * 3, 2), [2, 5, 4, 3]);
    const f = (t: tf.Tensor) => tf.sum(tf.mul(relu(t), w));
    expectClose(['y', 'dx'], both(() => [relu(x), tf.grad(f)(x)]), 0);
  });

  const convCases: [string, number, MaskType | null, boolean][] = [
    ['7x7 mask A, no input gradient (the input conv)', 7, 'A', false],
    ['7x7 mask A', 7, 'A', true],
    ['3x3 mask B', 3, 'B', true],
    ['5x5 mask B', 5, 'B', true],
    ['1x1 unmasked', 1, null, true],
    ['1x1 mask A (sees nothing)', 1, 'A', true],
    ['3x3 unmasked', 3, null, true],
  ];
  // The same with masked convs over all k rows.
  const partOff: [string, number, MaskType | null, boolean][] = [
    ['3x3 mask B over all 3 rows', 3, 'B', true],
    ['7x7 mask A over all 7 rows', 7, 'A', false],
  ];
  for (const [label, k, mask, inputGradient] of [...convCases, ...partOff]) {
    it(`conv ${label}: value and gradients of x, weight and bias`, () => {
      if (label.includes('all')) setNativeParts(nativeParts().filter((p) => p !== 'convRows'));
      const conv = new Conv2D({ name: 'c', kernel: k, in: 5, out: 6, mask }, createRng(k), `native-conv-${label}`);
      const x = tf.tensor4d(values(2 * 7 * 6 * 5, 3), [2, 7, 6, 5]);
      const r = tf.tensor4d(values(2 * 7 * 6 * 6, 4), [2, 7, 6, 6]);
      const result = both(() => {
        const y = conv.apply(x, inputGradient);
        const { grads } = tf.variableGrads(() => tf.sum(tf.mul(conv.apply(x, inputGradient), r)) as tf.Scalar, conv.variables());
        const out = [y, grads[conv.weight.name]!, grads[conv.bias.name]!];
        if (inputGradient) out.push(tf.grad((t: tf.Tensor) => tf.sum(tf.mul(conv.apply(t as tf.Tensor4D), r)))(x));
        return out;
      });
      expectClose(['y', 'dweight', 'dbias', 'dx'], result);
      // Masked taps get exactly zero gradient.
      if (mask) {
        const dw = result.native[1]!;
        const keep = conv.mask!.dataSync();
        for (let i = 0; i < dw.length; i++) if (keep[i] === 0) expect(dw[i] === 0, `masked tap ${i}`).toBe(true);
      }
      conv.dispose();
    });
  }

  // Gated PixelCNN's stack convs: windows placed by explicit padding (cropping for mask A), dilated.
  const stackCases: [string, Omit<StackConvSpec, 'name' | 'in' | 'out'>, boolean][] = [
    ['vertical 2x3', { stack: 'vertical', kernel: 3, dilation: 1, mask: null }, true],
    ['vertical 4x7 from the image (no input gradient)', { stack: 'vertical', kernel: 7, dilation: 1, mask: null }, false],
    ['vertical 3x5, dilation 2', { stack: 'vertical', kernel: 5, dilation: 2, mask: null }, true],
    ['horizontal 1x2 mask B, dilation 4', { stack: 'horizontal', kernel: 3, dilation: 4, mask: 'B' }, true],
    ['horizontal 1x3 mask A (cropped)', { stack: 'horizontal', kernel: 7, dilation: 1, mask: 'A' }, false],
    ['horizontal 1x2 mask A, dilation 2', { stack: 'horizontal', kernel: 5, dilation: 2, mask: 'A' }, true],
  ];
  for (const [label, spec, inputGradient] of stackCases) {
    it(`stack conv ${label}: value and gradients of x, weight and bias`, () => {
      const conv = new StackConv({ name: 's', in: 5, out: 6, ...spec }, createRng(spec.kernel), `native-stack-${label}`);
      const x = tf.tensor4d(values(2 * 7 * 6 * 5, 3), [2, 7, 6, 5]);
      const r = tf.tensor4d(values(2 * 7 * 6 * 6, 4), [2, 7, 6, 6]);
      const result = both(() => {
        const y = conv.apply(x, inputGradient);
        const { grads } = tf.variableGrads(() => tf.sum(tf.mul(conv.apply(x, inputGradient), r)) as tf.Scalar, conv.variables());
        const out = [y, grads[conv.weight.name]!, grads[conv.bias.name]!];
        if (inputGradient) out.push(tf.grad((t: tf.Tensor) => tf.sum(tf.mul(conv.apply(t as tf.Tensor4D), r)))(x));
        return out;
      });
      expectClose(['y', 'dweight', 'dbias', 'dx'], result);
      conv.dispose();
    });
  }

  it('gate tanh x sigmoid: value and gradient', () => {
    const x = tf.tensor4d(values(2 * 5 * 4 * 6, 1, 3), [2, 5, 4, 6]);
    const w = tf.tensor4d(values(2 * 5 * 4 * 3, 2), [2, 5, 4, 3]);
    const f = (t: tf.Tensor) => tf.sum(tf.mul(gate(t as tf.Tensor4D), w));
    expectClose(['y', 'dx'], both(() => [gate(x), tf.grad(f)(x)]), 1e-6);
  });

  it('batch norm in training mode: value, gradients and running statistics', () => {
    const make = () => {
      const bn = new BatchNorm('bn', 6, 'native-test');
      tf.tidy(() => {
        bn.gamma.assign(tf.tensor1d(values(6, 5, 0.3, 1)));
        bn.beta.assign(tf.tensor1d(values(6, 6, 0.3)));
        bn.runningMean.assign(tf.tensor1d(values(6, 7)));
        bn.runningVar.assign(tf.tensor1d(values(6, 8, 0.5, 1.5)));
      });
      return bn;
    };
    const x = tf.tensor4d(values(3 * 5 * 4 * 6, 9, 2, 0.5), [3, 5, 4, 6]);
    const w = tf.tensor4d(values(3 * 5 * 4 * 6, 10), [3, 5, 4, 6]);
    const result = both(() => {
      const bn = make();
      const y = bn.apply(x, true);
      const stats = [bn.runningMean.clone(), bn.runningVar.clone()];
      const { grads } = tf.variableGrads(() => tf.sum(tf.mul(bn.apply(x, true, false), w)) as tf.Scalar, bn.variables());
      const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(bn.apply(t as tf.Tensor4D, true, false), w)))(x);
      // updateStats=false left the running statistics alone.
      const after = [bn.runningMean.clone(), bn.runningVar.clone()];
      const out = [y, dx, grads[bn.gamma.name]!, grads[bn.beta.name]!, ...stats, ...after];
      bn.dispose();
      return out;
    });
    expectClose(['y', 'dx', 'dgamma', 'dbeta', 'running mean', 'running var', 'running mean (no update)', 'running var (no update)'], result);
    expect(result.native[6]).toEqual(result.native[4]);
    expect(result.native[7]).toEqual(result.native[5]);
  });

  it('batch norm in training mode: batch statistics as precise as the generic maths', () => {
    // Channels whose mean is a hundred times their spread, over a batch of 8 MNIST-sized
    // images: the statistics' rounding shows. Reference: the same maths in float64.
    const [n, c] = [8 * 28 * 28, 16];
    const data = values(n * c, 21, 0.01, 1);
    const x = tf.tensor4d(data, [8, 28, 28, c]);
    const ref = new Float64Array(n * c);
    for (let ch = 0; ch < c; ch++) {
      let mean = 0;
      for (let i = 0; i < n; i++) mean += data[i * c + ch]!;
      mean /= n;
      let v = 0;
      for (let i = 0; i < n; i++) v += (data[i * c + ch]! - mean) ** 2;
      const rstd = 1 / Math.sqrt(v / n + BatchNorm.epsilon);
      for (let i = 0; i < n; i++) ref[i * c + ch] = (data[i * c + ch]! - mean) * rstd;
    }
    const error = (y: Float32Array) => {
      let worst = 0;
      for (let i = 0; i < y.length; i++) worst = Math.max(worst, Math.abs(y[i]! - ref[i]!));
      return worst;
    };
    const bn = new BatchNorm('stats', c, 'native-test');
    const result = both(() => [bn.apply(x, true, false)]);
    const [native, generic] = [error(result.native[0]!), error(result.generic[0]!)];
    if (process.env.PXL_SHOW_DIFFS) console.log(`normalised output against float64: native ${native.toExponential(2)}, generic ${generic.toExponential(2)}`);
    expect(native).toBeLessThanOrEqual(1.5 * generic); // oneDNN's statistics: 2.9x
    bn.dispose();
  });

  it('batch norm in inference mode', () => {
    const bn = new BatchNorm('bn', 6, 'native-test');
    tf.tidy(() => {
      bn.gamma.assign(tf.tensor1d(values(6, 5, 0.3, 1)));
      bn.runningVar.assign(tf.tensor1d(values(6, 8, 0.5, 1.5)));
      bn.runningMean.assign(tf.tensor1d(values(6, 7)));
    });
    const x = tf.tensor4d(values(3 * 5 * 4 * 6, 9, 2, 0.5), [3, 5, 4, 6]);
    expectClose(['y'], both(() => [bn.apply(x, false)]));
    bn.dispose();
  });

  it('softmax cross-entropy over 256 levels: value and gradient', () => {
    const logits = tf.tensor4d(values(2 * 3 * 4 * 256, 11, 4), [2, 3, 4, 256]);
    const targets = tf.tensor1d(Array.from({ length: 24 }, (_, i) => (i * 37 + 5) % 256), 'int32');
    const result = both(() => {
      const g = tf.grad((l: tf.Tensor) => crossEntropyMean(l as tf.Tensor4D, targets, 256))(logits);
      return [crossEntropySum(logits, targets, 256), g];
    });
    expectClose(['loss', 'dlogits'], result, 1e-5);
  });

  // The output conv and the loss as one op, for one channel and for three (rows of `levels` per channel).
  for (const [channels, levels] of [[1, 256], [3, 16]] as const) {
    it(`the output 1x1 conv and the loss as one op, ${channels} channel(s) of ${levels} levels: value and gradients of x, weight and bias`, () => {
      const conv = new Conv2D({ name: 'out', kernel: 1, in: 5, out: channels * levels, mask: null }, createRng(channels), `native-out-${channels}`);
      const x = tf.tensor4d(values(2 * 3 * 4 * 5, 13, 2), [2, 3, 4, 5]);
      const targets = tf.tensor1d(Array.from({ length: 24 * channels }, (_, i) => (i * 37 + 5) % levels), 'int32');
      const result = both(() => {
        const loss = (t: tf.Tensor) => tf.mul(layerOps.outputCrossEntropySum(t as tf.Tensor4D, conv, targets, levels), 0.37) as tf.Scalar;
        const { value, grads } = tf.variableGrads(() => loss(x), conv.variables());
        return [value, grads[conv.weight.name]!, grads[conv.bias.name]!, tf.grad(loss)(x)];
      });
      expectClose(['loss', 'dweight', 'dbias', 'dx'], result, 1e-5);
      conv.dispose();
    });
  }

  it('a whole PixelCNN with batch norm: loss, every gradient (also with blocks recomputed) and the running statistics', () => {
    const config: ModelConfig = {
      color_levels: 16, hidden: 8, batch_norm: true, dropout: 0,
      input: { kernel_size: 7, mask: 'A' },
      blocks: { type: 'residual', count: 2, kernel_size: 3, mask: 'B', dilations: null, skip_connections: false },
      conditioning: { type: 'none', classes: null },
      output: { type: 'softmax', components: null },
      head: { convs: 2, mask: 'B' },
    };
    const image = { height: 9, width: 8, channels: 1 };
    const x = tf.tensor4d(values(3 * 9 * 8, 12, 0.5, 0.5), [3, 9, 8, 1]);
    const t = tf.tensor1d(Array.from({ length: 3 * 9 * 8 }, (_, i) => (i * 7) % 16), 'int32');
    let names: string[] = [];
    const recomputed: Float32Array[] = [];
    const result = both(() => {
      const model = new PixelCNN(config, image, 5);
      const { value, grads } = tf.variableGrads(() => modelCrossEntropyMean(model, x, t), model.trainable());
      names = ['loss', ...model.trainable().map((v) => v.name.slice(v.name.indexOf('/') + 1)), ...model.norms().flatMap((b) => [`${b.name} running mean`, `${b.name} running var`]), 'inference logits'];
      const out = [value, ...model.trainable().map((v) => grads[v.name]!), ...model.norms().flatMap((b) => b.buffers().map((s) => s.clone()))];
      out.push(model.forward(x, false));
      // Recomputing blocks in the backward pass gives the same gradients on the native path.
      const again = new PixelCNN(config, image, 5);
      const r = tf.variableGrads(() => modelCrossEntropyMean(again, x, t, true), again.trainable());
      recomputed.push(...again.trainable().map((v) => r.grads[v.name]!.dataSync() as Float32Array));
      again.dispose();
      model.dispose();
      return out;
    });
    // A conv bias followed by batch norm has an exactly zero gradient in exact arithmetic
    // (batch norm removes any per-channel shift): both paths give rounding noise there,
    // compared against the scale of the other gradients instead of its own.
    let largest = 0;
    for (const g of result.generic.slice(1)) for (const v of g) largest = Math.max(largest, Math.abs(v));
    result.native.forEach((a, i) => {
      const one = { native: [a], generic: [result.generic[i]!] };
      if (/conv1\/bias|conv2\/bias|conv3\/bias|input\.conv\/bias/.test(names[i]!)) expectClose([names[i]!], one, 1e-5, largest);
      else expectClose([names[i]!], one, 1e-5);
    });
    // recomputed: the native run's gradients, then the generic run's.
    const count = recomputed.length / 2;
    recomputed.slice(0, count).forEach((g, i) => {
      const plain = result.native[i + 1]!;
      const tol = /conv\d\/bias|input\.conv\/bias/.test(names[i + 1]!) ? 1e-5 * largest : 1e-6 * Math.max(...plain.map(Math.abs));
      for (let j = 0; j < g.length; j++) expect(Math.abs(g[j]! - plain[j]!), `${names[i + 1]} recomputed [${j}]`).toBeLessThanOrEqual(tol);
    });
  });

  it('a whole gated PixelCNN with batch norm, dilations and skips: loss, every gradient and the running statistics', () => {
    const config: ModelConfig = {
      color_levels: 16, hidden: 8, batch_norm: true, dropout: 0,
      input: { kernel_size: 7, mask: 'A' },
      blocks: { type: 'gated', count: 3, kernel_size: 3, mask: 'B', dilations: [1, 2, 1], skip_connections: true },
      head: { convs: 1, mask: 'B' },
      conditioning: { type: 'none', classes: null },
      output: { type: 'softmax', components: null },
    };
    const { names, result } = gatedModelRun(config);
    // A conv bias followed by batch norm has an exactly zero gradient in exact arithmetic: rounding noise, compared against the other gradients' scale.
    let largest = 0;
    for (const g of result.generic.slice(1)) for (const v of g) largest = Math.max(largest, Math.abs(v));
    result.native.forEach((a, i) => {
      const one = { native: [a], generic: [result.generic[i]!] };
      expectClose([names[i]!], one, 1e-5, /(vertical|horizontal|out)\/bias/.test(names[i]!) && !names[i]!.startsWith('head') ? largest : 0);
    });
  });

  it('a whole gated PixelCNN: the native gradients match the cpu backend\'s', async () => {
    const config: ModelConfig = {
      color_levels: 16, hidden: 8, batch_norm: false, dropout: 0,
      input: { kernel_size: 5, mask: 'A' },
      blocks: { type: 'gated', count: 2, kernel_size: 5, mask: 'B', dilations: [1, 3], skip_connections: false },
      head: { convs: 1, mask: 'B' },
      conditioning: { type: 'none', classes: null },
      output: { type: 'softmax', components: null },
    };
    const image = { height: 9, width: 8, channels: 1 };
    const x = values(3 * 9 * 8, 12, 0.5, 0.5);
    const t = Array.from({ length: 3 * 9 * 8 }, (_, i) => (i * 7) % 16);
    const gradients = () => tf.tidy(() => {
      const model = new PixelCNN(config, image, 5);
      const { value, grads } = tf.variableGrads(() => modelCrossEntropyMean(model, tf.tensor4d(x, [3, 9, 8, 1]), tf.tensor1d(t, 'int32')), model.trainable());
      const out = [value.dataSync() as Float32Array, ...model.trainable().map((v) => grads[v.name]!.dataSync() as Float32Array)];
      model.dispose();
      return out;
    });
    const native = gradients();
    await tf.setBackend('cpu');
    try {
      const cpu = gradients();
      expectClose(native.map((_, i) => (i === 0 ? 'loss' : `gradient ${i}`)), { native, generic: cpu }, 1e-5);
    } finally {
      await tf.setBackend('tensorflow');
    }
  });

  for (const type of ['residual', 'gated'] as const) {
    it(`a whole ${type} PixelCNN with dropout: the same native kernels run as without it, and the loss and gradients match the generic maths`, async () => {
      const config: ModelConfig = {
        color_levels: 16, hidden: 8, batch_norm: true, dropout: 0.3,
        input: { kernel_size: 5, mask: 'A' },
        blocks: { type, count: 2, kernel_size: 3, mask: 'B', dilations: null, skip_connections: type === 'gated' },
        head: { convs: 1, mask: 'B' },
        conditioning: { type: 'none', classes: null },
        output: { type: 'softmax', components: null },
      };
      const image = { height: 9, width: 8, channels: 1 };
      const x = tf.tensor4d(values(3 * 9 * 8, 12, 0.5, 0.5), [3, 9, 8, 1]);
      const t = tf.tensor1d(Array.from({ length: 3 * 9 * 8 }, (_, i) => (i * 7) % 16), 'int32');
      const step = (c: ModelConfig) => (): tf.Tensor[] => {
        const model = new PixelCNN(c, image, 5);
        const { value, grads } = tf.variableGrads(() => modelCrossEntropyMean(model, x, t, false, null, 3), model.trainable());
        const out = [value, ...model.trainable().map((v) => grads[v.name]!)];
        model.dispose();
        return out;
      };
      // pxl's own native kernels a training step runs (conv, batch norm, relu, gate, loss): dropout turns none of them off.
      const kernels = async (c: ModelConfig) => {
        const info = await tf.profile(() => void tf.dispose(tf.tidy(step(c))));
        return [...new Set(info.kernelNames.filter((n) => n.startsWith('Pxl')))].sort();
      };
      const without = await kernels({ ...config, dropout: 0 });
      expect(without).toEqual(expect.arrayContaining(['PxlBatchNormGrad', 'PxlBatchNormTraining', 'PxlConv2D', 'PxlConv2DBackpropFilter', 'PxlConv2DBackpropInput']));
      expect(await kernels(config)).toEqual(without);
      const r = both(step(config));
      let largest = 0;
      for (const g of r.generic.slice(1)) for (const v of g) largest = Math.max(largest, Math.abs(v));
      // A conv bias followed by batch norm has an exactly zero gradient: rounding noise, compared against the other gradients' scale.
      expectClose(r.native.map((_, i) => (i === 0 ? 'loss' : `gradient ${i}`)), r, 1e-5, largest);
      expect(Math.abs(r.native[0]![0]! - r.generic[0]![0]!)).toBeLessThan(1e-5 * r.generic[0]![0]!);
      tf.dispose([x, t]);
    });
  }
});

/** Loss, every gradient, the running statistics and the inference logits of a gated model, native and generic. */
function gatedModelRun(config: ModelConfig) {
  const image = { height: 9, width: 8, channels: 1 };
  const x = tf.tensor4d(values(3 * 9 * 8, 12, 0.5, 0.5), [3, 9, 8, 1]);
  const t = tf.tensor1d(Array.from({ length: 3 * 9 * 8 }, (_, i) => (i * 7) % 16), 'int32');
  let names: string[] = [];
  const result = both(() => {
    const model = new PixelCNN(config, image, 5);
    const { value, grads } = tf.variableGrads(() => modelCrossEntropyMean(model, x, t), model.trainable());
    names = ['loss', ...model.trainable().map((v) => v.name.slice(v.name.indexOf('/') + 1)), ...model.norms().flatMap((b) => [`${b.name} running mean`, `${b.name} running var`]), 'inference logits'];
    const out = [value, ...model.trainable().map((v) => grads[v.name]!), ...model.norms().flatMap((b) => b.buffers().map((s) => s.clone()))];
    out.push(model.forward(x, false));
    model.dispose();
    return out;
  });
  return { names, result };
}
