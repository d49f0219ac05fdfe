// Checks that the native TensorFlow backend (@tensorflow/tfjs-node) loads,
// registers on the same tfjs engine as `@tensorflow/tfjs`, and computes a
// conv2d forward pass and its gradients like the pure-JS cpu backend.
// Exit code 0 when usable, 1 otherwise. Used by scripts/setup-native.sh.
import * as tf from '@tensorflow/tfjs';

const TOL = 1e-4;

function fail(msg, hint) {
  console.error(`verify-native: ${msg}`);
  if (hint) console.error(`    ${hint}`);
  process.exit(1);
}

// TensorFlow's C++ logging (oneDNN / CPU feature notices) is noise here.
process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';

let tfn;
const t0 = performance.now();
try {
  tfn = await import('@tensorflow/tfjs-node');
} catch (e) {
  const msg = String(e?.message ?? e).split('\n')[0];
  if (e?.code === 'ERR_MODULE_NOT_FOUND' || /Cannot find (package|module) '@tensorflow\/tfjs-node'/.test(msg)) {
    fail('@tensorflow/tfjs-node is not installed.', 'Run: npm run setup:native');
  }
  fail(`@tensorflow/tfjs-node does not load: ${msg}`, 'Run: npm run setup:native -- --force');
}
const loadMs = performance.now() - t0;

if (tfn.engine() !== tf.engine()) {
  fail('tfjs-node registered on a different tfjs engine than @tensorflow/tfjs.',
    'Two copies of @tensorflow/tfjs are installed: make tfjs-node use the project\'s (same version, deduped).');
}
if (!tf.findBackend('tensorflow')) fail("backend 'tensorflow' is not registered after loading tfjs-node.");

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
console.log(`    tfjs-node ${tfn.version['tfjs-node']} on TensorFlow ${version}: backend 'tensorflow' loads in ` +
  `${loadMs.toFixed(0)} ms, shares the @tensorflow/tfjs ${tf.version.tfjs} engine; ` +
  `conv2d forward and gradients match cpu (max rel. diff ${worst.toExponential(1)}).`);
