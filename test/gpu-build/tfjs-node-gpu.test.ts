// The GPU build that `pxl setup native --gpu` makes (run by `npm run test:gpu-build`, which
// builds it first; not part of `npm test`: 2.4 GB of downloads). On a machine without a GPU,
// as the project's: the addon loads, TensorFlow's CUDA build computes on the CPU (it does so
// by design when it finds no device) and matches the cpu backend on the ops of a training step
// and on a whole PixelCNN step; the CUDA libraries it opens are the bundled ones, checked with
// the dynamic loader itself (LD_DEBUG=libs) rather than by reading paths. On a GPU machine the
// same tests check that TensorFlow placed its ops on the GPU instead.
import * as tf from '@tensorflow/tfjs';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cudaVisibility } from '../../src/backend/native.js';
import { crossEntropyMean } from '../../src/model/loss.js';
import { PixelCNN } from '../../src/model/pixelcnn.js';
import { installKernels } from '../../src/backend/kernels.js';
import { OP_CASES, TOL, compare } from '../backend/native-cases.js';
import { pxl, ROOT } from '../helpers/cli.js';
import { smallModel } from '../helpers/models.js';
import { tempDir } from '../helpers/tmp.js';

const PKG = join(ROOT, 'node_modules/@tensorflow/tfjs-node-gpu');
const DEPS = join(PKG, 'deps');
const GPU_VISIBLE = cudaVisibility().visible;

interface TfjsNodeGpu {
  engine: () => unknown;
}
let tfn: TfjsNodeGpu | null = null;
let loadError = '';

beforeAll(async () => {
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  process.env.NVIDIA_TF32_OVERRIDE ??= '0'; // float32, not TF32, on Ampere and newer GPUs
  const name = '@tensorflow/tfjs-node-gpu'; // not a literal: the package may be absent
  try {
    tfn = (await import(/* @vite-ignore */ name)) as TfjsNodeGpu;
  } catch (err) {
    loadError = String((err as Error)?.message ?? err).split('\n')[0] ?? 'unknown error';
  }
  tf.env().set('PROD', true);
  installKernels('cpu');
});

const needAddon = () => {
  if (!tfn) expect.fail(`@tensorflow/tfjs-node-gpu does not load: ${loadError} (run \`npm run test:gpu-build\`, which builds it)`);
};

describe('the GPU build against the cpu backend', () => {
  it('loads, registers backend "tensorflow" on the shared engine, and uses a GPU exactly when one is visible', async () => {
    needAddon();
    expect(tfn!.engine()).toBe(tf.engine());
    expect(await tf.setBackend('tensorflow')).toBe(true);
    const backend = tf.backend() as unknown as { isUsingGpuDevice: boolean; binding: { TF_Version: string } };
    expect(backend.binding.TF_Version).toBe('2.15.1');
    expect(backend.isUsingGpuDevice).toBe(GPU_VISIBLE);
  });

  it.each(OP_CASES)('$title', async ({ names, f }) => {
    needAddon();
    expect(await compare(names, f)).toBeLessThanOrEqual(TOL);
  });

  it('a PixelCNN training step: the same loss and gradients as on cpu', async () => {
    needAddon();
    const config = smallModel({ hidden: 4, blocks: { count: 2 } });
    const step = async (backend: string) => {
      await tf.setBackend(backend);
      const model = new PixelCNN(config, { height: 8, width: 8, channels: 1 }, 7);
      const x = tf.tensor4d(Array.from({ length: 3 * 64 }, (_, i) => ((i * 37) % 16) / 15), [3, 8, 8, 1]);
      const t = tf.tensor1d(Array.from({ length: 3 * 64 }, (_, i) => (i * 11) % 16), 'int32');
      const { value, grads } = tf.variableGrads(() => crossEntropyMean(model.forward(x, true), t, 16), model.trainable());
      const out = { loss: value.dataSync()[0]!, grads: model.trainable().map((v) => Array.from(grads[v.name]!.dataSync())) };
      tf.dispose([x, t, value, ...Object.values(grads)]);
      model.dispose();
      return out;
    };
    const native = await step('tensorflow');
    const ref = await step('cpu');
    expect(native.loss).toBeGreaterThan(2); // near log(16) = 2.77 nats for an untrained model
    expect(Math.abs(native.loss - ref.loss)).toBeLessThanOrEqual(TOL * Math.max(1, ref.loss));
    expect(native.grads.length).toBe(ref.grads.length);
    native.grads.forEach((g, i) => g.forEach((v, j) => {
      const err = Math.abs(v - ref.grads[i]![j]!) / Math.max(1, Math.abs(ref.grads[i]![j]!));
      if (!(err <= TOL)) expect.fail(`gradient ${i}[${j}]: tensorflow ${v}, cpu ${ref.grads[i]![j]}`);
    }));
  });

  it('`pxl setup native --gpu --check` verifies it and says where it ran', () => {
    const r = pxl(['setup', 'native', '--gpu', '--check'], { cwd: ROOT });
    expect(r.status, r.stderr).toBe(0);
    const where = GPU_VISIBLE ? 'on the GPU' : 'on the CPU \\(no GPU found\\)';
    expect(r.stdout).toMatch(new RegExp(`tfjs-node-gpu 4\\.22\\.0 on TensorFlow 2\\.15\\.1 ${where}: backend 'tensorflow' loads`));
    expect(r.stdout).toMatch(/conv2d forward and gradients match cpu/);
  });

  it('`pxl doctor` shows the build, the driver, the devices TensorFlow sees and why none is used', () => {
    const r = pxl(['doctor'], { cwd: ROOT });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('GPU (tensorflow-gpu):');
    expect(r.stdout).toContain('  build    TensorFlow 2.15.1 with CUDA 12.2.140 and cuDNN 8.9.4.25 from PyPI, inside node_modules (pxl setup native --gpu)');
    if (GPU_VISIBLE) {
      expect(r.stdout).toMatch(/^tensorflow-gpu\s+yes\s+@tensorflow\/tfjs-node-gpu 4\.22\.0\s+GPU: /m);
      expect(r.stdout).toMatch(/^ {2}devices {2}\/job:localhost\/replica:0\/task:0\/device:GPU:0: device: 0, name: /m);
    } else {
      expect(r.stdout).toMatch(/^tensorflow-gpu\s+no\s+@tensorflow\/tfjs-node-gpu 4\.22\.0\s+no CUDA device visible: /m);
      expect(r.stdout).toContain('  devices  none seen by TensorFlow');
      expect(r.stdout).toMatch(/^ {2}not used no CUDA device visible: /m);
    }
    // The CPU native backend runs too: tfjs-node's own TensorFlow, else the GPU package's.
    expect(r.stdout).toMatch(/^tensorflow\s+yes\s+@tensorflow\/tfjs-node(-gpu)? 4\.22\.0\s+CPU, TensorFlow 2\.\d+\.\d+/m);
  });

  it('`pxl run` with backend auto trains natively and names the device in summary.json and its start line', () => {
    const dir = tempDir();
    const r = pxl(['run', join(ROOT, 'test/fixtures/tiny.yaml'), '--set', 'backend=auto', '--runs-dir', 'runs', '--reporter', 'plain'], { cwd: dir });
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    const run = join(dir, 'runs', 'tiny', readdirSync(join(dir, 'runs', 'tiny'))[0]!);
    const summary = JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8')) as { status: string; backend: string; device: string };
    expect(summary.status).toBe('finished');
    if (GPU_VISIBLE) {
      expect(summary.backend).toBe('tensorflow-gpu');
      expect(summary.device).toMatch(/^GPU: .+ \(driver \d+\.\d+(\.\d+)?\), TensorFlow 2\.15\.1$/);
    } else {
      expect(summary.backend).toBe('tensorflow');
      expect(summary.device).toMatch(/^CPU, TensorFlow 2\.\d+\.\d+ native/); // tfjs-node's own, if installed
      const start = JSON.parse(readFileSync(join(run, 'metrics.jsonl'), 'utf8').split('\n')[0]!) as { type: string; backendNote: string };
      expect(start.type).toBe('start');
      expect(start.backendNote).toMatch(/^auto picked tensorflow; skipped tensorflow-gpu \(no CUDA device visible: /);
    }
    expect(r.stdout).toContain(`  backend  ${summary.backend}: ${summary.device}`);
  });
});

/** Bytes of the files under a folder. */
function bytesUnder(dir: string): number {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => lstatSync(join(dir, f)))
    .reduce((sum, st) => sum + (st.isFile() ? st.size : 0), 0);
}

describe("the setup's disk check", () => {
  // The check runs before anything is downloaded, on the sizes written in the script.
  const script = readFileSync(join(ROOT, 'scripts/setup-native.sh'), 'utf8');
  const gpuWheels = [...script.matchAll(/^\s+"((?:tensorflow|nvidia-[\w-]+)==\S+) (\S+\.whl) [0-9a-f]{64} (\d+)"$/gm)];

  it('asks for at least the space the unpacked libraries take', () => {
    const depsMb = Number(/^\s*DEPS_MB=(\d+)$/m.exec(script)?.[1]);
    expect(bytesUnder(DEPS)).toBeLessThanOrEqual(depsMb * 1e6);
  });

  it('asks for at least the space each wheel takes', () => {
    expect(gpuWheels.map((m) => m[1]!.split('==')[0])).toContain('nvidia-cudnn-cu12');
    expect(gpuWheels.length).toBe(13);
    for (const [, req, file, mb] of gpuWheels) expect(statSync(join(ROOT, '.cache/native-gpu', file!)).size, req).toBeLessThanOrEqual(Number(mb) * 1e6);
  });
});

// The system's C runtime and zlib (cuDNN's convolution libraries need libz.so.1); every other
// dependency must resolve inside deps/.
const SYSTEM_OK = /^(linux-vdso\.so\.1|ld-linux-x86-64\.so\.2|\/lib64\/ld-linux-x86-64\.so\.2|lib(c|m|dl|rt|pthread|util|gcc_s|stdc\+\+|z)\.so\.\d+)$/;

function sharedLibraries(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.so(\.\d+)*$/.test(f))
    .map((f) => join(dir, f));
}

/** `ldd` of a file: soname -> the path the loader resolved (or 'not found'). */
function ldd(file: string): Map<string, string> {
  const out = execFileSync('ldd', [file], { encoding: 'utf8' });
  const deps = new Map<string, string>();
  for (const line of out.split('\n')) {
    const m = /^\s*(\S+)(?: => (\S+(?: found)?))?/.exec(line);
    if (m && m[1] !== 'statically') deps.set(m[1]!, m[2] ?? m[1]!);
  }
  return deps;
}

/** LD_DEBUG=libs output, grouped by the library searched for: the files tried and whether the cache or system dirs were searched. */
function searches(debug: string): Map<string, string[]> {
  const byLib = new Map<string, string[]>();
  let current: string | null = null;
  for (const line of debug.split('\n')) {
    const find = /find library=(\S+) \[\d+\]; searching/.exec(line);
    if (find) {
      current = find[1]!;
      if (!byLib.has(current)) byLib.set(current, []);
      continue;
    }
    const tried = /trying file=(\S+)/.exec(line);
    if (current && tried) byLib.get(current)!.push(resolve(tried[1]!));
    else if (current && /search cache=/.test(line)) byLib.get(current)!.push('(ld.so.cache)');
    else if (!/search path=/.test(line)) current = null;
  }
  return byLib;
}

const CUDA_SONAMES = ['libcudart.so.12', 'libcublas.so.12', 'libcublasLt.so.12', 'libcufft.so.11', 'libcusolver.so.11', 'libcusparse.so.12', 'libcudnn.so.8', 'libnvJitLink.so.12'];

describe('the CUDA libraries are the bundled ones', () => {
  it('the addon links libtensorflow from deps/lib through its rpath', () => {
    const addon = readdirSync(join(PKG, 'lib')).map((d) => join(PKG, 'lib', d, 'tfjs_binding.node')).find(existsSync);
    expect(addon, 'no tfjs_binding.node: run npm run test:gpu-build').toBeDefined();
    const deps = ldd(addon!);
    // The path as the loader built it from the addon's RUNPATH, $ORIGIN/../../deps/lib.
    expect(deps.get('libtensorflow_cc.so.2')).toBe(`${PKG}/lib/napi-v8/../../deps/lib/libtensorflow_cc.so.2`);
    expect(deps.get('libtensorflow_framework.so.2')).toBe(`${PKG}/lib/napi-v8/../../deps/lib/libtensorflow_framework.so.2`);
  });

  it('every bundled library finds its dependencies inside deps/ (or in the C runtime and zlib)', () => {
    const libs = sharedLibraries(DEPS);
    expect(libs.length).toBeGreaterThan(25);
    const outside: string[] = [];
    for (const lib of libs) {
      for (const [soname, path] of ldd(lib)) {
        if (!resolve(path).startsWith(DEPS) && !SYSTEM_OK.test(soname)) outside.push(`${lib.slice(DEPS.length + 1)}: ${soname} => ${path}`);
      }
    }
    expect(outside).toEqual([]);
  });

  it("TensorFlow's own CUDA loader opens each library from deps/nvidia, searching nothing outside", () => {
    // TryDlopenCUDALibraries is what TensorFlow runs when it sets a GPU up; it loads the libraries
    // without one. Its dlopen calls are made from libtensorflow_framework.so.2, so they search
    // that library's RUNPATH ($ORIGIN/../nvidia/<part>/lib), as in Node.
    const bin = join(tempDir(), 'dso-loader-check');
    execFileSync('g++', ['-O0', '-o', bin, join(ROOT, 'test/gpu-build/dso-loader-check.cc'), `-L${DEPS}/lib`, '-ltensorflow_framework', `-Wl,-rpath,${DEPS}/lib`, '-ldl']);
    const env: NodeJS.ProcessEnv = { ...process.env, LD_DEBUG: 'libs', TF_CPP_MIN_LOG_LEVEL: '2' };
    delete env.LD_LIBRARY_PATH;
    const r = spawnSync(bin, { encoding: 'utf8', env });
    expect(r.status, r.stdout + r.stderr.slice(-2000)).toBe(0);
    for (const soname of CUDA_SONAMES) expect(r.stdout).toMatch(new RegExp(`^PXL_LOADED ${soname.replace(/\./g, '\\.')} ${DEPS}/lib/\\.\\./nvidia/\\S+/${soname.replace(/\./g, '\\.')}$`, 'm'));
    const tried = searches(r.stderr);
    for (const soname of CUDA_SONAMES) {
      const files = tried.get(soname) ?? [];
      expect(files.length, `${soname} was never searched for`).toBeGreaterThan(0);
      expect(files.filter((f) => !f.startsWith(DEPS)), `${soname}: searched outside deps/`).toEqual([]);
    }
  });

  it('in Node, loading the addon opens the bundled CUDA runtime; only the driver library is looked for in the system', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, LD_DEBUG: 'libs', TF_CPP_MIN_LOG_LEVEL: '2' };
    delete env.LD_LIBRARY_PATH;
    const script = "const tf = require('@tensorflow/tfjs-node-gpu'); tf.setBackend('tensorflow').then(() => tf.add(1, 1).dataSync());";
    const r = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8', env });
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    const inits = [...r.stderr.matchAll(/calling init: (\S+)/g)].map((m) => resolve(m[1]!));
    const cuda = inits.filter((p) => /\/lib(cu|nvJitLink|nccl)[^/]*\.so/.test(p));
    expect(cuda.length).toBeGreaterThan(0);
    expect(cuda.filter((p) => !p.startsWith(DEPS))).toEqual([]);
    const systemSearched = [...searches(r.stderr)].filter(([, files]) => files.some((f) => !f.startsWith(DEPS) && !f.startsWith(PKG))).map(([soname]) => soname);
    // libcuda.so.1 is the driver's own library: the system's by design (absent here).
    expect(systemSearched.filter((s) => /^lib(cu|nvJitLink|nccl)/.test(s))).toEqual(['libcuda.so.1']);
  });
});
