// Training step time of every member of a sweep, measured side by side: one step of each
// member in turn, round after round, so that a load that comes and goes on a shared machine
// falls on all of them alike. Prints each member's median ms/step, its ratio to the first
// member, and the steps that fill a wall-clock budget at that speed (what a sweep at the
// same budget sets as each member's train.steps).
//   npm run bench:sweep-steps -- experiments/sweeps/mnist-quick-gated-vs-residual.yaml [--rounds 20] [--budget-s 240]
import * as tf from '@tensorflow/tfjs';
import { cpus, loadavg } from 'node:os';
import { initBackend } from '../src/backend/index.js';
import { EpochOrder, loadDataset } from '../src/data/index.js';
import { PixelCNN } from '../src/model/pixelcnn.js';
import { loadSweep } from '../src/sweep/definition.js';
import { measureStepMemory, memoryBudget, stepBytes } from '../src/train/memory.js';
import { makeOptimizer } from '../src/train/optimizer.js';
import { trainStep } from '../src/train/trainer.js';

const argv = process.argv.slice(2);
const file = argv.find((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--'));
const flag = (name: string, fallback: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const rounds = flag('rounds', 20);
const budgetSeconds = flag('budget-s', 240);
const WARM_UP = 2;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => loadavg().map((x) => x.toFixed(1)).join(' / ');

async function main(): Promise<void> {
  if (file === undefined) throw new Error('usage: sweep-steps SWEEP_FILE [--rounds N] [--budget-s S]');
  tf.env().set('PROD', true);
  const sweep = loadSweep(file);
  const first = sweep.members[0].experiment;
  const backend = await initBackend(first.backend);
  const data = await loadDataset(first.dataset);
  const image = { height: data.height, width: data.width, channels: data.channels };
  console.log(`${sweep.name}: backend ${backend.name} (${backend.device}); ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}); ${rounds} rounds after ${WARM_UP} warm-up; load average ${load()}`);
  const members = await Promise.all(
    sweep.members.map(async (m) => {
      const e = m.experiment;
      const budget = memoryBudget(backend.name);
      const recompute = e.train.recompute === 'always' || (e.train.recompute === 'auto' && Number.isFinite(budget) && stepBytes(await measureStepMemory(e.model, image, false), e.train.batch_size) > budget);
      const model = new PixelCNN(e.model, image, e.seed);
      return { name: m.name, e, model, recompute, optimizer: makeOptimizer(e.train.optimizer), order: new EpochOrder(e.seed, data.train.count, e.train.batch_size), times: [] as number[] };
    }),
  );
  for (let r = 0; r < rounds + WARM_UP; r++) {
    for (const m of members) {
      const t0 = performance.now();
      const loss = trainStep(m.model, m.optimizer, data.train, m.order.forStep(r), m.e.model.color_levels, m.recompute);
      await loss.data();
      loss.dispose();
      if (r >= WARM_UP) m.times.push(performance.now() - t0);
    }
  }
  const base = median(members[0].times);
  console.log(`member            params  ms/step (median)  ratio to ${members[0].name}  steps in ${budgetSeconds} s`);
  for (const m of members) {
    const ms = median(m.times);
    console.log(`${m.name.padEnd(16)} ${String(m.model.paramCount()).padStart(7)}  ${ms.toFixed(1).padStart(16)}  ${(ms / base).toFixed(3).padStart(9 + members[0].name.length)}  ${String(Math.round((budgetSeconds * 1000) / ms)).padStart(11)}`);
    m.optimizer.dispose();
    m.model.dispose();
  }
  console.log(`load average after: ${load()}`);
}

await main();
