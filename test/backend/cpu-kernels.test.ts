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

  // How much faster it is belongs to bench/ (bench/backend-conv-grads.ts); here: that it takes the
  // fast formulation, dW as one forward Conv2D with the input's channels as the batch and dy as the filter.
  it('computes the filter gradient as a forward Conv2D instead of the stock loop', () => {
    const c: ConvCase = { k: 3, ci: 16, co: 16, pad: 'same', batch: 4, bias: false, h: 16, w: 16 };
    const ours = conv2dFilterShapes(() => runConv(c));
    uninstallKernels('cpu');
    const stock = conv2dFilterShapes(() => runConv(c));
    installKernels('cpu');
    const dyAsFilter = [16, 16, 4, 16]; // dy [N, Ho, Wo, Co] as the filter [Ho, Wo, N, Co]
    expect(stock.length).toBeGreaterThan(0);
    expect(stock.every((shape) => shape.join() === '3,3,16,16')).toBe(true); // forward convs only
    expect(ours).toEqual([...stock, dyAsFilter]);
  });
});

/** The filter shapes of every Conv2D kernel call the cpu backend runs during `f`. */
function conv2dFilterShapes(f: () => void): number[][] {
  const conv = tf.getKernel('Conv2D', 'cpu')!;
  const seen: number[][] = [];
  tf.unregisterKernel('Conv2D', 'cpu');
  tf.registerKernel({ ...conv, kernelFunc: (args) => (seen.push([...(args.inputs.filter as tf.TensorInfo).shape]), conv.kernelFunc(args)) });
  try {
    f();
  } finally {
    tf.unregisterKernel('Conv2D', 'cpu');
    tf.registerKernel(conv);
  }
  return seen;
}
