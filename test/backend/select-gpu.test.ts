// Backend choice on a stand-in GPU machine: a fake @tensorflow/tfjs-node-gpu (a cpu backend
// registered as 'tensorflow' that says whether it found a GPU) and mocked driver probes.
// Its own file: the fake stays registered as 'tensorflow' for the rest of the process.
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BackendUnavailableError, type GpuProbes, initBackend } from '../../src/backend/index.js';
import { tempDir } from '../helpers/tmp.js';

const fake = globalThis as { pxlFakeGpuFound?: boolean };
let gpuOnly: string; // node_modules with the (fake) GPU package and no tfjs-node

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  gpuOnly = tempDir();
  const pkg = join(gpuOnly, 'node_modules', '@tensorflow', 'tfjs-node-gpu');
  mkdirSync(pkg, { recursive: true });
  const tfjs = pathToFileURL(createRequire(import.meta.url).resolve('@tensorflow/tfjs')).href;
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: '@tensorflow/tfjs-node-gpu', version: '4.22.0', main: 'index.mjs' }));
  writeFileSync(join(pkg, 'index.mjs'), [
    `import tf from '${tfjs}';`,
    "const cpu = tf.findBackendFactory('cpu');",
    // Like TensorFlow: it sees a GPU unless CUDA_VISIBLE_DEVICES=-1 hides them all.
    "tf.registerBackend('tensorflow', () => Object.defineProperties(cpu(), {",
    "  isUsingGpuDevice: { get: () => globalThis.pxlFakeGpuFound === true && process.env.CUDA_VISIBLE_DEVICES !== '-1' },",
    "  binding: { value: { TF_Version: '2.15.1' } },",
    '}));',
  ].join('\n'));
});

afterEach(() => {
  delete process.env.CUDA_VISIBLE_DEVICES;
});

const H200 = 'NVIDIA H200';
const probes = (visible: boolean, driver: string | null): GpuProbes => ({
  cuda: () => (visible ? { visible: true, detail: H200 } : { visible: false, detail: 'no NVIDIA driver or GPU (/proc/driver/nvidia/gpus is empty or absent)' }),
  driver: () => (driver ? { version: driver, source: '/proc/driver/nvidia/version' } : null),
});

describe('backend auto with the GPU build installed', () => {
  // First: the GPU package is not loaded yet, so backend tensorflow loads it with the GPUs hidden.
  it('without a visible device runs the CPU native backend on the GPU package, with the GPUs hidden', async () => {
    fake.pxlFakeGpuFound = true;
    const info = await initBackend('auto', { nativeSearchDir: gpuOnly, gpuProbes: probes(false, null) });
    expect(info.name).toBe('tensorflow');
    expect(info.device).toBe('CPU, TensorFlow 2.15.1 native (via @tensorflow/tfjs-node-gpu)');
    expect(info.fallbacks).toEqual([
      { name: 'tensorflow-gpu', reason: 'no CUDA device visible: no NVIDIA driver or GPU (/proc/driver/nvidia/gpus is empty or absent)' },
    ]);
    expect(process.env.CUDA_VISIBLE_DEVICES).toBe('-1');
  });

  it('picks tensorflow-gpu when a device is visible and TensorFlow uses it, naming GPU and driver', async () => {
    fake.pxlFakeGpuFound = true;
    const info = await initBackend('auto', { nativeSearchDir: gpuOnly, gpuProbes: probes(true, '550.54.15') });
    expect(info).toMatchObject({ name: 'tensorflow-gpu', tfBackend: 'tensorflow', fallbacks: [] });
    expect(info.device).toBe('GPU: NVIDIA H200 (driver 550.54.15), TensorFlow 2.15.1');
    expect(info.note).toBe('auto picked tensorflow-gpu, the best backend');
  });

  it('skips the GPU when the driver is too old for CUDA 12.2, saying so', async () => {
    fake.pxlFakeGpuFound = true;
    const info = await initBackend('auto', { nativeSearchDir: gpuOnly, gpuProbes: probes(true, '470.82.01') });
    expect(info.name).toBe('tensorflow');
    expect(info.fallbacks[0]!.reason).toBe(
      "NVIDIA driver 470.82.01 is too old for CUDA 12.2 (TensorFlow 2.15.1's GPU build): it needs 525.60.13 or newer (535.54.03 or newer recommended). Update the driver, then rerun");
  });

  it('skips the GPU when TensorFlow finds none it can use', async () => {
    fake.pxlFakeGpuFound = false;
    const info = await initBackend('auto', { nativeSearchDir: gpuOnly, gpuProbes: probes(true, '550.54.15') });
    expect(info.name).toBe('tensorflow');
    expect(info.fallbacks[0]).toEqual({ name: 'tensorflow-gpu', reason: 'TensorFlow found no usable GPU (`pxl doctor` shows the reasons it gives)' });
  });

  it('refuses a tensorflow-gpu request without a device, pointing at the setup', async () => {
    const request = initBackend('tensorflow-gpu', { nativeSearchDir: gpuOnly, gpuProbes: probes(false, null) });
    await expect(request).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(request).rejects.toThrow(/^backend 'tensorflow-gpu' is not available: no CUDA device visible: .*`pxl setup native --gpu` builds it/);
  });
});
