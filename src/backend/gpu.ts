// What the GPU build (`pxl setup native --gpu`) needs from the machine, and what TensorFlow
// says about the GPUs it sees: the NVIDIA driver's version, free disk space, TensorFlow's
// device log. Pure functions plus small readers, so that the checks are unit-tested here
// without a GPU; scripts/gpu-preflight.mjs runs them for the setup script.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cudaVisibility } from './native.js';
import type { GpuProbes } from './types.js';

/** The machine's own answers: /proc/driver/nvidia and nvidia-smi. */
export const REAL_GPU_PROBES: GpuProbes = { cuda: () => cudaVisibility(), driver: () => readDriver() };

/** The CUDA the pinned TensorFlow wheel (2.15.1) was built with, and the drivers that run it. */
export const CUDA = {
  version: '12.2',
  /** CUDA 12.x minor-version compatibility starts here: older drivers cannot run any CUDA 12 build. */
  minDriver: '525.60.13',
  /** The driver CUDA 12.2 ships with; below it, PTX compiled by 12.2 cannot be JIT-compiled for a newer GPU. */
  toolkitDriver: '535.54.03',
} as const;

export const DRIVER_VERSION_FILE = '/proc/driver/nvidia/version';

/**
 * The driver version in /proc/driver/nvidia/version, e.g. "NVRM version: NVIDIA UNIX x86_64
 * Kernel Module  535.104.05  Sat Aug 19 …" or "… Open Kernel Module for x86_64  550.54.14 …".
 */
export function parseDriverVersion(text: string): string | null {
  const m = /^NVRM version:.*?Kernel Module(?: for \S+)?\s+(\d+\.\d+(?:\.\d+)?)\b/m.exec(text);
  return m ? m[1]! : null;
}

/** Numeric comparison of dotted versions: negative, 0 or positive. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export interface DriverInfo {
  version: string;
  /** Where it was read: the kernel module's /proc file or nvidia-smi. */
  source: string;
}

/** The loaded NVIDIA driver's version: the kernel module's /proc file, else nvidia-smi; null if neither. */
export function readDriver(file = DRIVER_VERSION_FILE, smi: () => string | null = nvidiaSmiVersion): DriverInfo | null {
  if (existsSync(file)) {
    const version = parseDriverVersion(readFileSync(file, 'utf8'));
    if (version) return { version, source: file };
  }
  const fromSmi = smi();
  return fromSmi ? { version: fromSmi, source: 'nvidia-smi' } : null;
}

function nvidiaSmiVersion(): string | null {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=driver_version', '--format=csv,noheader'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
    return /^\s*(\d+\.\d+(?:\.\d+)?)/.exec(out)?.[1] ?? null;
  } catch {
    return null;
  }
}

/** Why this driver cannot run the GPU build (null: it can), one message saying what to do. */
export function driverProblem(driver: DriverInfo | null): string | null {
  if (driver == null) {
    return `no NVIDIA driver found (${DRIVER_VERSION_FILE} is absent and nvidia-smi is not on PATH). ` +
      `The GPU build needs the NVIDIA driver ${CUDA.minDriver} or newer (for CUDA ${CUDA.version}) and nothing else from NVIDIA: ` +
      'install the driver from your distribution or NVIDIA, then rerun.';
  }
  if (compareVersions(driver.version, CUDA.minDriver) < 0) {
    return `NVIDIA driver ${driver.version} is too old for CUDA ${CUDA.version} (TensorFlow 2.15.1's GPU build): ` +
      `it needs ${CUDA.minDriver} or newer (${CUDA.toolkitDriver} or newer recommended). Update the driver, then rerun.`;
  }
  return null;
}

/** A caveat about a driver that works but is older than CUDA 12.2's own (null: none). */
export function driverNote(driver: DriverInfo | null): string | null {
  if (driver == null || compareVersions(driver.version, CUDA.toolkitDriver) >= 0) return null;
  return `NVIDIA driver ${driver.version} runs CUDA ${CUDA.version} only through minor-version compatibility: ` +
    `GPUs newer than TensorFlow's prebuilt kernels need ${CUDA.toolkitDriver} or newer.`;
}

export interface DiskNeed {
  /** The folder that will hold the files (it may not exist yet: its nearest existing parent is measured). */
  dir: string;
  bytes: number;
  what: string;
}

export interface DiskStat {
  /** Identifies the file system, so that needs on the same one add up. */
  device: number;
  freeBytes: number;
}

/** Free space and file system of the folder, or of its nearest existing parent. */
export function statDisk(dir: string): DiskStat {
  let d = dir;
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  const fs = statfsSync(d);
  return { device: statSync(d).dev, freeBytes: fs.bavail * fs.bsize };
}

const GB = 1e9;
const gb = (n: number) => `${(n / GB).toFixed(1)} GB`;

/** Whether every need fits the free space of its file system (needs on one file system add up); null when they do. */
export function diskProblem(needs: DiskNeed[], stat: (dir: string) => DiskStat = statDisk): string | null {
  const byDevice = new Map<number, { free: number; dirs: string[]; bytes: number; what: string[] }>();
  for (const need of needs) {
    if (need.bytes <= 0) continue;
    const s = stat(need.dir);
    const entry = byDevice.get(s.device) ?? { free: s.freeBytes, dirs: [], bytes: 0, what: [] };
    entry.dirs.push(need.dir);
    entry.bytes += need.bytes;
    entry.what.push(`${need.what} ${gb(need.bytes)}`);
    byDevice.set(s.device, entry);
  }
  for (const e of byDevice.values()) {
    if (e.free < e.bytes) {
      return `not enough disk space: ${gb(e.bytes)} needed on the file system of ${e.dirs.join(' and ')} ` +
        `(${e.what.join(', ')}), ${gb(e.free)} free. Free ${gb(e.bytes - e.free)} or more, then rerun.`;
    }
  }
  return null;
}

export interface TfGpuDevice {
  /** e.g. '/job:localhost/replica:0/task:0/device:GPU:0' */
  name: string;
  /** e.g. 'device: 0, name: NVIDIA H100 80GB HBM3, pci bus id: 0000:00:04.0, compute capability: 9.0' */
  description: string;
  memoryMB: number;
}

export interface TfDeviceLog {
  devices: TfGpuDevice[];
  /** TensorFlow's own reasons for not using a GPU, in the order it logged them. */
  problems: string[];
}

// TensorFlow logs each GPU it creates (common_runtime/gpu/gpu_device.cc), since 2.5 as
//   Created device /job:localhost/replica:0/task:0/device:GPU:0 with 78911 MB memory:  -> device: 0, name: …
// and before as
//   Created TensorFlow device (/job:localhost/…/device:GPU:0 with 6776 MB memory) -> physical GPU (device: 0, name: …)
const CREATED = /Created (?:device (\S+device:GPU:\d+) with (\d+) MB memory:\s*->\s*(.+)$|TensorFlow device \((\S+device:GPU:\d+) with (\d+) MB memory\) -> physical GPU \((.+)\)\s*$)/;
// …and why it uses none (stream_executor, gpu_device.cc, dso_loader.cc).
const PROBLEMS = [
  /Could not find cuda drivers on your machine, GPU will not be used\.?/,
  /failed call to cuInit: .*/,
  /Could not load dynamic library '[^']+'; dlerror: .*/,
  /Cannot dlopen some GPU libraries\..*/,
  /Ignoring visible gpu device .*/,
  /kernel version .* does not match DSO version .*/,
];

/** The GPUs TensorFlow created and the problems it reported, from its log (stderr at TF_CPP_MIN_LOG_LEVEL=0). */
export function parseTfDeviceLog(log: string): TfDeviceLog {
  const devices: TfGpuDevice[] = [];
  const problems: string[] = [];
  for (const line of log.split('\n')) {
    const created = CREATED.exec(line);
    if (created) {
      const [name, mb, description] = created[1] ? created.slice(1, 4) : created.slice(4, 7);
      devices.push({ name: name!, memoryMB: Number(mb), description: description!.trim() });
      continue;
    }
    for (const p of PROBLEMS) {
      const m = p.exec(line);
      if (m && !problems.includes(m[0].trim())) problems.push(m[0].trim());
    }
  }
  return { devices, problems };
}

interface Stamp {
  tensorflow?: string;
  variant?: string;
  wheels?: { requirement: string }[];
}

/** How the tfjs-node-gpu in `dir` was built: from the stamp `pxl setup native --gpu` writes, or what its files show. */
export function describeGpuBuild(dir: string): string {
  const stamp = join(dir, 'deps', 'pxl-native.json');
  if (!readdirSafe(join(dir, 'lib')).some((d) => existsSync(join(dir, 'lib', d, 'tfjs_binding.node')))) {
    return 'installed without its native addon (run `pxl setup native --gpu`)';
  }
  if (existsSync(stamp)) {
    const s = JSON.parse(readFileSync(stamp, 'utf8')) as Stamp;
    const pinned = (name: string) => s.wheels?.find((w) => w.requirement.startsWith(`${name}==`))?.requirement.split('==')[1];
    const cuda = pinned('nvidia-cuda-runtime-cu12');
    const cudnn = pinned('nvidia-cudnn-cu12');
    if (s.variant === 'gpu' && cuda && cudnn) {
      return `TensorFlow ${s.tensorflow} with CUDA ${cuda} and cuDNN ${cudnn} from PyPI, inside node_modules (pxl setup native --gpu)`;
    }
    return `TensorFlow ${s.tensorflow ?? '(version unknown)'} (${s.variant ?? 'cpu'} build)`;
  }
  if (existsSync(join(dir, 'deps', 'lib', 'libtensorflow.so.2.9.1'))) {
    return 'libtensorflow 2.9.1 from its own install script (needs a system CUDA 11.2 and cuDNN 8.1)';
  }
  return 'built from unknown TensorFlow libraries';
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
