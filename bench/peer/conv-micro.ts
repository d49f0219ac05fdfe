// Kernel-level timings on the native backend for the convs of the seed model's blocks, in
// the formulations pxl could use: a masked 3x3 as a full 3x3 'same' conv or as its 2x3 upper
// rows over a padded input ('valid', the pad and slice included); a 1x1 conv as Conv2D or as
// MatMul over [pixels, channels].
// Forward, input gradient and filter gradient; the formulations alternate, medians of CPU time.
//
//   npx tsx bench/peer/conv-micro.ts [--reps 5] [--batch 32]
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { nativeOps } from '../../src/backend/native-ops.js';

const { values } = parseArgs({ options: { reps: { type: 'string', default: '5' }, batch: { type: 'string', default: '32' } } });
tf.env().set('PROD', true);
const info = await initBackend('tensorflow');
const ops = nativeOps('conv');
if (!ops) throw new Error('needs the tensorflow backend');
const B = Number(values.batch);
const h = 128;
const x = tf.randomNormal([B, 28, 28, h]) as tf.Tensor4D;
const x2 = tf.randomNormal([B, 28, 28, 2 * h]) as tf.Tensor4D;
const w33 = tf.randomNormal([3, 3, h, h]) as tf.Tensor4D;
const w23 = tf.randomNormal([2, 3, h, h]) as tf.Tensor4D;
const w11 = tf.randomNormal([1, 1, 2 * h, h]) as tf.Tensor4D;
const m11 = tf.reshape(w11, [2 * h, h]) as tf.Tensor2D;
const dy = tf.randomNormal([B, 28, 28, h]) as tf.Tensor4D;
const x2flat = tf.reshape(x2, [-1, 2 * h]) as tf.Tensor2D;
const dyflat = tf.reshape(dy, [-1, h]) as tf.Tensor2D;

const pad = (t: tf.Tensor4D) => tf.pad(t, [[0, 0], [1, 0], [1, 1], [0, 0]]) as tf.Tensor4D;
const xpad = pad(x);
const cases: Record<string, () => tf.Tensor> = {
  '3x3 same fwd': () => ops.conv2d(x, w33, 'SAME'),
  '2x3 rows fwd': () => tf.tidy(() => ops.conv2d(pad(x), w23, 'VALID')),
  '3x3 same dx': () => ops.conv2dBackpropInput(x.shape, dy, w33, 'SAME'),
  '2x3 rows dx': () => tf.tidy(() => tf.slice(ops.conv2dBackpropInput(xpad.shape, dy, w23, 'VALID'), [0, 1, 1, 0], x.shape)),
  '3x3 same dw': () => ops.conv2dBackpropFilter(x, dy, w33.shape, 'SAME'),
  '2x3 rows dw': () => tf.tidy(() => ops.conv2dBackpropFilter(pad(x), dy, w23.shape, 'VALID')),
  '1x1 conv fwd': () => ops.conv2d(x2, w11, 'SAME'),
  '1x1 matMul fwd': () => tf.matMul(x2flat, m11),
  '1x1 conv dx': () => ops.conv2dBackpropInput(x2.shape, dy, w11, 'SAME'),
  '1x1 matMul dx': () => tf.matMul(dyflat, m11, false, true),
  '1x1 conv dw': () => ops.conv2dBackpropFilter(x2, dy, w11.shape, 'SAME'),
  '1x1 matMul dw': () => tf.matMul(x2flat, dyflat, true, false),
};
const times = new Map<string, { wall: number[]; cpu: number[] }>(Object.keys(cases).map((k) => [k, { wall: [], cpu: [] }]));
for (const f of Object.values(cases)) f().dispose(); // warm-up
for (let r = 0; r < Number(values.reps); r++) {
  for (const [name, f] of Object.entries(cases)) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const y = f();
    y.dataSync();
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    y.dispose();
    times.get(name)!.wall.push(wall);
    times.get(name)!.cpu.push((c.user + c.system) / 1000);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const macs: Record<string, number> = { '3x3': 9 * h * h, '2x3': 6 * h * h, '1x1': 2 * h * h };
console.log(`${info.device}; batch ${B}; medians of ${values.reps}; GFLOP/s counts the taps each formulation computes`);
for (const [name, t] of times) {
  const flop = 2 * B * 28 * 28 * macs[name.slice(0, 3)];
  console.log(`${name.padEnd(16)} wall ${median(t.wall).toFixed(1).padStart(7)} ms  CPU ${median(t.cpu).toFixed(1).padStart(7)} ms  ${(flop / median(t.wall) / 1e6).toFixed(0).padStart(4)} GFLOP/s`);
}
