// Backend selection and probing. Native packages are looked up in temp dirs
// (none there, or a stand-in whose addon fails), so the fallback chain is the
// same on every machine; the real @tensorflow/tfjs-node is tried last, where installed.
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendUnavailableError, formatProbes, initBackend, probeBackends } from '../../src/backend/index.js';
import { findPackage, prepareTensorFlowEnv } from '../../src/backend/native.js';
import { nativeMissingAdvice, nativeRequired } from '../helpers/native.js';

const nodeInstalled = findPackage('@tensorflow/tfjs-node') != null;
let empty: string; // no native packages
let broken: string; // a tfjs-node whose addon cannot load

beforeAll(async () => {
  await tf.setBackend('cpu');
  empty = mkdtempSync(join(tmpdir(), 'pxl-empty-'));
  broken = mkdtempSync(join(tmpdir(), 'pxl-broken-'));
  const pkg = join(broken, 'node_modules', '@tensorflow', 'tfjs-node');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: '@tensorflow/tfjs-node', version: '4.22.0', main: 'index.js' }));
  writeFileSync(join(pkg, 'index.js'), "throw new Error('libtensorflow.so.2: cannot open shared object file: No such file or directory\\nRequire stack: ...');\n");
});

afterAll(() => {
  rmSync(empty, { recursive: true, force: true });
  rmSync(broken, { recursive: true, force: true });
});

describe('initBackend', () => {
  it('auto picks wasm when no native package is installed, and says so', async () => {
    const info = await initBackend('auto', { nativeSearchDir: empty });
    expect(info).toMatchObject({ name: 'wasm', tfBackend: 'wasm' });
    expect(tf.getBackend()).toBe('wasm');
    expect(info.device).toMatch(/^CPU, wasm SIMD, 1 thread$/);
    expect(info.fallbacks).toEqual([
      { name: 'tensorflow-gpu', reason: 'package @tensorflow/tfjs-node-gpu is not installed' },
      { name: 'tensorflow', reason: 'package @tensorflow/tfjs-node is not installed' },
    ]);
    expect(info.note).toBe(
      'auto picked wasm; skipped tensorflow-gpu (package @tensorflow/tfjs-node-gpu is not installed); ' +
      'tensorflow (package @tensorflow/tfjs-node is not installed)');
  });

  it('auto records the first line of a native addon that fails to load', async () => {
    const info = await initBackend('auto', { nativeSearchDir: broken });
    expect(info.name).toBe('wasm');
    expect(info.fallbacks[1]).toEqual({
      name: 'tensorflow',
      reason: 'its native addon failed to load: libtensorflow.so.2: cannot open shared object file: No such file or directory',
    });
    expect(info.note).not.toContain('\n');
  });

  it('refuses an unavailable tensorflow request, saying why and how to fix it', async () => {
    const request = initBackend('tensorflow', { nativeSearchDir: empty });
    await expect(request).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(request).rejects.toThrow(
      "backend 'tensorflow' is not available: package @tensorflow/tfjs-node is not installed. Run `pxl setup native`");
    await expect(initBackend('tensorflow', { nativeSearchDir: broken })).rejects.toThrow(
      /not available: its native addon failed to load: libtensorflow\.so\.2: cannot open .*`pxl setup native`/);
  });

  it('refuses an unavailable tensorflow-gpu request', async () => {
    await expect(initBackend('tensorflow-gpu', { nativeSearchDir: empty })).rejects.toThrow(
      /backend 'tensorflow-gpu' is not available: package @tensorflow\/tfjs-node-gpu is not installed\. On a machine with an NVIDIA GPU and driver, `pxl setup native --gpu` builds it/);
  });

  it('rejects an unknown backend name', async () => {
    await expect(initBackend('webgpu' as never)).rejects.toThrow("unknown backend 'webgpu': expected auto, tensorflow-gpu, tensorflow, wasm, cpu");
  });

  it('registers the missing wasm gradient kernel', async () => {
    await initBackend('wasm');
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    const x = tf.ones([1, 4, 4, 2]) as tf.Tensor4D;
    const w = tf.ones([3, 3, 2, 1]);
    const dw = tf.grad((ws: tf.Tensor) => tf.conv2d(x, ws as tf.Tensor4D, 1, 'same').sum())(w);
    // Each filter tap sees the input pixels its offset keeps inside the 4x4 image: 9, 12 or 16 per channel.
    expect(Array.from(dw.dataSync()).sort((a, b) => a - b)).toEqual([9, 9, 9, 9, 9, 9, 9, 9, 12, 12, 12, 12, 12, 12, 12, 12, 16, 16]);
  });

  it('starts cpu on request', async () => {
    const info = await initBackend('cpu');
    expect(info).toEqual({ name: 'cpu', tfBackend: 'cpu', device: 'CPU, pure JavaScript', note: 'cpu, as requested', fallbacks: [] });
    expect(tf.getBackend()).toBe('cpu');
  });
});

describe('probeBackends', () => {
  it('reports every backend, best first, without switching the active one', async () => {
    await initBackend('cpu');
    const probes = await probeBackends({ nativeSearchDir: broken });
    expect(tf.getBackend()).toBe('cpu');
    expect(probes.map((p) => p.name)).toEqual(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']);
    const [gpu, node, wasm, cpu] = probes;
    expect(gpu).toMatchObject({ available: false, packageVersion: null, reason: 'package @tensorflow/tfjs-node-gpu is not installed (`pxl setup native --gpu` builds it)' });
    expect(node).toMatchObject({
      available: false, packageVersion: '4.22.0',
      reason: 'its native addon failed to load: libtensorflow.so.2: cannot open shared object file: No such file or directory',
    });
    expect(wasm).toMatchObject({ available: true, packageName: '@tensorflow/tfjs-backend-wasm', packageVersion: '4.22.0' });
    expect(wasm.wasm).toEqual({ simd: true, threads: true, threadCount: expect.any(Number) });
    expect(wasm.reason).toMatch(/^CPU, wasm SIMD, \d+ threads?; runs use one thread per core \(PXL_WASM_THREADS=N sets it\)$/);
    expect(cpu).toMatchObject({ available: true, packageVersion: tf.version['tfjs-backend-cpu'] });
  });

  it('formats one aligned line per backend', async () => {
    const lines = formatProbes(await probeBackends({ nativeSearchDir: empty })).split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(/^tensorflow\s+no\s+@tensorflow\/tfjs-node \(not installed\)\s+package @tensorflow\/tfjs-node is not installed$/);
    expect(lines[2]).toMatch(/^wasm\s+yes\s+@tensorflow\/tfjs-backend-wasm 4\.22\.0\s+CPU, wasm SIMD/);
    expect(new Set(lines.map((l) => l.indexOf('@tensorflow'))).size).toBe(1);
  });
});

// Last: once loaded, tfjs-node stays in the process. Outside CI only where it is installed;
// in CI, which installs it, always (test/helpers/native.ts).
describe.runIf(nodeInstalled || nativeRequired())('with the real @tensorflow/tfjs-node installed', () => {
  beforeAll(() => {
    if (!nodeInstalled) expect.fail(`@tensorflow/tfjs-node is not installed: ${nativeMissingAdvice()}`);
  });

  it('probes it in a child process', async () => {
    const [, node] = await probeBackends();
    expect(node.available ? node.reason : `unavailable: ${node.reason}`).toMatch(/^CPU, TensorFlow \d|^unavailable: its native addon failed to load: /);
  });

  it('auto takes it, or says why its addon failed', async () => {
    const info = await initBackend('auto');
    if (nativeRequired()) expect(info.name, `auto chose ${info.name}: ${nativeMissingAdvice()}`).toBe('tensorflow');
    if (info.name === 'tensorflow') expect(info.device).toMatch(/^CPU, TensorFlow \S+ native$/);
    else expect(info.fallbacks.find((f) => f.name === 'tensorflow')?.reason).toMatch(/^its native addon failed to load: /);
  });
});

describe('the environment TensorFlow loads with', () => {
  it('asks for oneDNN (dilated conv gradients on CPUs without AVX-512) and quiet start-up notices, unless the user set them', () => {
    const fresh: NodeJS.ProcessEnv = {};
    prepareTensorFlowEnv(fresh);
    expect(fresh).toEqual({ TF_CPP_MIN_LOG_LEVEL: '2', TF_ENABLE_ONEDNN_OPTS: '1' });
    const own: NodeJS.ProcessEnv = { TF_CPP_MIN_LOG_LEVEL: '0', TF_ENABLE_ONEDNN_OPTS: '0' };
    prepareTensorFlowEnv(own);
    expect(own).toEqual({ TF_CPP_MIN_LOG_LEVEL: '0', TF_ENABLE_ONEDNN_OPTS: '0' });
  });
});
