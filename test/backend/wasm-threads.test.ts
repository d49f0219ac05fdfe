// Multithreaded wasm in Node: starts, computes the same numbers, survives heap growth.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, uninstallKernels } from '../../src/backend/index.js';
import { type ConvCase, type ConvResult, TOLERANCE, describeCase, relativeError, runConv } from './conv-cases.js';

const cases: ConvCase[] = [
  { k: 7, ci: 1, co: 16, pad: 'same', batch: 4, bias: true, h: 28, w: 28 },
  { k: 3, ci: 16, co: 16, pad: 'same', batch: 8, bias: false, h: 28, w: 28 },
  { k: 1, ci: 32, co: 16, pad: 'valid', batch: 8, bias: true, h: 28, w: 28 },
  { k: 5, ci: 8, co: 12, pad: 'valid', batch: 3, bias: false },
];
const reference = new Map<ConvCase, ConvResult>();

beforeAll(async () => {
  await tf.setBackend('cpu');
  uninstallKernels('cpu');
  for (const c of cases) reference.set(c, runConv(c));
});

describe('wasm with 2 threads', () => {
  it('starts with the threads asked for', async () => {
    const info = await initBackend('wasm', { wasmThreads: 2 });
    expect(info).toMatchObject({ name: 'wasm', tfBackend: 'wasm', device: 'CPU, wasm SIMD, 2 threads', note: 'wasm, as requested' });
  });

  it.each(cases.map((c) => [describeCase(c), c] as const))('matches the stock cpu gradients: %s', (_, c) => {
    const want = reference.get(c)!;
    const got = runConv(c);
    for (const key of ['y', 'dx', 'dw'] as const) expect(relativeError(got[key], want[key])).toBeLessThan(TOLERANCE);
  });

  it('reads tensors correctly after the shared heap grows', () => {
    const before = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
    const big = tf.tidy(() => tf.add(tf.fill([48 * 2 ** 20], 2.5), 1)); // 2 x 192 MiB on the heap
    expect(Array.from(big.slice(48 * 2 ** 20 - 3).dataSync())).toEqual([3.5, 3.5, 3.5]);
    expect((tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length).toBeGreaterThan(before);
    big.dispose();
  });

  it('goes back to one thread on request', async () => {
    const info = await initBackend('wasm', { wasmThreads: 1 });
    expect(info.device).toBe('CPU, wasm SIMD, 1 thread');
    const c = cases[1];
    expect(relativeError(runConv(c).dw, reference.get(c)!.dw)).toBeLessThan(TOLERANCE);
  });

  it('restores working stock kernels after the module changed', async () => {
    await initBackend('wasm', { wasmThreads: 2 });
    uninstallKernels('wasm');
    const c: ConvCase = { ...cases[1], bias: false };
    const dx = runConv(c, false).dx; // the stock Conv2DBackpropInput, set up on the 2-thread module
    expect(relativeError(dx, reference.get(cases[1])!.dx)).toBeLessThan(TOLERANCE);
    await initBackend('wasm'); // reinstalls ours
  });

  it('rejects a nonsense thread count', async () => {
    await expect(initBackend('wasm', { wasmThreads: 0 })).rejects.toThrow("wasmThreads must be a positive integer or 'auto', got 0");
  });
});

describe('how many wasm threads a run gets', () => {
  it('one per core unless PXL_WASM_THREADS says otherwise, which must be auto or a positive integer', async () => {
    const { wasmThreadsFromEnv } = await import('../../src/app/run.js');
    expect(wasmThreadsFromEnv({})).toBe('auto');
    expect(wasmThreadsFromEnv({ PXL_WASM_THREADS: ' ' })).toBe('auto');
    expect(wasmThreadsFromEnv({ PXL_WASM_THREADS: 'auto' })).toBe('auto');
    expect(wasmThreadsFromEnv({ PXL_WASM_THREADS: '3' })).toBe(3);
    expect(() => wasmThreadsFromEnv({ PXL_WASM_THREADS: '0' })).toThrow('PXL_WASM_THREADS must be auto or a positive integer; found "0"');
  });

  it('sweep members side by side share the cores out, at least one thread each', async () => {
    const { wasmThreadsPerMember } = await import('../../src/sweep/runner.js');
    expect([1, 2, 3, 4].map((parallel) => wasmThreadsPerMember(parallel, 4))).toEqual([4, 2, 1, 1]);
    expect(wasmThreadsPerMember(2, 1)).toBe(1);
  });
});
