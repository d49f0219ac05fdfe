// Conv2D forward and gradient kernels, stock vs pxl, on the cpu and wasm
// backends, for PixelCNN-shaped layers (batch 32, 28x28, 'same'); then a small
// PixelCNN training step on wasm. Run: bash bench/backend-run.sh [--full] [--step-only] [--steps N]
// Stock cpu runs that would take longer than the budget are estimated from the
// rate measured on the smaller layers (--full runs them all: tens of minutes).
import * as tf from '@tensorflow/tfjs';
import { availableParallelism, loadavg } from 'node:os';
import { BackendUnavailableError, initBackend, installKernels, uninstallKernels } from '../src/backend/index.js';
import { type LossKind, buildStepModel, timeSteps } from './backend-train-step.js';

const BATCH = 32;
const SIZE = 28;
const LAYERS = [
  { k: 7, ci: 1, co: 32 },
  { k: 3, ci: 16, co: 16 },
  { k: 1, ci: 32, co: 16 },
  { k: 3, ci: 128, co: 128 },
  { k: 1, ci: 256, co: 128 },
];
type Layer = (typeof LAYERS)[number];
const OPS = ['Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput'] as const;
type Op = (typeof OPS)[number];
const THREADS = availableParallelism();
interface Variant {
  label: string;
  backend: 'cpu' | 'wasm' | 'tensorflow';
  ours: boolean;
  threads: number;
}
const VARIANTS: Variant[] = [
  { label: 'cpu stock', backend: 'cpu', ours: false, threads: 1 },
  { label: 'cpu pxl', backend: 'cpu', ours: true, threads: 1 },
  { label: 'wasm stock', backend: 'wasm', ours: false, threads: 1 },
  { label: 'wasm pxl', backend: 'wasm', ours: true, threads: 1 },
  { label: `wasm pxl ${THREADS} threads`, backend: 'wasm', ours: true, threads: THREADS },
  { label: 'tensorflow (native)', backend: 'tensorflow', ours: false, threads: THREADS },
];

const args = process.argv.slice(2);
const FULL = args.includes('--full');
const STEP_ONLY = args.includes('--step-only');
const STEPS = Number(args[args.indexOf('--steps') + 1]) || 10;
const BUDGET_MS = 30_000;

interface Cell {
  ms: number;
  reps: number;
  estimated?: boolean;
  missing?: string;
}

const macs = (l: Layer) => BATCH * SIZE * SIZE * l.k * l.k * l.ci * l.co;

function kernelCall(op: Op, l: Layer): { inputs: tf.NamedTensorMap; attrs: tf.NamedAttrMap } {
  const x = tf.randomNormal([BATCH, SIZE, SIZE, l.ci], 0, 1, 'float32', 1);
  const filter = tf.randomNormal([l.k, l.k, l.ci, l.co], 0, 1, 'float32', 2);
  const dy = tf.randomNormal([BATCH, SIZE, SIZE, l.co], 0, 1, 'float32', 3);
  const common = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC' };
  if (op === 'Conv2D') return { inputs: { x, filter }, attrs: { ...common, dilations: [1, 1] } };
  if (op === 'Conv2DBackpropFilter') return { inputs: { x, dy }, attrs: { ...common, filterShape: filter.shape } };
  return { inputs: { dy, filter }, attrs: { ...common, inputShape: x.shape } };
}

type Clock = () => number;
/** This process's CPU time in ms: unlike wall time, barely moved by other load on a shared machine. */
const cpuClock: Clock = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
const wallClock: Clock = () => performance.now();
// Single-threaded runs are timed in CPU time; threaded ones (native TensorFlow too) only on the wall.
const clockFor = (v: Variant): Clock => (v.threads === 1 ? cpuClock : wallClock);

// Fresh copies of the inputs for every run: wasm caches XNNPACK operators (with
// their packed weights) per filter tensor, and in training every filter and dy
// is a new tensor each step, so a reused one would time a cache hit.
function runOnce(op: Op, call: ReturnType<typeof kernelCall>, clock: Clock): number {
  const inputs = tf.tidy(() => Object.fromEntries(Object.entries(call.inputs).map(([k, t]) => [k, tf.add(t, 0)])));
  const start = clock();
  const out = tf.engine().runKernel(op, inputs, call.attrs) as tf.Tensor;
  out.dataSync();
  const elapsed = clock() - start;
  tf.dispose([out, ...Object.values(inputs)]);
  return elapsed;
}

/** Median of repeated runs; one run when a single one takes seconds. */
function timeOp(op: Op, l: Layer, clock: Clock): Cell {
  const call = kernelCall(op, l);
  try {
    const first = runOnce(op, call, clock);
    if (first > 2000) return { ms: first, reps: 1 };
    const times: number[] = [];
    const until = performance.now() + 2000;
    while (times.length < 3 || (times.length < 20 && performance.now() < until)) times.push(runOnce(op, call, clock));
    times.sort((a, b) => a - b);
    return { ms: times[Math.floor(times.length / 2)], reps: times.length };
  } catch (err) {
    return { ms: NaN, reps: 0, missing: /not registered/.test(String(err)) ? 'not registered' : String(err) };
  } finally {
    tf.dispose(Object.values(call.inputs));
  }
}

/** Starts the variant's backend; false when it cannot run here (native TensorFlow not installed). */
async function useVariant(v: Variant): Promise<boolean> {
  try {
    await initBackend(v.backend, { wasmThreads: v.threads });
  } catch (err) {
    if (err instanceof BackendUnavailableError) return false;
    throw err;
  }
  if (v.ours) installKernels(v.backend);
  else uninstallKernels(v.backend);
  return true;
}

/** Measures every layer and op for one variant; skips (estimates) runs longer than the budget. */
async function measureVariant(v: Variant, results: Map<string, Cell>): Promise<void> {
  if (!(await useVariant(v))) {
    for (const l of LAYERS) for (const op of OPS) results.set(`${v.label}|${op}|${JSON.stringify(l)}`, { ms: NaN, reps: 0, missing: 'not installed' });
    return;
  }
  const rate = new Map<Op, number>(); // MAC per ms seen on the smaller layers
  for (const l of LAYERS)
    for (const op of OPS) {
      const key = `${v.label}|${op}|${JSON.stringify(l)}`;
      const known = rate.get(op);
      if (!FULL && known && macs(l) / known > BUDGET_MS) {
        results.set(key, { ms: macs(l) / known, reps: 0, estimated: true });
        continue;
      }
      const cell = timeOp(op, l, clockFor(v));
      if (!Number.isNaN(cell.ms)) rate.set(op, Math.min(known ?? Infinity, macs(l) / cell.ms));
      results.set(key, cell);
      process.stderr.write(`${v.label} ${op} ${l.k}x${l.k} ${l.ci}->${l.co}: ${formatCell(cell, l)}\n`);
    }
}

function formatCell(c: Cell, l: Layer): string {
  if (c.missing) return c.missing;
  const gflops = (2 * macs(l)) / c.ms / 1e6;
  const time = c.ms >= 10_000 ? `${(c.ms / 1000).toFixed(0)} s` : `${c.ms >= 100 ? c.ms.toFixed(0) : c.ms.toFixed(1)} ms`;
  return `${c.estimated ? '~' : ''}${time} (${gflops.toFixed(gflops < 1 ? 2 : 1)})${c.estimated ? ' est.' : ''}`;
}

function table(results: Map<string, Cell>): string {
  const head = `| layer | kernel | ${VARIANTS.map((v) => v.label).join(' | ')} |`;
  const rule = `|${' --- |'.repeat(VARIANTS.length + 2)}`;
  const rows = LAYERS.flatMap((l) =>
    OPS.map((op) => {
      const cells = VARIANTS.map((v) => formatCell(results.get(`${v.label}|${op}|${JSON.stringify(l)}`)!, l));
      return `| ${l.k}x${l.k} ${l.ci}→${l.co} | ${op.replace('Conv2DBackprop', 'd')} | ${cells.join(' | ')} |`;
    }));
  return [head, rule, ...rows].join('\n');
}

async function trainStep(backend: 'wasm' | 'tensorflow', loss: LossKind, threads: number): Promise<string> {
  let info;
  try {
    info = await initBackend(backend, { wasmThreads: threads });
  } catch (err) {
    if (err instanceof BackendUnavailableError) return `| ${backend}: not available here | ${loss} | | | | |`;
    throw err;
  }
  const model = buildStepModel(2, 16, BATCH, loss, SIZE);
  const { wallMs, cpuMs, firstLoss, lastLoss } = timeSteps(model, 2, STEPS, cpuClock);
  const gflops = (3 * 2 * model.forwardMacs) / wallMs / 1e6;
  model.dispose();
  return `| ${info.device} | ${loss} | ${wallMs.toFixed(0)} | ${cpuMs.toFixed(0)} | ${gflops.toFixed(1)} | ${firstLoss.toFixed(3)} → ${lastLoss.toFixed(3)} |`;
}

async function trainSteps(): Promise<void> {
  console.log(`\ntraining step: 2 residual blocks, h=16, batch ${BATCH}, Adam; median of ${STEPS} steps after 2 warm-up`);
  console.log('| backend | loss | wall ms/step | CPU ms/step (all threads) | conv GFLOP/s (wall) | loss first → last |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  const runs = [['wasm', 'tf', 1], ['wasm', 'fused', 1], ['wasm', 'fused', THREADS], ['tensorflow', 'fused', THREADS]] as const;
  for (const [backend, loss, n] of runs) console.log(await trainStep(backend, loss, n));
}

async function main(): Promise<void> {
  const info = await initBackend('wasm'); // registers the wasm backend
  const results = new Map<string, Cell>();
  if (!STEP_ONLY) {
    for (const v of VARIANTS) await measureVariant(v, results);
    console.log(`batch ${BATCH}, ${SIZE}x${SIZE}, 'same' padding; median ms (GFLOP/s): CPU time for 1-thread columns, ` +
      `wall time for the threaded one; ${info.device}; load average ${loadavg()[0].toFixed(1)}`);
    console.log(table(results));
  }
  await trainSteps();
  console.log(`load average at the end: ${loadavg()[0].toFixed(1)}`);
}

await main();
