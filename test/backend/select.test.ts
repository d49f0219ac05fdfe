// Backend selection and probing on this machine: wasm and cpu install from the
// registry, the native TensorFlow packages normally do not.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, formatProbes, initBackend, probeBackends } from '../../src/backend/index.js';
import { findPackage } from '../../src/backend/native.js';

const nodeInstalled = findPackage('@tensorflow/tfjs-node') != null;
const gpuInstalled = findPackage('@tensorflow/tfjs-node-gpu') != null;

describe('initBackend', () => {
  it.skipIf(nodeInstalled || gpuInstalled)('auto picks wasm and says why the native backends fell back', async () => {
    const info = await initBackend('auto');
    expect(info.name).toBe('wasm');
    expect(info.tfBackend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.device).toMatch(/^CPU, wasm SIMD, \d+ threads?$/);
    expect(info.fallbacks).toEqual([
      { name: 'tensorflow-gpu', reason: 'package @tensorflow/tfjs-node-gpu is not installed' },
      { name: 'tensorflow', reason: 'package @tensorflow/tfjs-node is not installed' },
    ]);
    expect(info.note).toBe(
      'auto picked wasm; skipped tensorflow-gpu (package @tensorflow/tfjs-node-gpu is not installed); ' +
      'tensorflow (package @tensorflow/tfjs-node is not installed)');
    expect(info.note).not.toContain('\n');
  });

  it.runIf(nodeInstalled && !gpuInstalled)('auto takes tensorflow when @tensorflow/tfjs-node is installed, or says why not', async () => {
    const info = await initBackend('auto');
    const skippedNode = info.fallbacks.find((f) => f.name === 'tensorflow');
    if (info.name === 'tensorflow') expect(info.device).toMatch(/^CPU, TensorFlow .* native$/);
    else expect(skippedNode?.reason).toMatch(/^its native addon failed to load: |registered no 'tensorflow' backend|failed to initialize/);
  });

  it('registers the missing wasm gradient kernel', async () => {
    await initBackend('wasm');
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    const x = tf.ones([1, 4, 4, 2]);
    const w = tf.ones([3, 3, 2, 1]);
    const dw = tf.grad((ws: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, ws as tf.Tensor4D, 1, 'same').sum())(w);
    // Each filter tap sees the input pixels its offset keeps inside the 4x4 image: 9, 12 or 16 per channel.
    expect(Array.from(dw.dataSync()).sort((a, b) => a - b)).toEqual([9, 9, 9, 9, 9, 9, 9, 9, 12, 12, 12, 12, 12, 12, 12, 12, 16, 16]);
  });

  it('starts cpu on request, with its replaced filter gradient', async () => {
    const info = await initBackend('cpu');
    expect(info).toMatchObject({ name: 'cpu', tfBackend: 'cpu', device: 'CPU, pure JavaScript', note: 'cpu, as requested', fallbacks: [] });
    expect(tf.getBackend()).toBe('cpu');
  });

  it.skipIf(nodeInstalled)('refuses an unavailable tensorflow request, saying why and how to fix it', async () => {
    const request = initBackend('tensorflow');
    await expect(request).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(initBackend('tensorflow')).rejects.toThrow(
      "backend 'tensorflow' is not available: package @tensorflow/tfjs-node is not installed. Run `pxl setup native`");
  });

  it.skipIf(gpuInstalled)('refuses an unavailable tensorflow-gpu request', async () => {
    await expect(initBackend('tensorflow-gpu')).rejects.toThrow(
      /backend 'tensorflow-gpu' is not available: package @tensorflow\/tfjs-node-gpu is not installed\. It needs/);
  });

  it('rejects an unknown backend name', async () => {
    await expect(initBackend('webgpu' as never)).rejects.toThrow("unknown backend 'webgpu': expected auto, tensorflow-gpu, tensorflow, wasm, cpu");
  });
});

describe('probeBackends', () => {
  it('reports every backend, best first, without switching the active one', async () => {
    await initBackend('cpu');
    const probes = await probeBackends();
    expect(tf.getBackend()).toBe('cpu');
    expect(probes.map((p) => p.name)).toEqual(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']);
    const [gpu, node, wasm, cpu] = probes;
    if (!gpuInstalled) expect(gpu).toMatchObject({ available: false, packageVersion: null, reason: 'package @tensorflow/tfjs-node-gpu is not installed' });
    if (!nodeInstalled) expect(node).toMatchObject({ available: false, packageVersion: null, reason: 'package @tensorflow/tfjs-node is not installed' });
    expect(wasm).toMatchObject({ available: true, packageName: '@tensorflow/tfjs-backend-wasm', packageVersion: '4.22.0' });
    expect(wasm.wasm).toEqual({ simd: true, threads: true, threadCount: expect.any(Number) });
    expect(wasm.reason).toMatch(/^CPU, wasm SIMD, \d+ threads?; more threads with the wasmThreads option$/);
    expect(cpu).toMatchObject({ available: true, packageVersion: tf.version['tfjs-backend-cpu'] });
  });

  it('formats one aligned line per backend', async () => {
    const lines = formatProbes(await probeBackends()).split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[2]).toMatch(/^wasm\s+yes\s+@tensorflow\/tfjs-backend-wasm 4\.22\.0\s+CPU, wasm SIMD/);
    expect(new Set(lines.map((l) => l.indexOf('@tensorflow'))).size).toBe(1);
  });
});
