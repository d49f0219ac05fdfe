// When `backend: auto` warns about the backend it picked: only for a slow fallback.
import { describe, expect, it } from 'vitest';
import type { BackendInfo, BackendName } from '../../src/backend/types.js';
import { loadExperiment } from '../../src/config/load.js';
import { backendWarning } from '../../src/app/run.js';
import { ROOT } from '../helpers/cli.js';

const experiment = (backend: string) => loadExperiment(`${ROOT}/experiments/mnist-quick.yaml`, [`backend=${backend}`]).experiment;
const gpuMissing = { name: 'tensorflow-gpu' as const, reason: 'package @tensorflow/tfjs-node-gpu is not installed' };
const nativeMissing = { name: 'tensorflow' as const, reason: 'package @tensorflow/tfjs-node is not installed' };
const picked = (name: BackendName, fallbacks: BackendInfo['fallbacks']): BackendInfo => ({
  name, tfBackend: name, device: 'CPU', fallbacks, note: `auto picked ${name}; skipped ${fallbacks.map((f) => f.name).join(', ')}`,
});

describe('backendWarning', () => {
  it('is silent when auto found native TensorFlow on a machine without a GPU', () => {
    expect(backendWarning(experiment('auto'), picked('tensorflow', [gpuMissing]))).toEqual([]);
  });

  it('says why auto fell back to wasm and how to get the native backend', () => {
    const [w] = backendWarning(experiment('auto'), picked('wasm', [gpuMissing, nativeMissing]));
    expect(w).toContain('auto picked wasm; skipped tensorflow-gpu, tensorflow');
    expect(w).toContain('`pxl setup native`');
  });

  it('is silent when the backend was asked for by name', () => {
    expect(backendWarning(experiment('wasm'), picked('wasm', []))).toEqual([]);
  });
});
