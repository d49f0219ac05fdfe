// The optional native TensorFlow packages: found without loading them, loaded
// lazily by path (so the project builds and type-checks without them), probed
// in a child process (a broken native addon can take its process down).
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const NATIVE_PACKAGES = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
} as const;
export type NativeName = keyof typeof NATIVE_PACKAGES;

export interface InstalledPackage {
  name: string;
  version: string;
  /** The package's resolved entry file. */
  entry: string;
}

/** Resolves a package as seen from directory `fromDir` (default: this module's), without loading it. */
export function findPackage(name: string, fromDir?: string): InstalledPackage | null {
  let entry: string;
  try {
    entry = createRequire(fromDir == null ? import.meta.url : join(fromDir, 'noop.js')).resolve(name);
  } catch {
    return null;
  }
  return { name, entry, version: packageVersionNear(entry, name) ?? 'unknown' };
}

/**
 * The package that serves backend `name`: its own, or for 'tensorflow' (CPU) the GPU package
 * when the CPU one is absent, since TensorFlow's CUDA build runs on the CPU when it finds no GPU.
 */
export function findNativePackage(name: NativeName, fromDir?: string): InstalledPackage | null {
  const own = findPackage(NATIVE_PACKAGES[name], fromDir);
  return own ?? (name === 'tensorflow' ? findPackage(NATIVE_PACKAGES['tensorflow-gpu'], fromDir) : null);
}

function packageVersionNear(entry: string, name: string): string | null {
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === name) return pkg.version ?? null;
  }
  return null;
}

export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n').find((line) => line.trim() !== '')?.trim() ?? 'unknown error';
}

/**
 * The environment TensorFlow reads when it loads, set before the first import of tfjs-node.
 * Its C++ start-up notices (CPU instruction sets, oneDNN) would land in the middle of pxl's
 * output; warnings and errors still show. TensorFlow turns its oneDNN kernels on by itself only
 * on CPUs with AVX-512 (VNNI and up); without them its plain CPU kernels refuse the input
 * gradient of a dilated conv ("do not yet support dilation rates larger than 1"), which gated
 * models with dilations need. oneDNN runs on any x86-64 CPU, so pxl asks for it everywhere.
 * A user's own settings win.
 */
export function prepareTensorFlowEnv(env: NodeJS.ProcessEnv = process.env): void {
  env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  env.TF_ENABLE_ONEDNN_OPTS ??= '1';
}

/** Imports a package's entry in this process; null on success, else the error's first line. */
export async function importEntry(entry: string): Promise<string | null> {
  prepareTensorFlowEnv();
  try {
    await import(pathToFileURL(entry).href);
    return null;
  } catch (err) {
    return firstLine(err);
  }
}

export interface CudaVisibility {
  visible: boolean;
  /** The GPU models, or why none is visible. */
  detail: string;
}

/** Whether the NVIDIA driver exposes a device to this process (checked before loading tfjs-node-gpu). */
export function cudaVisibility(env: NodeJS.ProcessEnv = process.env, procDir = '/proc/driver/nvidia/gpus'): CudaVisibility {
  const mask = env.CUDA_VISIBLE_DEVICES?.trim();
  if (mask === '' || mask === '-1') return { visible: false, detail: `CUDA_VISIBLE_DEVICES='${mask}' hides every device` };
  const gpus = existsSync(procDir) ? readdirSync(procDir) : [];
  if (gpus.length === 0) return { visible: false, detail: `no NVIDIA driver or GPU (${procDir} is empty or absent)` };
  const models = gpus.map((bus) => gpuModel(join(procDir, bus, 'information')) ?? `GPU ${bus}`);
  return { visible: true, detail: models.join(', ') };
}

function gpuModel(informationFile: string): string | null {
  try {
    const line = readFileSync(informationFile, 'utf8').split('\n').find((l) => l.startsWith('Model:'));
    return line ? line.slice('Model:'.length).trim() : null;
  } catch {
    return null;
  }
}

export interface NativeProbe {
  ok: boolean;
  /** TensorFlow's log (the child's stderr), when asked for. */
  log?: string;
  /** The failure's first line when not ok. */
  error?: string;
  /** Whether TensorFlow placed ops on a GPU. */
  gpu?: boolean;
  tensorflowVersion?: string;
}

// Runs in a child: load the package, switch to its backend, report on one line.
const PROBE_SCRIPT = `
const say = (o) => console.log('PXL_PROBE ' + JSON.stringify(o));
const first = (e) => String((e && e.message) || e).split('\\n').find((l) => l.trim()) || 'unknown error';
try {
  const mod = await import(process.argv[1]);
  const tf = mod.default ?? mod;
  if (!(await tf.setBackend('tensorflow'))) throw new Error("its 'tensorflow' backend did not initialize");
  tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(1)).dataSync());
  const b = tf.backend();
  say({ ok: true, gpu: b.isUsingGpuDevice === true, tensorflowVersion: b.binding?.TF_Version });
} catch (e) { say({ ok: false, error: first(e) }); }
`;

export interface ProbeOptions {
  timeoutMs?: number;
  /** Return TensorFlow's whole log (TF_CPP_MIN_LOG_LEVEL=0): which GPUs it created, why it did not. */
  tfLog?: boolean;
  /** Extra environment for the child, e.g. CUDA_VISIBLE_DEVICES. */
  env?: Record<string, string>;
}

/** Loads a native package in a throwaway node process and reports whether it works. */
export function probeInChild(entry: string, options: ProbeOptions = {}): Promise<NativeProbe> {
  const args = ['--input-type=module', '-e', PROBE_SCRIPT, pathToFileURL(entry).href];
  const env = { ...process.env, ...options.env, ...(options.tfLog ? { TF_CPP_MIN_LOG_LEVEL: '0' } : {}) };
  return new Promise((resolve) => {
    execFile(process.execPath, args, { timeout: options.timeoutMs ?? 120_000, maxBuffer: 16 << 20, env }, (err, stdout, stderr) => {
      const log = options.tfLog ? { log: stderr } : {};
      const line = stdout.split('\n').reverse().find((l) => l.startsWith('PXL_PROBE '));
      if (line) return resolve({ ...(JSON.parse(line.slice('PXL_PROBE '.length)) as NativeProbe), ...log });
      const why = err?.signal ? `the process died (${err.signal})` : firstLine(stderr || err || 'no output');
      resolve({ ok: false, error: why, ...log });
    });
  });
}

/** The folder of the installed package whose entry this is (the one with its package.json). */
export function packageDir(pkg: InstalledPackage): string | null {
  for (let dir = dirname(pkg.entry); dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === pkg.name) return dir;
  }
  return null;
}
