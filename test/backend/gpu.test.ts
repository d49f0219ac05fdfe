// The GPU build's checks of the machine, without a GPU: the driver's version as the kernel
// module reports it, the CUDA 12.2 driver floor, disk space, TensorFlow's device log, the
// build's description, and the setup's own failure messages (scripts/gpu-preflight.mjs and
// scripts/setup-native.sh --gpu against a stand-in /proc/driver/nvidia and a stand-in uname).
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  compareVersions, describeGpuBuild, diskProblem, driverNote, driverProblem, parseDriverVersion, parseTfDeviceLog, readDriver,
} from '../../src/backend/gpu.js';
import { formatGpuReport } from '../../src/backend/probe.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

// /proc/driver/nvidia/version as the proprietary and the open kernel modules write it.
const PROPRIETARY = 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\nGCC version:  gcc version 11.4.0 (Ubuntu 11.4.0-1ubuntu1~22.04)\n';
const OPEN = 'NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.14  Release Build  (dvs-builder@U16-I3-B03-4-3)  Thu Feb 22 01:25:25 UTC 2024\nGCC version:  gcc version 12.3.0\n';
const OLD = 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.82.01  Wed Oct 27 04:49:26 UTC 2021\n';

describe('the NVIDIA driver', () => {
  it('reads the version from either kernel module\'s /proc file', () => {
    expect(parseDriverVersion(PROPRIETARY)).toBe('535.104.05');
    expect(parseDriverVersion(OPEN)).toBe('550.54.14');
    expect(parseDriverVersion('GCC version: 12\n')).toBeNull();
  });

  it('compares versions by number, not as text', () => {
    expect(compareVersions('525.60.13', '525.60.13')).toBe(0);
    expect(compareVersions('525.105.17', '525.60.13')).toBeGreaterThan(0);
    expect(compareVersions('99.1', '525.60.13')).toBeLessThan(0);
    expect(compareVersions('535', '535.0.0')).toBe(0);
  });

  it('falls back to nvidia-smi when the /proc file is absent, and reports neither as none', () => {
    const dir = tempDir();
    expect(readDriver(join(dir, 'version'), () => '550.54.15')).toEqual({ version: '550.54.15', source: 'nvidia-smi' });
    expect(readDriver(join(dir, 'version'), () => null)).toBeNull();
    writeFileSync(join(dir, 'version'), OPEN);
    expect(readDriver(join(dir, 'version'), () => '1.0')).toEqual({ version: '550.54.14', source: join(dir, 'version') });
  });

  it('refuses no driver and one older than CUDA 12 needs, saying what to do', () => {
    expect(driverProblem(null)).toBe(
      'no NVIDIA driver found (/proc/driver/nvidia/version is absent and nvidia-smi is not on PATH). The GPU build needs the ' +
      'NVIDIA driver 525.60.13 or newer (for CUDA 12.2) and nothing else from NVIDIA: install the driver from your distribution or NVIDIA, then rerun.');
    expect(driverProblem({ version: '470.82.01', source: 'x' })).toBe(
      "NVIDIA driver 470.82.01 is too old for CUDA 12.2 (TensorFlow 2.15.1's GPU build): it needs 525.60.13 or newer " +
      '(535.54.03 or newer recommended). Update the driver, then rerun.');
    expect(driverProblem({ version: '525.60.11', source: 'x' })).toMatch(/too old/);
    expect(driverProblem({ version: '525.60.13', source: 'x' })).toBeNull();
  });

  it('notes a CUDA 12 driver older than CUDA 12.2\'s own', () => {
    expect(driverNote({ version: '530.30.02', source: 'x' })).toMatch(/^NVIDIA driver 530\.30\.02 runs CUDA 12\.2 only through minor-version compatibility/);
    expect(driverNote({ version: '535.54.03', source: 'x' })).toBeNull();
    expect(driverNote(null)).toBeNull();
  });
});

describe('disk space', () => {
  const stat = (free: Record<string, [number, number]>) => (dir: string) => ({ device: free[dir]![0], freeBytes: free[dir]![1] });

  it('adds up what lands on one file system', () => {
    const needs = [{ dir: '/c', bytes: 2.4e9, what: 'downloads' }, { dir: '/n', bytes: 3.9e9, what: 'unpacked libraries' }];
    expect(diskProblem(needs, stat({ '/c': [1, 7e9], '/n': [1, 7e9] }))).toBeNull();
    expect(diskProblem(needs, stat({ '/c': [1, 5e9], '/n': [1, 5e9] }))).toBe(
      'not enough disk space: 6.3 GB needed on the file system of /c and /n (downloads 2.4 GB, unpacked libraries 3.9 GB), 5.0 GB free. ' +
      'Free 1.3 GB or more, then rerun.');
  });

  it('checks separate file systems separately, and ignores what is already there', () => {
    const needs = [{ dir: '/c', bytes: 2.4e9, what: 'downloads' }, { dir: '/n', bytes: 3.9e9, what: 'unpacked libraries' }];
    expect(diskProblem(needs, stat({ '/c': [1, 3e9], '/n': [2, 4e9] }))).toBeNull();
    expect(diskProblem(needs, stat({ '/c': [1, 3e9], '/n': [2, 3e9] }))).toMatch(/^not enough disk space: 3\.9 GB needed on the file system of \/n \(unpacked/);
    expect(diskProblem([{ dir: '/c', bytes: 0, what: 'downloads' }], stat({ '/c': [1, 0] }))).toBeNull();
  });
});

describe("TensorFlow's device log", () => {
  it('lists the GPUs it created, in both log formats, and the reasons it gives for none', () => {
    const log = [
      '2026-12-01 10:00:00.000001: I tensorflow/core/common_runtime/gpu/gpu_device.cc:1886] Created device /job:localhost/replica:0/task:0/device:GPU:0 with 139264 MB memory:  -> device: 0, name: NVIDIA H200, pci bus id: 0000:19:00.0, compute capability: 9.0',
      '2021-02-14 22:43:35.852131: I tensorflow/core/common_runtime/gpu/gpu_device.cc:1247] Created TensorFlow device (/job:localhost/replica:0/task:0/device:GPU:1 with 6776 MB memory) -> physical GPU (device: 1, name: GeForce GTX 1080, pci bus id: 0000:01:00.0, compute capability: 6.1)',
      "2026-12-01 10:00:00.000002: W tensorflow/tsl/platform/default/dso_loader.cc:67] Could not load dynamic library 'libcudnn.so.8'; dlerror: libcudnn.so.8: cannot open shared object file: No such file or directory",
      '2026-12-01 10:00:00.000003: W tensorflow/core/common_runtime/gpu/gpu_device.cc:2211] Cannot dlopen some GPU libraries. Please make sure the missing libraries mentioned above are installed properly if you would like to use GPU.',
      '2026-12-01 10:00:00.000004: E external/local_xla/xla/stream_executor/cuda/cuda_driver.cc:274] failed call to cuInit: CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE: forward compatibility was attempted on non supported HW',
    ].join('\n');
    expect(parseTfDeviceLog(log)).toEqual({
      devices: [
        { name: '/job:localhost/replica:0/task:0/device:GPU:0', memoryMB: 139264, description: 'device: 0, name: NVIDIA H200, pci bus id: 0000:19:00.0, compute capability: 9.0' },
        { name: '/job:localhost/replica:0/task:0/device:GPU:1', memoryMB: 6776, description: 'device: 1, name: GeForce GTX 1080, pci bus id: 0000:01:00.0, compute capability: 6.1' },
      ],
      problems: [
        "Could not load dynamic library 'libcudnn.so.8'; dlerror: libcudnn.so.8: cannot open shared object file: No such file or directory",
        'Cannot dlopen some GPU libraries. Please make sure the missing libraries mentioned above are installed properly if you would like to use GPU.',
        'failed call to cuInit: CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE: forward compatibility was attempted on non supported HW',
      ],
    });
  });

  it('finds nothing in the log of a machine without a GPU', () => {
    // What TensorFlow 2.15.1's CUDA build logs here at TF_CPP_MIN_LOG_LEVEL=0 (no driver).
    const log = [
      '2026-12-02 00:11:44.954271: I tensorflow/core/util/port.cc:113] oneDNN custom operations are on. You may see slightly different numerical results due to floating-point round-off errors from different computation orders. To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.',
      '2026-12-02 00:11:45.082040: E external/local_xla/xla/stream_executor/cuda/cuda_dnn.cc:9261] Unable to register cuDNN factory: Attempting to register factory for plugin cuDNN when one has already been registered',
    ].join('\n');
    expect(parseTfDeviceLog(log)).toEqual({ devices: [], problems: [] });
  });
});

describe('the GPU build as pxl doctor describes it', () => {
  function pkg(files: Record<string, string>): string {
    const dir = tempDir();
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(join(dir, name, '..'), { recursive: true });
      writeFileSync(join(dir, name), text);
    }
    return dir;
  }
  const addon = { 'lib/napi-v8/tfjs_binding.node': '' };

  it('names TensorFlow, CUDA and cuDNN from the stamp pxl setup native --gpu writes', () => {
    const stamp = {
      tensorflow: '2.15.1', variant: 'gpu',
      wheels: [{ requirement: 'tensorflow==2.15.1' }, { requirement: 'nvidia-cuda-runtime-cu12==12.2.140' }, { requirement: 'nvidia-cudnn-cu12==8.9.4.25' }],
    };
    expect(describeGpuBuild(pkg({ ...addon, 'deps/pxl-native.json': JSON.stringify(stamp) }))).toBe(
      'TensorFlow 2.15.1 with CUDA 12.2.140 and cuDNN 8.9.4.25 from PyPI, inside node_modules (pxl setup native --gpu)');
  });

  it('tells a stock install and a package without its addon apart', () => {
    expect(describeGpuBuild(pkg({ ...addon, 'deps/lib/libtensorflow.so.2.9.1': '' }))).toBe(
      'libtensorflow 2.9.1 from its own install script (needs a system CUDA 11.2 and cuDNN 8.1)');
    expect(describeGpuBuild(pkg({ 'package.json': '{}' }))).toBe('installed without its native addon (run `pxl setup native --gpu`)');
  });

  it('formats the build, the driver, the devices and why none is used', () => {
    expect(formatGpuReport({ build: null, driver: null, devices: [], notUsed: ['package @tensorflow/tfjs-node-gpu is not installed'] }).split('\n')).toEqual([
      '  build    not installed (`pxl setup native --gpu` builds it)',
      '  driver   none found (/proc/driver/nvidia/version is absent, no nvidia-smi)',
      '  devices  none seen by TensorFlow',
      '  not used package @tensorflow/tfjs-node-gpu is not installed',
    ]);
    const device = { name: '/job:localhost/replica:0/task:0/device:GPU:0', memoryMB: 139264, description: 'device: 0, name: NVIDIA H200, compute capability: 9.0' };
    expect(formatGpuReport({ build: 'b', driver: { version: '550.54.15', source: 'nvidia-smi' }, devices: [device], notUsed: [] }).split('\n')).toEqual([
      '  build    b',
      '  driver   NVIDIA 550.54.15 (from nvidia-smi)',
      '  devices  /job:localhost/replica:0/task:0/device:GPU:0: device: 0, name: NVIDIA H200, compute capability: 9.0, 139264 MB',
    ]);
  });
});

describe('the setup\'s checks before it downloads anything', () => {
  /** A stand-in /proc/driver/nvidia: a version file (or none) and the GPUs. */
  function fakeProc(version: string | null, gpus: string[] = []): string {
    const dir = tempDir();
    if (version) writeFileSync(join(dir, 'version'), version);
    mkdirSync(join(dir, 'gpus'));
    for (const model of gpus) {
      mkdirSync(join(dir, 'gpus', '0000:19:00.0'));
      writeFileSync(join(dir, 'gpus', '0000:19:00.0', 'information'), `Model: \t\t ${model}\nIRQ:   \t\t 42\n`);
    }
    return dir;
  }
  const preflight = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [join(ROOT, 'scripts/gpu-preflight.mjs'), ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  const setup = (args: string[], env: Record<string, string>) =>
    spawnSync('bash', [join(ROOT, 'scripts/setup-native.sh'), ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

  it('stops with no driver or one too old, unless told to build without one', () => {
    const none = preflight(['driver'], { PXL_NVIDIA_PROC: fakeProc(null) });
    expect(none.status).toBe(1);
    expect(none.stderr).toContain('setup-native: FAILED: no NVIDIA driver found');
    expect(none.stderr).toContain('pass --without-driver');
    const old = preflight(['driver'], { PXL_NVIDIA_PROC: fakeProc(OLD, ['Tesla K80']) });
    expect(old.status).toBe(1);
    expect(old.stderr).toContain('setup-native: FAILED: NVIDIA driver 470.82.01 is too old for CUDA 12.2');
    const anyway = preflight(['driver', '--without-driver'], { PXL_NVIDIA_PROC: fakeProc(null) });
    expect(anyway.status).toBe(0);
    expect(anyway.stdout).toBe('cpu\n');
    expect(anyway.stderr).toContain('warning: no NVIDIA driver found');
  });

  it('expects the GPU when the driver is new enough and shows a device', () => {
    const r = preflight(['driver'], { PXL_NVIDIA_PROC: fakeProc(OPEN, ['NVIDIA H200']) });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('gpu\n');
    expect(r.stderr).toContain('NVIDIA driver 550.54.14');
    expect(r.stderr).toContain('GPU: NVIDIA H200');
  });

  it('refuses downloads that would not fit', () => {
    const r = preflight(['disk', tempDir(), String(1e18), 'downloads']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/setup-native: FAILED: not enough disk space: 1000000000\.0 GB needed on the file system of \S+ \(downloads 1000000000\.0 GB\), [\d.]+ GB free/);
  });

  it('setup-native.sh --gpu stops at the driver check, before fetching anything', () => {
    const r = setup(['--gpu'], { PXL_NVIDIA_PROC: fakeProc(OLD, ['Tesla K80']) });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('FAILED: NVIDIA driver 470.82.01 is too old for CUDA 12.2');
    expect(r.stdout).not.toContain('Fetching');
  });

  it('setup-native.sh --gpu names the platform it does not support', () => {
    const bin = tempDir();
    writeFileSync(join(bin, 'uname'), '#!/bin/sh\ncase "$1" in -s) echo Darwin ;; -m) echo arm64 ;; esac\n');
    chmodSync(join(bin, 'uname'), 0o755);
    const r = setup(['--gpu'], { PATH: `${bin}:${process.env.PATH}` });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('setup-native: FAILED: the GPU build supports Linux x86_64 only (this is Darwin arm64).');
    expect(r.stdout).not.toContain('Fetching');
  });

  it('pxl setup native refuses --without-driver without --gpu (exit 2)', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/pxl.js'), 'setup', 'native', '--without-driver'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--without-driver goes with --gpu');
  });
});
