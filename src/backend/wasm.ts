// The WebAssembly backend: loaded on demand, described for `pxl doctor`.
import * as tf from '@tensorflow/tfjs';

export const WASM_PACKAGE = '@tensorflow/tfjs-backend-wasm';

type WasmPackage = typeof import('@tensorflow/tfjs-backend-wasm');
let wasmPackage: WasmPackage | null = null;

/** Importing the package registers the 'wasm' backend and its kernels. */
export async function loadWasmPackage(): Promise<WasmPackage> {
  wasmPackage ??= await import('@tensorflow/tfjs-backend-wasm');
  return wasmPackage;
}

export interface WasmFeatures {
  simd: boolean;
  /** Whether threads can run here (pxl starts them itself: tfjs's own flag is always false in Node). */
  threads: boolean;
  /** Threads of the initialized module; null before the backend has started. */
  threadCount: number | null;
}

export async function wasmFeatures(): Promise<WasmFeatures> {
  const pkg = await loadWasmPackage();
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
  const threads = typeof SharedArrayBuffer === 'function';
  let threadCount: number | null = null;
  try {
    threadCount = pkg.getThreadsCount();
  } catch {
    // getThreadsCount throws until the backend has been initialized.
  }
  return { simd, threads, threadCount };
}

export function describeWasm(features: WasmFeatures): string {
  const n = features.threadCount ?? 1;
  return `CPU, wasm ${features.simd ? 'SIMD' : 'without SIMD'}, ${n} thread${n === 1 ? '' : 's'}`;
}
