// Public types of the compute-backend layer.
import type { DriverInfo, TfGpuDevice } from './gpu.js';
import type { CudaVisibility } from './native.js';

/** What pxl reads about the machine's GPUs; replaceable so that tests can stand in for a GPU machine. */
export interface GpuProbes {
  cuda: () => CudaVisibility;
  driver: () => DriverInfo | null;
}

/** The project's names for the compute backends, best first. */
export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
export type BackendRequest = BackendName | 'auto';

export interface BackendOptions {
  /** Threads for the wasm backend: a count, or 'auto' for one per logical core. Default 1. */
  wasmThreads?: number | 'auto';
  /** Directory from which the native TensorFlow packages are resolved; default: this project's. */
  nativeSearchDir?: string;
  /** Default: the real /proc/driver/nvidia files and nvidia-smi. */
  gpuProbes?: GpuProbes;
}

export const BACKEND_ORDER: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

export interface BackendFallback {
  name: BackendName;
  reason: string;
}

export interface BackendInfo {
  name: BackendName;
  /** tf.getBackend() after selection, e.g. 'tensorflow' for both native packages. */
  tfBackend: string;
  /** Human readable, e.g. 'CPU, wasm SIMD, 1 thread'. */
  device: string;
  /** One line: why this one, what fell back. */
  note: string;
  /** The better backends that 'auto' skipped, in order, with why. */
  fallbacks: BackendFallback[];
}

export interface BackendProbe {
  name: BackendName;
  available: boolean;
  /** Why it is unavailable, or what it would run on. */
  reason: string;
  packageName: string;
  /** Installed version of packageName; null when not installed. */
  packageVersion: string | null;
  /** Only for wasm. */
  wasm?: { simd: boolean; threads: boolean; threadCount: number | null };
  /** Only for tensorflow-gpu. */
  gpu?: GpuReport;
}

/** What `pxl doctor` says about the GPU build. */
export interface GpuReport {
  /** How the installed @tensorflow/tfjs-node-gpu was built, e.g. 'TensorFlow 2.15.1 with CUDA 12.2, cuDNN 8.9 (pxl setup native --gpu)'; null when not installed. */
  build: string | null;
  /** The NVIDIA driver's version and where it was read; null when there is none. */
  driver: DriverInfo | null;
  /** The GPUs TensorFlow created (empty when it was not loaded or found none). */
  devices: TfGpuDevice[];
  /** Why no GPU is used: pxl's reason first, then TensorFlow's own messages. Empty when one is. */
  notUsed: string[];
}

/** An explicitly requested backend that cannot run here: says why and how to fix it. */
export class BackendUnavailableError extends Error {
  constructor(
    readonly backend: BackendName,
    readonly reason: string,
    readonly fix: string,
  ) {
    super(`backend '${backend}' is not available: ${reason}. ${fix}`);
    this.name = 'BackendUnavailableError';
  }
}
