// `pxl setup native` (CPU) next to a GPU build: npm deletes packages package.json does not
// declare, as tfjs-node-gpu (installed with --no-save) is, so the script keeps the GPU build
// aside while npm runs and puts it back, also when npm fails. The script runs from a copy in a
// scratch project, with a stand-in npm that does to node_modules what npm does to an
// undeclared package; the real CPU wheel (cached by the test environment's setup, linked in)
// gets it past the download, and the missing binding.gyp stops it right after the npm step.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { nativeMissingAdvice, skipNative } from '../helpers/native.js';
import { tempDir } from '../helpers/tmp.js';

const WHEEL = join(ROOT, '.cache/native/tensorflow_cpu-2.15.1-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl');

const NPM = `#!/bin/sh
# npm install as it treats an undeclared package: removed. Installs a bare tfjs-node.
case "$1" in
  install)
    rm -rf node_modules/@tensorflow/tfjs-node-gpu
    mkdir -p node_modules/@tensorflow/tfjs-node
    echo '{"name": "@tensorflow/tfjs-node", "version": "4.22.0"}' >node_modules/@tensorflow/tfjs-node/package.json
    exit "\${STANDIN_NPM_STATUS:-0}" ;;
  --version) echo 10.9.0 ;;
esac
`;

/** A scratch project with the setup script and a stand-in GPU build; runs the CPU setup there. */
function setupNextToGpuBuild(npmStatus: number) {
  const root = tempDir();
  mkdirSync(join(root, 'scripts'));
  copyFileSync(join(ROOT, 'scripts/setup-native.sh'), join(root, 'scripts/setup-native.sh'));
  writeFileSync(join(root, 'package.json'), '{"name": "scratch", "private": true}\n');
  mkdirSync(join(root, '.cache/native'), { recursive: true });
  symlinkSync(WHEEL, join(root, '.cache/native', basename(WHEEL))); // found there, hash checked, not copied
  const gpu = join(root, 'node_modules/@tensorflow/tfjs-node-gpu');
  mkdirSync(join(gpu, 'deps/lib'), { recursive: true });
  writeFileSync(join(gpu, 'package.json'), '{"name": "@tensorflow/tfjs-node-gpu", "version": "4.22.0"}\n');
  writeFileSync(join(gpu, 'deps/lib/libtensorflow_cc.so.2'), 'the GPU build');
  const bin = join(root, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'npm'), NPM);
  chmodSync(join(bin, 'npm'), 0o755);
  const r = spawnSync('bash', [join(root, 'scripts/setup-native.sh')], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, npm_config_node_gyp: '/bin/true', STANDIN_NPM_STATUS: String(npmStatus) },
  });
  return { r, gpu, aside: join(root, 'node_modules/.cache/pxl-tfjs-node-gpu') };
}

describe.skipIf(skipNative())('pxl setup native next to a GPU build', () => {
  const needWheel = () => {
    if (!existsSync(WHEEL)) expect.fail(`the cached tensorflow-cpu wheel is missing (${WHEEL}): ${nativeMissingAdvice()}`);
  };

  it('puts the GPU build back after npm install', () => {
    needWheel();
    const { r, gpu, aside } = setupNextToGpuBuild(0);
    expect(r.stdout).toContain('kept the GPU build (@tensorflow/tfjs-node-gpu) through npm install');
    expect(r.stderr).toContain('binding.gyp is missing'); // where the stand-in stops it
    expect(readFileSync(join(gpu, 'deps/lib/libtensorflow_cc.so.2'), 'utf8')).toBe('the GPU build');
    expect(existsSync(aside)).toBe(false);
  });

  it('puts it back when npm install fails', () => {
    needWheel();
    const { r, gpu, aside } = setupNextToGpuBuild(1);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('FAILED: npm install @tensorflow/tfjs-node@4.22.0 failed');
    expect(readFileSync(join(gpu, 'deps/lib/libtensorflow_cc.so.2'), 'utf8')).toBe('the GPU build');
    expect(existsSync(aside)).toBe(false);
  });
});
