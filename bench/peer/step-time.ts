// Wall and CPU time (user, system) of training steps, one line per step, then medians:
// the unit the other peer scripts and the environment-variable comparisons are built on.
//
//   npx tsx bench/peer/step-time.ts [--config seed] [--batch 32] [--steps 4] [--warmup 1] [--json]
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendRequest } from '../../src/backend/index.js';
import { peerTraining } from './configs.js';

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: 'seed' },
    batch: { type: 'string', default: '32' },
    steps: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '1' },
    backend: { type: 'string', default: 'auto' },
    json: { type: 'boolean', default: false },
  },
});

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

tf.env().set('PROD', true);
const backend = await initBackend(values.backend as BackendRequest);
const batch = Number(values.batch);
const { spec, model, step } = await peerTraining(values.config!, batch);
const rows: { wall: number; user: number; sys: number; loss: number }[] = [];
const total = Number(values.warmup) + Number(values.steps);
for (let s = 0; s < total; s++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = step(s);
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const row = { wall, user: c.user / 1000, sys: c.system / 1000, loss: value };
  if (s >= Number(values.warmup)) rows.push(row);
  if (!values.json) console.log(`step ${s}${s < Number(values.warmup) ? ' (warm-up)' : ''}: wall ${wall.toFixed(0)} ms, user ${row.user.toFixed(0)} ms, sys ${row.sys.toFixed(0)} ms, loss ${value.toFixed(4)}`);
}
const summary = {
  backend: backend.name,
  config: spec.key,
  params: model.paramCount(),
  wall: median(rows.map((r) => r.wall)),
  cpu: median(rows.map((r) => r.user + r.sys)),
  user: median(rows.map((r) => r.user)),
  sys: median(rows.map((r) => r.sys)),
  steps: rows,
  load: loadavg()[0],
  tensors: tf.memory().numTensors,
};
if (values.json) console.log(`PXL_STEPS ${JSON.stringify(summary)}`);
else console.log(`median: wall ${summary.wall.toFixed(0)} ms, CPU ${summary.cpu.toFixed(0)} ms (user ${summary.user.toFixed(0)}, sys ${summary.sys.toFixed(0)}); load ${summary.load.toFixed(1)}; ${summary.tensors} tensors`);
