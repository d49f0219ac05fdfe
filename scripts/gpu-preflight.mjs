// The GPU build's checks of the machine, for scripts/setup-native.sh --gpu (the code is pxl's
// own, src/backend/gpu.ts, so that `pxl doctor` and the setup say the same):
//   node scripts/gpu-preflight.mjs driver [--without-driver]
//       the NVIDIA driver: exit 1 with a message when it is missing or too old (with
//       --without-driver only a warning); prints "gpu" on stdout when a device is visible, else "cpu".
//   node scripts/gpu-preflight.mjs disk DIR BYTES WHAT [DIR BYTES WHAT]...
//       exit 1 with a message when the files would not fit.
// Messages go to stderr, so that stdout carries only the answer. PXL_NVIDIA_PROC=DIR reads a
// stand-in for /proc/driver/nvidia (its version file and gpus/ folder) and skips nvidia-smi: the
// tests use it to play machines with an old driver or none.
import { join } from 'node:path';
import { CUDA, diskProblem, driverNote, driverProblem, readDriver } from '../dist/backend/gpu.js';
import { cudaVisibility } from '../dist/backend/native.js';

const say = (line) => process.stderr.write(`    ${line}\n`);
const fail = (message, ...hints) => {
  process.stderr.write(`\nsetup-native: FAILED: ${message}\n`);
  for (const h of hints) say(h);
  process.exit(1);
};

const [command, ...args] = process.argv.slice(2);
if (command === 'driver') {
  const withoutDriver = args.includes('--without-driver');
  const proc = process.env.PXL_NVIDIA_PROC;
  const driver = proc ? readDriver(join(proc, 'version'), () => null) : readDriver();
  const problem = driverProblem(driver);
  if (problem && !withoutDriver) {
    fail(problem, 'To build anyway (CI, an image built without a GPU), pass --without-driver: TensorFlow then runs on the CPU.');
  }
  if (problem) say(`warning: ${problem}`);
  else say(`NVIDIA driver ${driver.version} (from ${driver.source}); CUDA ${CUDA.version} needs ${CUDA.minDriver} or newer`);
  const note = driverNote(driver);
  if (note) say(`note: ${note}`);
  const cuda = proc ? cudaVisibility(process.env, join(proc, 'gpus')) : cudaVisibility();
  say(cuda.visible ? `GPU: ${cuda.detail}` : `no GPU visible: ${cuda.detail}; the build is verified on the CPU`);
  process.stdout.write(!problem && cuda.visible ? 'gpu\n' : 'cpu\n');
} else if (command === 'disk') {
  const needs = [];
  for (let i = 0; i + 2 < args.length; i += 3) needs.push({ dir: args[i], bytes: Number(args[i + 1]), what: args[i + 2] });
  const problem = diskProblem(needs);
  if (problem) fail(problem);
  const total = needs.reduce((s, n) => s + n.bytes, 0);
  say(`disk space: enough for ${(total / 1e9).toFixed(1)} GB (${needs.map((n) => `${n.what} ${(n.bytes / 1e9).toFixed(1)} GB`).join(', ')})`);
} else {
  process.stderr.write('usage: gpu-preflight.mjs driver [--without-driver] | disk DIR BYTES WHAT...\n');
  process.exit(2);
}
