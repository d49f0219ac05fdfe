// Checks that the native TensorFlow backend (@tensorflow/tfjs-node, or with --gpu
// @tensorflow/tfjs-node-gpu) loads, registers on the same tfjs engine as
// `@tensorflow/tfjs`, and computes a conv2d forward pass and its gradients like the
// pure-JS cpu backend. With --expect-gpu it also demands that TensorFlow placed its ops
// on a GPU. Exit code 0 when usable, 1 otherwise. Used by scripts/setup-native.sh.
import * as tf from '@tensorflow/tfjs';

const GPU = process.argv.includes('--gpu');
const EXPECT_GPU = process.argv.includes('--expect-gpu');
const PKG = GPU ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
const SETUP = GPU ? 'pxl setup native --gpu' : 'npm run setup:native';

const TOL = 1e-4;

function fail(msg, hint) {
  console.error(`verify-native: ${msg}`);
  if (hint) console.error(`    ${hint}`);
  process.exit(1);
}

// TensorFlow's C++ logging (oneDNN / CPU feature notices) is noise here.
process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
// On Ampere and newer GPUs TensorFlow computes float32 convolutions in TF32 (10-bit
// mantissa) by default: the comparison with the cpu backend is of float32 arithmetic.
if (GPU) process.env.NVIDIA_TF32_OVERRIDE ??= '0';

let tfn;
const t0 = performance.now();
try {
  tfn = await import(PKG);
} catch (e) {
  const msg = String(e?.message ?? e).split('\n')[0];
  if (e?.code === 'ERR_MODULE_NOT_FOUND' || /Cannot find (package|module) '@tensorflow\/tfjs-node(-gpu)?'/.test(msg)) {
    fail(`${PKG} is not installed.`, `Run: ${SETUP}`);
  }
  fail(`${PKG} does not load: ${msg}`, `Run: ${SETUP} --force`);
}
const loadMs = performance.now() - t0;

if (tfn.engine() !== tf.engine()) {
  fail(`${PKG} registered on a different tfjs engine than @tensorflow/tfjs.`,
    'Two copies of @tensorflow/tfjs are installed: make tfjs-node use the project\'s (same version, deduped).');
}
if (!tf.findBackend('tensorflow')) fail(`backend 'tensorflow' is not registered after loading ${PKG}.`);

async function run(backend) {
  if (!(await tf.setBackend(backend)) || tf.getBackend() !== backend) fail(`backend '${backend}' did not initialize.`);
  return tf.tidy(() => {
    const x = tf.tensor4d(Array.from({ length: 2 * 6 * 5 * 3 }, (_, i) => Math.sin(i * 0.7)), [2, 6, 5, 3]);
    const w = tf.tensor4d(Array.from({ length: 3 * 3 * 3 * 4 }, (_, i) => Math.cos(i * 0.3) * 0.5), [3, 3, 3, 4]);
    const f = (a, b) => tf.conv2d(a, b, 1, 'same').square().mean();
    const y = tf.conv2d(x, w, 1, 'same');
    const [dx, dw] = tf.grads(f)([x, w]);
    return [y, dx, dw].map((t) => ({ shape: t.shape, data: t.dataSync() }));
  });
}

// The cpu backend greets Node users with advice to install tfjs-node: not here.
tf.env().set('PROD', true);
const native = await run('tensorflow');
const version = tf.backend().binding?.TF_Version ?? 'unknown';
const onGpu = tf.backend().isUsingGpuDevice === true;
if (EXPECT_GPU && !onGpu) {
  fail('TensorFlow found no usable GPU although the NVIDIA driver shows one.',
    'Run `pxl doctor` for the reasons TensorFlow gives (TF_CPP_MIN_LOG_LEVEL=0 shows its whole log).');
}
const ref = await run('cpu');
const names = ['conv2d forward', 'dL/dx', 'dL/dw'];
let worst = 0;
for (let k = 0; k < names.length; k++) {
  const a = native[k], b = ref[k];
  if (a.shape.join() !== b.shape.join()) fail(`${names[k]}: shape ${a.shape} on tensorflow, ${b.shape} on cpu`);
  for (let i = 0; i < a.data.length; i++) {
    const err = Math.abs(a.data[i] - b.data[i]) / Math.max(1, Math.abs(b.data[i]));
    if (!(err <= TOL)) fail(`${names[k]}[${i}]: ${a.data[i]} on tensorflow, ${b.data[i]} on cpu (tolerance ${TOL})`);
    worst = Math.max(worst, err);
  }
}
await tf.setBackend('tensorflow');
const where = GPU ? ` on the ${onGpu ? 'GPU' : 'CPU (no GPU found)'}` : '';
console.log(`    ${PKG.slice('@tensorflow/'.length)} ${tfn.version['tfjs-node']} on TensorFlow ${version}${where}: backend 'tensorflow' loads in ` +
  `${loadMs.toFixed(0)} ms, shares the @tensorflow/tfjs ${tf.version.tfjs} engine; ` +
  `conv2d forward and gradients match cpu (max rel. diff ${worst.toExponential(1)}).`);
