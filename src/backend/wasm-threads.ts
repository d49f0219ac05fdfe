// Multithreaded wasm in Node. tfjs-backend-wasm 4.22 keeps threads off there
// (tfjs issue 3830) for three reasons, each worked around here:
//  1. its WASM_HAS_MULTITHREAD_SUPPORT flag is hard-coded false under Node:
//     we build the threaded module ourselves and wrap it in the BackendWasm
//     class the package exports, so the flag is never consulted;
//  2. it hands emscripten the pthread worker as a blob: URL, which
//     worker_threads cannot load: we write the worker script the package ships
//     (as a string) to a file and point emscripten at it;
//  3. its C++ caps the pool at logical cores / 2: the module's core-count
//     import reports twice the threads asked for.
// Also, emscripten keeps node alive while its pool threads run, so their
// workers are unref'd; and the threaded build's heap is a growable SharedArrayBuffer whose views
// emscripten refreshes lazily, while BackendWasm reads module.HEAPU8 directly:
// HEAPU8 becomes a getter that always views the current buffer.
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadWasmPackage } from './wasm.js';

const BUILD = 'tfjs-backend-wasm-threaded-simd';
const START_TIMEOUT_MS = 60_000;

interface NodeWorker {
  unref(): void;
}

interface EmscriptenModule {
  PThread: { runningWorkers: NodeWorker[]; unusedWorkers: NodeWorker[] };
  cwrap: (name: string, returnType: string | null, argTypes: string[]) => unknown;
  wasmMemory: { buffer: ArrayBufferLike };
  HEAPU8: Uint8Array;
  tfjs?: unknown;
}
type ModuleFactory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;
type BackendFactory = () => tf.KernelBackend | Promise<tf.KernelBackend>;

let stockFactory: BackendFactory | null = null;
let lastStartError: string | null = null;

/** Why a threaded start failed, if the last one did. */
export function threadedStartError(): string | null {
  return lastStartError;
}

/**
 * Replaces the 'wasm' backend factory with a threaded one. Call before the
 * wasm backend starts; tf.setBackend('wasm') then starts it.
 */
export async function useThreadedWasm(threads: number): Promise<void> {
  const pkg = await loadWasmPackage();
  stockFactory ??= tf.findBackendFactory('wasm');
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', async () => {
    try {
      const module = await startModule(threads);
      pkg.setThreadsCount(threads);
      const backend = new pkg.BackendWasm(module as never); // starts the thread pool
      unrefWorkers(module);
      return backend;
    } catch (err) {
      lastStartError = err instanceof Error ? err.message : String(err);
      throw err;
    }
  }, 2);
  lastStartError = null;
}

/** Puts the package's own single-threaded factory back (disposing a running wasm backend). */
export function useStockWasm(): void {
  if (stockFactory == null) return;
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', stockFactory, 2);
  stockFactory = null;
}

function wasmOut(): string {
  return dirname(createRequire(import.meta.url).resolve(`@tensorflow/tfjs-backend-wasm/wasm-out/${BUILD}.js`));
}

async function startModule(threads: number): Promise<EmscriptenModule> {
  const out = wasmOut();
  const factory = createRequire(import.meta.url)(join(out, `${BUILD}.js`)) as ModuleFactory;
  const workerFile = writeWorkerScript(out);
  let timer: NodeJS.Timeout | undefined;
  const module = await new Promise<EmscriptenModule>((resolve, reject) => {
    // Emscripten reports some failures (a worker that cannot load) only by never resolving.
    timer = setTimeout(() => reject(new Error(`threaded wasm did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    timer.unref();
    factory({
      locateFile: (path: string) => (path.endsWith('.worker.js') ? workerFile : join(out, path)),
      mainScriptUrlOrBlob: join(out, `${BUILD}.js`), // what each worker evaluates
      instantiateWasm: instantiateWithCores(join(out, `${BUILD}.wasm`), 2 * threads, reject),
      onAbort: (what: unknown) => reject(new Error(`threaded wasm aborted: ${String(what)}`)),
    }).then(resolve, reject);
  }).finally(() => clearTimeout(timer));
  return withTfjsApi(withLiveHeap(module));
}

/** The package ships the worker as a JS string whose '\n' escapes became newlines: restore them. */
function writeWorkerScript(out: string): string {
  const { wasmWorkerContents } = createRequire(import.meta.url)(join(out, `${BUILD}.worker.js`)) as { wasmWorkerContents: string };
  const source = wasmWorkerContents.replace(/\n/g, '\\n');
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const file = join(tmpdir(), `pxl-${BUILD}-worker-${hash}.cjs`);
  if (!existsSync(file) || readFileSync(file, 'utf8') !== source) {
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, source);
    renameSync(partial, file); // atomic: concurrent processes never see half a file
  }
  return file;
}

// Node's WebAssembly global, typed just as far as used here (the project's lib has no DOM types).
interface WasmApi {
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: unknown; module: unknown }>;
}
const webAssembly = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

function instantiateWithCores(wasmFile: string, cores: number, fail: (err: unknown) => void) {
  return (info: { env: Record<string, unknown> }, receive: (instance: unknown, module: unknown) => void) => {
    info.env.emscripten_num_logical_cores = () => cores;
    webAssembly.instantiate(readFileSync(wasmFile), info).then((r) => receive(r.instance, r.module), fail);
    return {};
  };
}

// Emscripten refs the worker of every running pthread, and the pool's threads
// run for good: without this, node would never exit.
function unrefWorkers(module: EmscriptenModule): void {
  for (const worker of [...module.PThread.runningWorkers, ...module.PThread.unusedWorkers]) worker.unref();
}

function withLiveHeap(module: EmscriptenModule): EmscriptenModule {
  let view = new Uint8Array(module.wasmMemory.buffer);
  Object.defineProperty(module, 'HEAPU8', {
    configurable: true,
    get: () => (view.buffer === module.wasmMemory.buffer ? view : (view = new Uint8Array(module.wasmMemory.buffer))),
    set: (v: Uint8Array) => { view = v; },
  });
  return module;
}

// The same API object the package's own init() attaches.
function withTfjsApi(module: EmscriptenModule): EmscriptenModule {
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  return module;
}
