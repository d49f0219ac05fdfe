// Finding, loading and probing native packages, with stand-ins written to a temp dir.
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cudaVisibility, findPackage, importEntry, probeInChild } from '../../src/backend/native.js';

let root: string;

function fakePackage(name: string, source: string): void {
  const dir = join(root, 'node_modules', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '9.9.9', main: 'index.mjs' }));
  writeFileSync(join(dir, 'index.mjs'), source);
}

const fromRoot = () => root;

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = mkdtempSync(join(tmpdir(), 'pxl-native-'));
  fakePackage('fake-broken', "throw new Error('libtensorflow.so.2: cannot open shared object file\\n    at more detail');\n");
  fakePackage('fake-crash', "process.kill(process.pid, 'SIGSEGV');\n");
  fakePackage('fake-working', [
    'export const setBackend = async () => true;',
    'export const tidy = (f) => f();',
    'export const scalar = (v) => v;',
    'export const add = (a, b) => ({ dataSync: () => [a + b] });',
    "export const backend = () => ({ isUsingGpuDevice: false, binding: { TF_Version: '2.9.1' } });",
  ].join('\n'));
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('findPackage', () => {
  it('finds an installed package and its version without loading it', () => {
    const wasm = findPackage('@tensorflow/tfjs-backend-wasm');
    expect(wasm?.version).toBe('4.22.0');
    expect(wasm?.entry).toMatch(/tfjs-backend-wasm.*\.js$/);
    expect(findPackage('fake-broken', fromRoot())).toMatchObject({ name: 'fake-broken', version: '9.9.9' });
  });

  it('returns null for a package that is not installed', () => {
    expect(findPackage('@tensorflow/no-such-package')).toBeNull();
  });
});

describe('loading a native package', () => {
  it('reports the first line of a load failure in this process', async () => {
    const entry = findPackage('fake-broken', fromRoot())!.entry;
    expect(await importEntry(entry)).toBe('libtensorflow.so.2: cannot open shared object file');
  });

  it('reports a load failure from the child probe', async () => {
    const probe = await probeInChild(findPackage('fake-broken', fromRoot())!.entry);
    expect(probe).toEqual({ ok: false, error: 'libtensorflow.so.2: cannot open shared object file' });
  });

  it('survives a package that crashes its process', async () => {
    const probe = await probeInChild(findPackage('fake-crash', fromRoot())!.entry);
    expect(probe).toEqual({ ok: false, error: 'the process died (SIGSEGV)' });
  });

  it('reads the device and TensorFlow version of a package that loads', async () => {
    const probe = await probeInChild(findPackage('fake-working', fromRoot())!.entry);
    expect(probe).toEqual({ ok: true, gpu: false, tensorflowVersion: '2.9.1' });
  });
});

describe('cudaVisibility', () => {
  it('sees no device without the NVIDIA driver', () => {
    expect(cudaVisibility({}, join(root, 'no-driver'))).toEqual({
      visible: false, detail: `no NVIDIA driver or GPU (${join(root, 'no-driver')} is empty or absent)`,
    });
  });

  it('names the GPUs the driver lists', () => {
    const gpus = join(root, 'gpus');
    mkdirSync(join(gpus, '0000:01:00.0'), { recursive: true });
    writeFileSync(join(gpus, '0000:01:00.0', 'information'), 'Model: \t\t NVIDIA H200\nIRQ:   42\n');
    expect(cudaVisibility({}, gpus)).toEqual({ visible: true, detail: 'NVIDIA H200' });
  });

  it('honours CUDA_VISIBLE_DEVICES hiding every device', () => {
    const gpus = join(root, 'gpus');
    expect(cudaVisibility({ CUDA_VISIBLE_DEVICES: '-1' }, gpus).visible).toBe(false);
    expect(cudaVisibility({ CUDA_VISIBLE_DEVICES: '' }, gpus).detail).toBe("CUDA_VISIBLE_DEVICES='' hides every device");
  });
});
