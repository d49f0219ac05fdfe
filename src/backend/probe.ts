// Reports on every backend for `pxl doctor`, loading nothing native into this process.
import * as tf from '@tensorflow/tfjs';
import { NATIVE_PACKAGES, type NativeName, cudaVisibility, findPackage, firstLine, probeInChild } from './native.js';
import type { BackendOptions, BackendProbe } from './types.js';
import { WASM_PACKAGE, describeWasm, loadWasmPackage, wasmFeatures } from './wasm.js';

/** Every backend, best first: can it run here, why not, which version; loads nothing native into this process. */
export async function probeBackends(options: Pick<BackendOptions, 'nativeSearchDir'> = {}): Promise<BackendProbe[]> {
  const dir = options.nativeSearchDir;
  return [await probeNative('tensorflow-gpu', dir), await probeNative('tensorflow', dir), await probeWasm(), probeCpu()];
}

async function probeNative(name: NativeName, searchDir?: string): Promise<BackendProbe> {
  const packageName = NATIVE_PACKAGES[name];
  const pkg = findPackage(packageName, searchDir);
  const base = { name, packageName, packageVersion: pkg?.version ?? null };
  const no = (reason: string): BackendProbe => ({ ...base, available: false, reason });
  if (pkg == null) return no(`package ${packageName} is not installed`);
  const cuda = cudaVisibility();
  if (name === 'tensorflow-gpu' && !cuda.visible) return no(`no CUDA device visible: ${cuda.detail}`);
  const probe = await probeInChild(pkg.entry);
  if (!probe.ok) return no(`its native addon failed to load: ${probe.error}`);
  if (name === 'tensorflow-gpu' && !probe.gpu) return no('TensorFlow found no usable GPU (CUDA or cuDNN libraries missing or mismatched?)');
  const device = probe.gpu ? `GPU (${cuda.detail})` : 'CPU';
  return { ...base, available: true, reason: `${device}, TensorFlow ${probe.tensorflowVersion ?? '(version unknown)'}` };
}

async function probeWasm(): Promise<BackendProbe> {
  const base = { name: 'wasm' as const, packageName: WASM_PACKAGE, packageVersion: null };
  let pkg;
  try {
    pkg = await loadWasmPackage();
  } catch (err) {
    return { ...base, available: false, reason: `package ${WASM_PACKAGE} failed to load: ${firstLine(err)}` };
  }
  const previous = tf.engine().backendName;
  const started = await tf.setBackend('wasm');
  const features = await wasmFeatures();
  if (previous != null && previous !== 'wasm') await tf.setBackend(previous);
  const threads = features.threads ? '; runs use one thread per core (PXL_WASM_THREADS=N sets it)' : '; no SharedArrayBuffer, so no threads';
  return {
    ...base,
    packageVersion: pkg.version_wasm,
    available: started,
    reason: started ? `${describeWasm(features)}${threads}` : 'its WebAssembly module failed to initialize',
    wasm: features,
  };
}

function probeCpu(): BackendProbe {
  return {
    name: 'cpu',
    available: true,
    reason: 'pure JavaScript: fine for tests, far too slow to train',
    packageName: '@tensorflow/tfjs-backend-cpu',
    packageVersion: tf.version['tfjs-backend-cpu'] ?? null,
  };
}

/** The probes as aligned text lines, for `pxl doctor`. */
export function formatProbes(probes: BackendProbe[]): string {
  const rows = probes.map((p) => [
    p.name,
    p.available ? 'yes' : 'no',
    `${p.packageName} ${p.packageVersion ?? '(not installed)'}`,
    p.reason,
  ]);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]) : cell)).join('  ')).join('\n');
}
