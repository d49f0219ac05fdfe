// Where a training step's time goes: kernel counts and kernel times per kernel name from
// tf.profile, for one step of a model after warm-up steps, on the backend `auto` picks.
//
//   npx tsx bench/peer/profile-step.ts [--config seed|medium|small] [--batch 32] [--warmup 2] [--top 25]
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendRequest } from '../../src/backend/index.js';
import { peerTraining } from './configs.js';

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: 'seed' },
    batch: { type: 'string', default: '32' },
    warmup: { type: 'string', default: '2' },
    top: { type: 'string', default: '25' },
    shapes: { type: 'boolean', default: false },
    backend: { type: 'string', default: 'auto' },
  },
});

tf.env().set('PROD', true);
const backend = await initBackend(values.backend as BackendRequest);
const batch = Number(values.batch);
const { spec, step } = await peerTraining(values.config!, batch);
for (let s = 0; s < Number(values.warmup); s++) step(s);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const info = await tf.profile(() => step(99));
const wall = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const byName = new Map<string, { count: number; ms: number }>();
for (const k of info.kernels) {
  const key = values.shapes ? `${k.name} ${JSON.stringify(k.inputShapes)}` : k.name;
  const r = byName.get(key) ?? { count: 0, ms: 0 };
  r.count += 1;
  r.ms += Number(k.kernelTimeMs);
  byName.set(key, r);
}
const rows = [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms);
const totalMs = rows.reduce((n, [, r]) => n + r.ms, 0);
console.log(`backend ${backend.name}; ${spec.label}; batch ${batch}; load ${loadavg().map((x) => x.toFixed(1)).join(' / ')}`);
console.log(`one profiled step: wall ${wall.toFixed(0)} ms, CPU ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms, ${info.kernels.length} kernels, kernel time ${totalMs.toFixed(0)} ms`);
for (const [name, r] of rows.slice(0, Number(values.top))) {
  console.log(`${name.padEnd(values.shapes ? 70 : 28)} ${String(r.count).padStart(6)}  ${r.ms.toFixed(1).padStart(9)} ms  ${((100 * r.ms) / totalMs).toFixed(1).padStart(5)} %`);
}
