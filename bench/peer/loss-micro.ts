// Kernel-level timings on the native backend for the small model's loss over [25088, 256]
// logits (batch 32 of 28x28, 256 levels), in the formulations pxl could use.
//
//   npx tsx bench/peer/loss-micro.ts [--reps 9]
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';

const { values } = parseArgs({ options: { reps: { type: 'string', default: '9' }, rows: { type: 'string', default: '25088' }, hidden: { type: 'string', default: '16' } } });
tf.env().set('PROD', true);
await initBackend('tensorflow');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const b = tf.backend() as any;
const F = { name: 'T', type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT };
const I = (name: string) => ({ name, type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_INT32 });
const N = Number(values.rows);
const L = 256;
const C = Number(values.hidden);
const logits = tf.randomNormal([N, L]) as tf.Tensor2D;
const targets = tf.randomUniform([N], 0, L, 'int32') as tf.Tensor1D;
const h = tf.randomNormal([N, C]) as tf.Tensor2D;
const w = tf.randomNormal([C, L]) as tf.Tensor2D;
const h4 = tf.reshape(h, [32, 28, 28, C]) as tf.Tensor4D;
const w4 = tf.reshape(w, [1, 1, C, L]) as tf.Tensor4D;
const bias = tf.randomNormal([L]) as tf.Tensor1D;
const dy = tf.scalar(1 / N);
const flat = tf.add(tf.mul(tf.range(0, N, 1, 'int32'), tf.scalar(L, 'int32')), targets) as tf.Tensor1D;
const idx2 = tf.stack([tf.range(0, N, 1, 'int32'), targets], 1) as tf.Tensor2D;
const ones = tf.onesLike(targets).asType('float32');
const mm = (a: tf.Tensor, c: tf.Tensor, ta = false, tb = false) =>
  b.executeSingleOutput('MatMul', [F, { name: 'transpose_a', type: b.binding.TF_ATTR_BOOL, value: ta }, { name: 'transpose_b', type: b.binding.TF_ATTR_BOOL, value: tb }], [a, c]);
const conv = (attrsPad = 'VALID') => [F, { name: 'strides', type: b.binding.TF_ATTR_INT, value: [1, 1, 1, 1] }, { name: 'use_cudnn_on_gpu', type: b.binding.TF_ATTR_BOOL, value: true }, { name: 'padding', type: b.binding.TF_ATTR_STRING, value: attrsPad }, { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: 'NHWC' }, { name: 'dilations', type: b.binding.TF_ATTR_INT, value: [1, 1, 1, 1] }];
const g = tf.randomNormal([N, L]) as tf.Tensor2D;
const g4 = tf.reshape(g, [32, 28, 28, L]);
const ein = (eq: string, a: tf.Tensor, c: tf.Tensor) =>
  b.executeSingleOutput('Einsum', [F, { name: 'equation', type: b.binding.TF_ATTR_STRING, value: eq }, { name: 'N', type: b.binding.TF_ATTR_INT, value: 2 }], [a, c]);
const cases: Record<string, () => tf.Tensor | tf.Tensor[]> = {
  'Einsum fwd': () => ein('nhwc,co->nhwo', h4, w),
  'Einsum dx': () => ein('nhwo,co->nhwc', g4, w),
  'Einsum dw': () => ein('nhwc,nhwo->co', h4, g4),
  'MatMul+BiasAdd+Relu': () => tf.tidy(() => tf.relu(b.executeSingleOutput('BiasAdd', [F, { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: 'NHWC' }], [mm(h, w), bias]))),
  'SparseSoftmaxXent': () => b.executeMultipleOutputs('SparseSoftmaxCrossEntropyWithLogits', [F, I('Tlabels')], [logits, targets], 2),
  'Softmax': () => b.executeSingleOutput('Softmax', [F], [logits]),
  'LogSoftmax': () => b.executeSingleOutput('LogSoftmax', [F], [logits]),
  'Max rows': () => tf.max(logits, 1),
  'Exp': () => tf.exp(logits),
  'Multiply scalar': () => tf.mul(logits, dy),
  'Sum rows->cols (bias grad)': () => tf.sum(logits, 0),
  'BiasAddGrad': () => b.executeSingleOutput('BiasAddGrad', [F, { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: 'NHWC' }], [logits]),
  'Add bias': () => tf.add(logits, bias),
  'BiasAdd': () => b.executeSingleOutput('BiasAdd', [F, { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: 'NHWC' }], [logits, bias]),
  'TensorScatterSub': () => b.executeSingleOutput('TensorScatterSub', [F, I('Tindices')], [logits, idx2, ones]),
  'OneHot+Sub': () => tf.tidy(() => tf.sub(logits, tf.oneHot(targets, L))),
  'Gather flat': () => tf.gather(tf.reshape(logits, [-1]), flat),
  'Conv2D 1x1 fwd': () => b.executeSingleOutput('Conv2D', conv(), [h4, w4]),
  'MatMul fwd': () => mm(h, w),
  'Conv 1x1 dx': () => tf.tidy(() => b.executeSingleOutput('Conv2DBackpropInput', conv(), [tf.tensor1d([32, 28, 28, C], 'int32'), w4, g4])),
  'MatMul dx': () => mm(g, w, false, true),
  'Conv 1x1 dw': () => tf.tidy(() => b.executeSingleOutput('Conv2DBackpropFilter', conv(), [h4, tf.tensor1d([1, 1, C, L], 'int32'), g4])),
  'MatMul dw': () => mm(h, g, true, false),
};
const times = new Map<string, { wall: number[]; cpu: number[] }>(Object.keys(cases).map((k) => [k, { wall: [], cpu: [] }]));
for (const f of Object.values(cases)) tf.dispose(f());
const median = (xs: number[]) => [...xs].sort((a, c) => a - c)[xs.length >> 1];
console.log(`load ${loadavg().map((x) => x.toFixed(1)).join(' / ')}`);
for (let r = 0; r < Number(values.reps); r++) {
  for (const [name, f] of Object.entries(cases)) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const y = f();
    const ys = Array.isArray(y) ? y : [y];
    ys[0].dataSync();
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    tf.dispose(ys);
    times.get(name)!.wall.push(wall);
    times.get(name)!.cpu.push((c.user + c.system) / 1000);
  }
}
console.log('case                          wall ms   CPU ms (medians)');
for (const [name, t] of times) console.log(`${name.padEnd(28)} ${median(t.wall).toFixed(2).padStart(8)} ${median(t.cpu).toFixed(2).padStart(8)}`);
console.log(`load ${loadavg().map((x) => x.toFixed(1)).join(' / ')}`);
