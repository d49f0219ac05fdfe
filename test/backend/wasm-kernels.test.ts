// The wasm backend's conv2d gradients (ours) against the stock cpu backend.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, installKernels, uninstallKernels } from '../../src/backend/index.js';
import { type ConvCase, type ConvResult, TOLERANCE, describeCase, relativeError, runConv, standardCases } from './conv-cases.js';

const extraCases: ConvCase[] = [
  { k: 3, ci: 2, co: 3, pad: [[0, 0], [2, 0], [1, 1], [0, 0]], batch: 2, bias: false }, // causal-style explicit pad
  { k: 1, ci: 4, co: 3, pad: [[0, 0], [1, 1], [0, 2], [0, 0]], batch: 2, bias: false }, // pad wider than the kernel
  { k: 5, ci: 32, co: 16, pad: 'same', batch: 4, bias: true, h: 14, w: 14 },
];
const cases = [...standardCases(), ...extraCases];
const reference = new Map<ConvCase, ConvResult>();

beforeAll(async () => {
  await tf.setBackend('cpu');
  uninstallKernels('cpu');
  for (const c of [...cases, strided]) reference.set(c, runConv(c));
  await initBackend('wasm');
});

const strided: ConvCase = { k: 3, ci: 2, co: 3, pad: 'same', batch: 2, bias: false, stride: 2 };

describe('wasm conv2d gradients match the stock cpu backend', () => {
  it.each(cases.map((c) => [describeCase(c), c] as const))('%s', (_, c) => {
    const want = reference.get(c)!;
    const got = runConv(c);
    expect(tf.getBackend()).toBe('wasm');
    expect(relativeError(got.y, want.y)).toBeLessThan(TOLERANCE);
    expect(relativeError(got.dx, want.dx)).toBeLessThan(TOLERANCE);
    expect(relativeError(got.dw, want.dw)).toBeLessThan(TOLERANCE);
    if (c.bias) expect(relativeError(got.db!, want.db!)).toBeLessThan(TOLERANCE);
  });
});

describe('wasm conv2d gradient kernels', () => {
  it('leak no tensors or buffers across repeated calls', () => {
    const c: ConvCase = { k: 3, ci: 4, co: 5, pad: 'same', batch: 2, bias: true };
    runConv(c);
    const tensors = tf.memory().numTensors;
    const buffers = tf.backend().numDataIds();
    for (let i = 0; i < 5; i++) runConv(c);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.backend().numDataIds()).toBe(buffers);
  });

  it('free every intermediate buffer (engine leak check on the kernels alone)', () => {
    const x = tf.ones([2, 6, 5, 3]);
    const dy = tf.ones([2, 6, 5, 4]);
    const w = tf.ones([3, 3, 3, 4]);
    tf.env().set('IS_TEST', true); // makes the engine count each kernel's leftover buffers
    try {
      for (const k of [1, 3]) {
        tf.dispose([
          tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [k, k, 3, 4] }),
          tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { strides: 1, pad: 'same', dataFormat: 'NHWC', inputShape: x.shape }),
        ] as tf.Tensor[]);
      }
    } finally {
      tf.env().set('IS_TEST', false);
      tf.dispose([x, dy, w]);
    }
  });

  it('keep the wasm heap flat when every call brings new tensors (XNNPACK operators are freed)', () => {
    const heapBytes = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
    const c: ConvCase = { k: 3, ci: 8, co: 8, pad: 'same', batch: 4, bias: false, h: 16, w: 16 };
    for (let i = 0; i < 20; i++) runConv(c);
    const before = heapBytes();
    for (let i = 0; i < 100; i++) runConv(c);
    expect(heapBytes()).toBe(before);
  });

  it('can be uninstalled, restoring the stock registry, and installed again', () => {
    const ours = tf.getKernel('Conv2DBackpropInput', 'wasm');
    uninstallKernels('wasm');
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    const stock = tf.getKernel('Conv2DBackpropInput', 'wasm');
    expect(stock).not.toBe(ours);
    expect(installKernels('wasm')).toEqual(['Conv2DBackpropFilter', 'Conv2DBackpropInput']);
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    expect(tf.getKernel('Conv2DBackpropInput', 'wasm')).not.toBe(stock);
  });

  it('reject a strided filter gradient with a clear message (wasm has no stock kernel)', () => {
    expect(() => runConv(strided)).toThrow(/Conv2DBackpropFilter on the 'wasm' backend supports only stride-1.*strides 2x2/);
  });

  it('pass strided input gradients to the stock kernel', () => {
    const got = runConv(strided, false);
    expect(relativeError(got.dx, reference.get(strided)!.dx)).toBeLessThan(TOLERANCE);
  });
});
