// The cpu backend's replaced Conv2DBackpropFilter against its own stock kernel.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, installKernels, uninstallKernels } from '../../src/backend/index.js';
import { type ConvCase, type ConvResult, TOLERANCE, describeCase, relativeError, runConv, standardCases } from './conv-cases.js';

const strided: ConvCase = { k: 3, ci: 2, co: 3, pad: 'same', batch: 2, bias: true, stride: 2 };
const cases = [...standardCases(), { k: 3, ci: 2, co: 3, pad: [[0, 0], [2, 0], [1, 1], [0, 0]], batch: 2, bias: false } as ConvCase];
const reference = new Map<ConvCase, ConvResult>();

beforeAll(async () => {
  await tf.setBackend('cpu');
  uninstallKernels('cpu');
  const stock = tf.getKernel('Conv2DBackpropFilter', 'cpu');
  for (const c of [...cases, strided]) reference.set(c, runConv(c));
  await initBackend('cpu');
  expect(tf.getKernel('Conv2DBackpropFilter', 'cpu')).not.toBe(stock);
});

describe('cpu conv2d gradients with the replaced filter kernel match the stock one', () => {
  it.each(cases.map((c) => [describeCase(c), c] as const))('%s', (_, c) => {
    const want = reference.get(c)!;
    const got = runConv(c);
    expect(relativeError(got.dx, want.dx)).toBeLessThan(TOLERANCE);
    expect(relativeError(got.dw, want.dw)).toBeLessThan(TOLERANCE);
    if (c.bias) expect(relativeError(got.db!, want.db!)).toBeLessThan(TOLERANCE);
  });

  it('hands strided convolutions to the stock kernel', () => {
    const got = runConv(strided);
    expect(relativeError(got.dw, reference.get(strided)!.dw)).toBeLessThan(TOLERANCE);
  });

  it('leaks no tensors or buffers', () => {
    const c: ConvCase = { k: 3, ci: 4, co: 5, pad: 'valid', batch: 2, bias: false };
    runConv(c);
    const before = [tf.memory().numTensors, tf.backend().numDataIds()];
    for (let i = 0; i < 5; i++) runConv(c);
    expect([tf.memory().numTensors, tf.backend().numDataIds()]).toEqual(before);
  });

  it('is much faster than the stock kernel', () => {
    const c: ConvCase = { k: 3, ci: 16, co: 16, pad: 'same', batch: 4, bias: false, h: 16, w: 16 };
    const time = () => {
      const start = performance.now();
      runConv(c);
      return performance.now() - start;
    };
    time();
    const ours = time();
    uninstallKernels('cpu');
    const stock = time();
    installKernels('cpu');
    expect(stock / ours).toBeGreaterThan(3);
  });
});
