// Picks and starts the compute backend, with what fell back and why.
import * as tf from '@tensorflow/tfjs';
import { availableParallelism } from 'node:os';
import { installKernels } from './kernels.js';
import { REAL_GPU_PROBES, driverProblem } from './gpu.js';
import { NATIVE_PACKAGES, type NativeName, findNativePackage, firstLine, importEntry } from './native.js';
import {
  BACKEND_ORDER, type BackendFallback, type BackendInfo, type BackendName, type BackendOptions, type BackendRequest,
  BackendUnavailableError, type GpuProbes,
} from './types.js';
import { WASM_PACKAGE, describeWasm, loadWasmPackage, wasmFeatures } from './wasm.js';
import { threadedStartError, useStockWasm, useThreadedWasm } from './wasm-threads.js';

const FIX: Record<BackendName, string> = {
  'tensorflow-gpu':
    'On a machine with an NVIDIA GPU and driver, `pxl setup native --gpu` builds it (CUDA comes with it); otherwise use backend auto, tensorflow or wasm.',
  tensorflow: 'Run `pxl setup native` to build @tensorflow/tfjs-node against a local TensorFlow, or use backend auto or wasm.',
  wasm: 'Reinstall the dependencies (`npm ci`), or use backend cpu (very slow).',
  cpu: 'Reinstall the dependencies (`npm ci`).',
};

// Both native packages register the same 'tensorflow' backend: only one may load per process.
let nativeLoaded: string | null = null;
// Threads of the wasm backend this module started (null: not started by us).
let wasmThreads: number | null = null;

/** A started backend: its device, and anything worth adding to the note. */
interface Started {
  device: string;
  remark?: string;
}

/**
 * Starts a backend and registers the project's kernels for it. 'auto' takes the
 * first that works of tensorflow-gpu, tensorflow, wasm, cpu and records why it
 * skipped the others; an explicit request that cannot run throws a
 * BackendUnavailableError saying why and how to fix it.
 */
export async function initBackend(request: BackendRequest, options: BackendOptions = {}): Promise<BackendInfo> {
  if (request !== 'auto' && !BACKEND_ORDER.includes(request)) {
    throw new Error(`unknown backend '${String(request)}': expected auto, ${BACKEND_ORDER.join(', ')}`);
  }
  if (request !== 'auto') return info(request, await activate(request, options), `${request}, as requested`, []);
  const fallbacks: BackendFallback[] = [];
  for (const name of BACKEND_ORDER) {
    try {
      return info(name, await activate(name, options), autoNote(name, fallbacks), fallbacks);
    } catch (err) {
      if (!(err instanceof BackendUnavailableError)) throw err;
      fallbacks.push({ name, reason: err.reason });
    }
  }
  throw new Error(`no backend could start: ${fallbacks.map((f) => `${f.name}: ${f.reason}`).join('; ')}`);
}

function info(name: BackendName, started: Started, note: string, fallbacks: BackendFallback[]): BackendInfo {
  const fullNote = started.remark ? `${note}; ${started.remark}` : note;
  return { name, tfBackend: tf.getBackend(), device: started.device, note: fullNote, fallbacks };
}

function autoNote(name: BackendName, fallbacks: BackendFallback[]): string {
  const skipped = fallbacks.map((f) => `${f.name} (${f.reason})`).join('; ');
  const slow = name === 'cpu' ? '; cpu is far too slow to train anything but toy models' : '';
  return fallbacks.length === 0 ? `auto picked ${name}, the best backend${slow}` : `auto picked ${name}; skipped ${skipped}${slow}`;
}

/** Makes `name` the active backend. */
async function activate(name: BackendName, options: BackendOptions): Promise<Started> {
  switch (name) {
    case 'tensorflow-gpu':
    case 'tensorflow':
      return { device: await activateNative(name, options.nativeSearchDir, options.gpuProbes ?? REAL_GPU_PROBES) };
    case 'wasm':
      return activateWasm(requestedThreads(options));
    case 'cpu':
      return { device: await activateCpu() };
  }
}

function requestedThreads(options: BackendOptions): number {
  const wanted = options.wasmThreads ?? 1;
  if (wanted === 'auto') return availableParallelism();
  if (!Number.isInteger(wanted) || wanted < 1) throw new Error(`wasmThreads must be a positive integer or 'auto', got ${wanted}`);
  return wanted;
}

async function activateNative(name: NativeName, searchDir: string | undefined, probes: GpuProbes): Promise<string> {
  const unavailable = (reason: string) => new BackendUnavailableError(name, reason, FIX[name]);
  // The CPU backend may run on the GPU package: TensorFlow's CUDA build computes on the CPU when it has no GPU.
  const pkg = findNativePackage(name, searchDir);
  if (pkg == null) throw unavailable(`package ${NATIVE_PACKAGES[name]} is not installed`);
  const packageName = pkg.name;
  let gpu = '';
  if (name === 'tensorflow-gpu') {
    const cuda = probes.cuda();
    if (!cuda.visible) throw unavailable(`no CUDA device visible: ${cuda.detail}`);
    const driver = probes.driver();
    const tooOld = driverProblem(driver);
    if (tooOld) throw unavailable(tooOld.replace(/\.$/, ''));
    if (nativeLoaded != null && nativeLoaded !== packageName) throw unavailable(`${nativeLoaded} is already loaded in this process; start a new one`);
    gpu = `GPU: ${cuda.detail} (driver ${driver!.version})`;
  }
  if (nativeLoaded == null) {
    // backend 'tensorflow' means the CPU, also when the GPU package serves it: hide the GPUs from TensorFlow.
    if (name === 'tensorflow' && packageName !== NATIVE_PACKAGES.tensorflow) process.env.CUDA_VISIBLE_DEVICES = '-1';
    const error = await importEntry(pkg.entry);
    if (error != null) throw unavailable(`its native addon failed to load: ${error}`);
    nativeLoaded = packageName;
  }
  if (tf.findBackendFactory('tensorflow') == null) {
    throw unavailable(`${nativeLoaded} ${pkg.version} registered no 'tensorflow' backend on @tensorflow/tfjs ${tf.version.tfjs}`);
  }
  if (!(await tf.setBackend('tensorflow'))) throw unavailable(`its 'tensorflow' backend failed to initialize`);
  const backend = tf.backend() as { isUsingGpuDevice?: boolean; binding?: { TF_Version?: string } };
  const tensorflow = `TensorFlow ${backend.binding?.TF_Version ?? '(version unknown)'}`;
  if (name === 'tensorflow-gpu') {
    if (backend.isUsingGpuDevice !== true) throw unavailable('TensorFlow found no usable GPU (`pxl doctor` shows the reasons it gives)');
    return `${gpu}, ${tensorflow}`;
  }
  return `CPU, ${tensorflow} native${nativeLoaded === NATIVE_PACKAGES.tensorflow ? '' : ` (via ${nativeLoaded})`}`;
}

async function activateWasm(threads: number): Promise<Started> {
  const unavailable = (reason: string) => new BackendUnavailableError('wasm', reason, FIX.wasm);
  try {
    await loadWasmPackage();
  } catch (err) {
    throw unavailable(`package ${WASM_PACKAGE} failed to load: ${firstLine(err)}`);
  }
  const remark = await startWasm(threads);
  if (wasmThreads == null) throw unavailable('its WebAssembly module failed to initialize (see the warning above)');
  installKernels('wasm');
  return { device: describeWasm(await wasmFeatures()), remark };
}

/** Starts wasm with `threads` threads, or one when that fails; says what fell back. */
async function startWasm(threads: number): Promise<string | undefined> {
  if (threads === wasmThreads && (await tf.setBackend('wasm'))) return undefined;
  let remark: string | undefined;
  if (threads > 1) {
    await useThreadedWasm(threads);
    wasmThreads = (await tf.setBackend('wasm')) ? threads : null;
    if (wasmThreads != null) return undefined;
    remark = `${threads} wasm threads failed to start (${threadedStartError() ?? 'unknown error'}), running 1`;
  }
  useStockWasm();
  wasmThreads = (await tf.setBackend('wasm')) ? 1 : null;
  return remark;
}

async function activateCpu(): Promise<string> {
  if (!(await tf.setBackend('cpu'))) throw new BackendUnavailableError('cpu', 'the pure-JavaScript backend failed to initialize', FIX.cpu);
  installKernels('cpu');
  return 'CPU, pure JavaScript';
}
