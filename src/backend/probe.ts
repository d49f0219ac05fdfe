// Reports on every backend for `pxl doctor`, loading nothing native into this process.
import * as tf from '@tensorflow/tfjs';
import { DRIVER_VERSION_FILE, REAL_GPU_PROBES, describeGpuBuild, driverProblem, parseTfDeviceLog } from './gpu.js';
import { NATIVE_PACKAGES, findNativePackage, firstLine, packageDir, probeInChild } from './native.js';
import type { BackendOptions, BackendProbe, GpuProbes, GpuReport } from './types.js';
import { WASM_PACKAGE, describeWasm, loadWasmPackage, wasmFeatures } from './wasm.js';

/** Every backend, best first: can it run here, why not, which version; loads nothing native into this process. */
export async function probeBackends(options: Pick<BackendOptions, 'nativeSearchDir' | 'gpuProbes'> = {}): Promise<BackendProbe[]> {
  const dir = options.nativeSearchDir;
  return [await probeGpu(dir, options.gpuProbes ?? REAL_GPU_PROBES), await probeCpuNative(dir), await probeWasm(), probeCpu()];
}

async function probeCpuNative(searchDir?: string): Promise<BackendProbe> {
  const pkg = findNativePackage('tensorflow', searchDir);
  const base = { name: 'tensorflow' as const, packageName: pkg?.name ?? NATIVE_PACKAGES.tensorflow, packageVersion: pkg?.version ?? null };
  if (pkg == null) return { ...base, available: false, reason: `package ${NATIVE_PACKAGES.tensorflow} is not installed` };
  const viaGpu = pkg.name !== NATIVE_PACKAGES.tensorflow;
  const probe = await probeInChild(pkg.entry, viaGpu ? { env: { CUDA_VISIBLE_DEVICES: '-1' } } : {});
  if (!probe.ok) return { ...base, available: false, reason: `its native addon failed to load: ${probe.error}` };
  const via = viaGpu ? ` (the GPU package's TensorFlow, with the GPUs hidden: ${NATIVE_PACKAGES.tensorflow} is not installed)` : '';
  return { ...base, available: true, reason: `CPU, TensorFlow ${probe.tensorflowVersion ?? '(version unknown)'}${via}` };
}

/**
 * The GPU backend: the build, the driver, and what TensorFlow itself says (its log, read from a
 * child process that loads the package even when no GPU is visible, since the reasons are in it).
 */
async function probeGpu(searchDir: string | undefined, probes: GpuProbes): Promise<BackendProbe> {
  const packageName = NATIVE_PACKAGES['tensorflow-gpu'];
  const pkg = findNativePackage('tensorflow-gpu', searchDir);
  const driver = probes.driver();
  const cuda = probes.cuda();
  const dir = pkg ? packageDir(pkg) : null;
  const gpu: GpuReport = { build: dir ? describeGpuBuild(dir) : null, driver, devices: [], notUsed: [] };
  const base = { name: 'tensorflow-gpu' as const, packageName, packageVersion: pkg?.version ?? null, gpu };
  const no = (reason: string, tfProblems: string[] = []): BackendProbe => {
    gpu.notUsed = [reason, ...tfProblems];
    return { ...base, available: false, reason };
  };
  if (pkg == null) return no(`package ${packageName} is not installed (\`pxl setup native --gpu\` builds it)`);
  const probe = await probeInChild(pkg.entry, { tfLog: true });
  const log = parseTfDeviceLog(probe.log ?? '');
  gpu.devices = log.devices;
  if (!probe.ok) return no(`its native addon failed to load: ${probe.error}`);
  if (!cuda.visible) return no(`no CUDA device visible: ${cuda.detail}`, log.problems);
  const tooOld = driverProblem(driver);
  if (tooOld) return no(tooOld.replace(/\.$/, ''), log.problems);
  if (!probe.gpu) return no('TensorFlow found no usable GPU', log.problems);
  const names = log.devices.length > 0 ? log.devices.map((d) => d.description.replace(/^device: \d+, name: /, '').split(',')[0]).join(', ') : cuda.detail;
  return { ...base, available: true, reason: `GPU: ${names} (driver ${driver?.version}), TensorFlow ${probe.tensorflowVersion ?? '(version unknown)'}` };
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

/** The GPU section of `pxl doctor`: the build, the driver, the GPUs TensorFlow sees, why none is used. */
export function formatGpuReport(report: GpuReport): string {
  const lines = [
    `  build    ${report.build ?? 'not installed (`pxl setup native --gpu` builds it)'}`,
    `  driver   ${report.driver ? `NVIDIA ${report.driver.version} (from ${report.driver.source})` : `none found (${DRIVER_VERSION_FILE} is absent, no nvidia-smi)`}`,
  ];
  if (report.devices.length === 0) lines.push('  devices  none seen by TensorFlow');
  report.devices.forEach((d, i) => lines.push(`  ${i === 0 ? 'devices ' : '        '} ${d.name}: ${d.description}, ${d.memoryMB} MB`));
  report.notUsed.forEach((why, i) => lines.push(`  ${i === 0 ? 'not used' : '        '} ${why}`));
  return lines.join('\n');
}
