// pxl against PyTorch on the same machine, side by side in one run: the same PixelCNN
// architecture (bench/peer/torch_peer.py is PyTorch's, written independently; the parameter
// counts must match exactly), the same MNIST batches of 32, Adam at 1e-3, for three residual
// sizes and a gated model (experiments/mnist-gated.yaml against torch_peer.py's own gated
// PixelCNN); then sampling 64 images of the seed model (--sample-config gated for the gated
// one): PyTorch's naive sampler (extrapolated) against pxl's cached one.
//
//   npm run bench:peer [-- --configs small,medium,seed,gated --rounds 8,5,3,3 --threads 2 --no-sampling --own-init]
//
// PyTorch's model starts from pxl's initial weights (unless --own-init), so the losses of the
// first steps must agree: a check that the two compute the same thing, beyond the parameter
// count.
// pxl runs in this process on the backend `auto` picks (tensorflow when tfjs-node is set up,
// else wasm); PyTorch in a child python process (/usr/bin/python3 by default, PXL_PEER_PYTHON
// overrides) that waits for each command. Steps alternate between the two, and which goes
// first alternates by round, so that the machine's load (other jobs share its 2 cores)
// falls on both alike. Each number is a median over rounds; CPU time per step (all threads of
// the process) is printed too: time-slicing by other jobs stretches wall time but moves CPU
// time much less. GFLOP/s count the same nominal arithmetic for both (3 forward passes of
// multiply-adds per training step, masked taps included) and are set against the machine's
// FMA limit, measured here by a C loop (bench/peer/fma.c).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendRequest } from '../../src/backend/index.js';
import { loadExperiment } from '../../src/config/load.js';
import { EpochOrder, loadDataset, type Dataset } from '../../src/data/index.js';
import { PixelCNN } from '../../src/model/pixelcnn.js';
import { samplerFor } from '../../src/sample/index.js';
import { makeOptimizer } from '../../src/train/optimizer.js';
import { trainStep } from '../../src/train/trainer.js';
import { PEER_CONFIGS, type PeerConfig } from './configs.js';
import { Torch, defaultPython, shareWeights, torchSpec } from './torch-child.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const MNIST = { height: 28, width: 28, channels: 1 };

const { values } = parseArgs({
  options: {
    configs: { type: 'string', default: 'small,medium,seed,gated' },
    rounds: { type: 'string', default: '8,5,3,3' },
    warmup: { type: 'string', default: '2,2,1,1' },
    batch: { type: 'string', default: '32' },
    threads: { type: 'string', default: String(cpus().length) },
    backend: { type: 'string', default: 'auto' },
    'no-sampling': { type: 'boolean', default: false },
    'sample-count': { type: 'string', default: '64' },
    'sample-config': { type: 'string', default: 'seed' },
    'naive-positions': { type: 'string', default: '4' },
    'cached-runs': { type: 'string', default: '3' },
    json: { type: 'string' },
    'own-init': { type: 'boolean', default: false },
  },
});

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const perConfig = (list: string, i: number): number => Number(list.split(',')[Math.min(i, list.split(',').length - 1)]);
const load = () => loadavg().map((x) => x.toFixed(1)).join(' / ');
const fmt = (x: number, digits = 0) => x.toFixed(digits);

interface Timing {
  wall: number;
  cpu: number;
}

interface FmaResult {
  threads: number;
  gflops: number;
  gflops_per_cpu_second: number;
}

/** Builds and runs bench/peer/fma.c with 1 and with `threads` threads, best of `runs` each. */
function measureFma(threads: number, runs = 3): { one: FmaResult; all: FmaResult } | string {
  const dir = mkdtempSync(join(tmpdir(), 'pxl-fma-'));
  const exe = join(dir, 'fma');
  try {
    execFileSync('gcc', ['-O3', '-march=native', '-fopenmp', join(HERE, 'fma.c'), '-o', exe], { stdio: 'pipe' });
  } catch (err) {
    return `gcc could not build the FMA loop: ${String((err as Error).message).split('\n')[0]}`;
  }
  const run = (n: number): FmaResult => {
    const results = Array.from({ length: runs }, () => JSON.parse(execFileSync(exe, { env: { ...process.env, OMP_NUM_THREADS: String(n) }, encoding: 'utf8' })) as FmaResult);
    return results.reduce((best, r) => (r.gflops_per_cpu_second > best.gflops_per_cpu_second ? { ...r, gflops: Math.max(best.gflops, r.gflops) } : { ...best, gflops: Math.max(best.gflops, r.gflops) }));
  };
  return { one: run(1), all: run(threads) };
}

/** Largest float32 matMul rate pxl's backend reaches (2048 x 2048, best of 5). */
function pxlMatMulPeak(n = 2048, reps = 5): number {
  const [a, b] = [tf.randomNormal([n, n]), tf.randomNormal([n, n])] as tf.Tensor2D[];
  tf.matMul(a, b).dispose();
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    const c = tf.matMul(a, b);
    c.dataSync();
    best = Math.min(best, performance.now() - t0);
    c.dispose();
  }
  tf.dispose([a, b]);
  return (2 * n ** 3) / (best / 1000) / 1e9;
}

interface ConfigResult {
  key: string;
  label: string;
  params: number;
  gflopPerImage: number;
  pxl: Timing[];
  torch: Timing[];
  pxlLoss: number[];
  torchLoss: number[];
  loadAfter: string;
}

async function compareTraining(spec: PeerConfig, index: number, torch: Torch, data: Dataset, batch: number): Promise<ConfigResult> {
  const { experiment: e } = loadExperiment(spec.file, [...spec.sets, `train.batch_size=${batch}`, 'train.optimizer.learning_rate=0.001']);
  const model = new PixelCNN(e.model, MNIST, e.seed);
  const optimizer = makeOptimizer(e.train.optimizer);
  const { params } = await torch.ask<{ params: number }>(torchSpec(e, data));
  if (params !== model.paramCount()) {
    throw new Error(`${spec.label}: PyTorch's model has ${params} parameters, pxl's ${model.paramCount()}: not the same architecture`);
  }
  if (!values['own-init']) await shareWeights(model, torch);
  const order = new EpochOrder(0, data.train.count, batch);
  const levels = e.model.color_levels;
  const pxlStep = (s: number): Timing & { loss: number } => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const loss = trainStep(model, optimizer, data.train, order.forStep(s), levels);
    const value = loss.dataSync()[0];
    loss.dispose();
    const c = process.cpuUsage(c0);
    return { wall: performance.now() - t0, cpu: (c.user + c.system) / 1000, loss: value };
  };
  const torchStep = async (s: number): Promise<Timing & { loss: number }> => {
    const r = await torch.ask<{ wall_ms: number; cpu_ms: number; loss: number }>({ cmd: 'step', indices: Array.from(order.forStep(s)) });
    return { wall: r.wall_ms, cpu: r.cpu_ms, loss: r.loss };
  };
  const result: ConfigResult = {
    key: spec.key, label: spec.label, params, gflopPerImage: (model.macsPerImage() * 3 * 2) / 1e9,
    pxl: [], torch: [], pxlLoss: [], torchLoss: [], loadAfter: '',
  };
  const warmup = perConfig(values.warmup, index);
  const rounds = perConfig(values.rounds, index);
  console.log(`\n${spec.label}: ${params.toLocaleString('en-US')} parameters in both${values['own-init'] ? '' : ', PyTorch starting from pxl\'s weights'}; ${warmup} warm-up step(s) each, then ${rounds} rounds`);
  for (let s = 0; s < warmup + rounds; s++) {
    const torchFirst = s % 2 === 1;
    const a = torchFirst ? await torchStep(s) : pxlStep(s);
    const b = torchFirst ? pxlStep(s) : await torchStep(s);
    const [p, t] = torchFirst ? [b, a] : [a, b];
    const tag = s < warmup ? 'warm-up' : `round ${s - warmup + 1}`;
    console.log(`  ${tag.padEnd(8)} pxl ${fmt(p.wall).padStart(6)} ms (CPU ${fmt(p.cpu).padStart(6)})  PyTorch ${fmt(t.wall).padStart(6)} ms (CPU ${fmt(t.cpu).padStart(6)})  loss ${p.loss.toFixed(4)} / ${t.loss.toFixed(4)}  load ${loadavg()[0].toFixed(1)}`);
    if (s >= warmup) {
      result.pxl.push(p);
      result.torch.push(t);
      result.pxlLoss.push(p.loss);
      result.torchLoss.push(t.loss);
    }
  }
  result.loadAfter = load();
  optimizer.dispose();
  model.dispose();
  return result;
}

interface SamplingResult {
  count: number;
  pxlCached: number[];
  pxlNaivePerPosition: number;
  torchNaivePerPosition: number;
  positions: number;
  load: string;
}

class Stop extends Error {}

/** Seconds per position of pxl's naive sampler: median over `positions` after a warm-up one. */
async function pxlNaivePerPosition(model: PixelCNN, count: number, positions: number): Promise<number> {
  const stamps = [performance.now()];
  try {
    await samplerFor('naive').sample(model, {
      count, temperature: 1, seed: 0,
      onProgress: (done) => {
        stamps.push(performance.now());
        if (done === positions + 1) throw new Stop();
      },
    });
  } catch (err) {
    if (!(err instanceof Stop)) throw err;
  }
  const steps = stamps.slice(1).map((s, i) => (s - stamps[i]) / 1000);
  return median(steps.slice(1));
}

async function compareSampling(torch: Torch, data: Dataset): Promise<SamplingResult> {
  const spec = PEER_CONFIGS.find((c) => c.key === values['sample-config']);
  if (!spec) throw new Error(`unknown --sample-config ${values['sample-config']}: expected ${PEER_CONFIGS.map((c) => c.key).join(', ')}`);
  const { experiment: e } = loadExperiment(spec.file, spec.sets);
  const count = Number(values['sample-count']);
  const positions = Number(values['naive-positions']);
  const model = new PixelCNN(e.model, MNIST, e.seed);
  await torch.ask(torchSpec(e, data));
  console.log(`\nsampling ${count} images of the ${spec.label} model (untrained weights: the cost does not depend on them)`);
  const pxlCached: number[] = [];
  for (let r = 0; r < Number(values['cached-runs']); r++) {
    const { seconds } = await samplerFor('cached').sample(model, { count, temperature: 1, seed: r });
    pxlCached.push(seconds);
    console.log(`  pxl cached, run ${r + 1}: ${seconds.toFixed(2)} s; load ${loadavg()[0].toFixed(1)}`);
  }
  const t = await torch.ask<{ steps: { wall_ms: number }[] }>({ cmd: 'sample', count, positions: positions + 1 });
  const torchNaive = median(t.steps.slice(1).map((s) => s.wall_ms / 1000));
  console.log(`  PyTorch naive: ${t.steps.map((s) => (s.wall_ms / 1000).toFixed(2)).join(', ')} s for its first ${positions + 1} positions (the first warms up)`);
  const pxlNaive = await pxlNaivePerPosition(model, count, positions);
  console.log(`  pxl naive: ${pxlNaive.toFixed(2)} s per position (median of ${positions} after a warm-up one)`);
  model.dispose();
  return { count, pxlCached, pxlNaivePerPosition: pxlNaive, torchNaivePerPosition: torchNaive, positions, load: load() };
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
}

const duration = (s: number) => (s < 120 ? `${s.toFixed(1)} s` : s < 7200 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(2)} h`);

async function main(): Promise<void> {
  const threads = Number(values.threads);
  const batch = Number(values.batch);
  const python = defaultPython();
  tf.env().set('PROD', true);
  const backend = await initBackend(values.backend as BackendRequest);
  const torch = new Torch(python, threads);
  try {
    const info = await torch.ask<{ torch: string; threads: number; config: string[] }>({ cmd: 'info' });
    const cpu = cpus()[0]?.model ?? 'unknown CPU';
    console.log(`machine: ${cpus().length} x ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}; load average ${load()} (1 / 5 / 15 min)`);
    console.log(`pxl: backend ${backend.name} (${backend.device}); ${backend.note}`);
    console.log(`PyTorch ${info.torch} (${python}), ${info.threads} threads; ${info.config.filter((l) => /OpenMP|MKL/.test(l)).map((l) => l.trim()).join('; ')}`);
    const fma = measureFma(threads);
    const matmul = pxlMatMulPeak();
    const torchMatmul = (await torch.ask<{ gflops: number }>({ cmd: 'matmul', n: 2048, reps: 5 })).gflops;
    let limit: number | null = null;
    if (typeof fma === 'string') console.log(`FMA limit: not measured (${fma})`);
    else {
      limit = fma.one.gflops_per_cpu_second * threads;
      console.log(
        `FMA limit (bench/peer/fma.c, ${fma.all.threads} threads): ${fmt(limit)} GFLOP/s (${fmt(fma.one.gflops_per_cpu_second)} per core while it runs; ` +
          `over wall time now: ${fmt(fma.one.gflops)} on 1 thread, ${fmt(fma.all.gflops)} on ${fma.all.threads}, as the load allows)`,
      );
    }
    console.log(`2048x2048 float32 matMul now, best of 5: pxl ${fmt(matmul)} GFLOP/s, PyTorch ${fmt(torchMatmul)} GFLOP/s`);

    const data = await loadDataset({ name: 'mnist' });
    const results: ConfigResult[] = [];
    const keys = values.configs.split(',');
    for (const [i, key] of keys.entries()) {
      const spec = PEER_CONFIGS.find((c) => c.key === key);
      if (!spec) throw new Error(`unknown config ${key}: expected ${PEER_CONFIGS.map((c) => c.key).join(', ')}`);
      results.push(await compareTraining(spec, i, torch, data, batch));
    }
    const sampling = values['no-sampling'] ? null : await compareSampling(torch, data);

    console.log(`\nTraining, batch ${batch}, 28x28, Adam 1e-3: medians over rounds (pxl on ${backend.name}; PyTorch ${info.threads} threads)`);
    const rows = [[
      'model', 'params', 'pxl ms/step', 'PyTorch ms/step', 'pxl img/s', 'PyTorch img/s', 'pxl/PyTorch', 'pxl CPU ms', 'PyTorch CPU ms', 'pxl/PyTorch (CPU)',
      'pxl GFLOP/s', 'PyTorch GFLOP/s', ...(limit ? ['pxl % of FMA', 'PyTorch % of FMA', 'pxl per CPU-s', 'PyTorch per CPU-s'] : []), 'load after',
    ]];
    for (const r of results) {
      const [pw, tw] = [median(r.pxl.map((t) => t.wall)), median(r.torch.map((t) => t.wall))];
      const [pc, tc] = [median(r.pxl.map((t) => t.cpu)), median(r.torch.map((t) => t.cpu))];
      const [pi, ti] = [(batch * 1000) / pw, (batch * 1000) / tw];
      const [pg, tg] = [pi * r.gflopPerImage, ti * r.gflopPerImage];
      // Per CPU-second: the arithmetic done per second of CPU the process got, against one core's FMA rate.
      const [pcs, tcs] = [(batch * r.gflopPerImage * 1000) / pc, (batch * r.gflopPerImage * 1000) / tc];
      rows.push([
        r.label, r.params.toLocaleString('en-US'), fmt(pw), fmt(tw), fmt(pi, 1), fmt(ti, 1), `${(pi / ti).toFixed(2)}x`, fmt(pc), fmt(tc), `${(tc / pc).toFixed(2)}x`,
        fmt(pg, 1), fmt(tg, 1),
        ...(limit ? [`${fmt((100 * pg) / limit, 1)} %`, `${fmt((100 * tg) / limit, 1)} %`, fmt(pcs, 1), fmt(tcs, 1)] : []),
        r.loadAfter,
      ]);
    }
    console.log(table(rows));
    console.log(
      'pxl/PyTorch: images/s ratio (above 1: pxl is faster); (CPU): the ratio of CPU time per step. GFLOP/s: nominal arithmetic ' +
        '(3 forward passes of multiply-adds per step, masked taps counted) over wall time; per CPU-s: the same over CPU time, ' +
        (limit ? `to set against one core's FMA rate of ${fmt(limit / threads)} GFLOP/s.` : 'FMA limit not measured.'),
    );
    if (sampling) {
      const total = MNIST.height * MNIST.width;
      const cached = median(sampling.pxlCached);
      const torchNaive = sampling.torchNaivePerPosition * total;
      const pxlNaive = sampling.pxlNaivePerPosition * total;
      console.log(`\nSampling ${sampling.count} images of the ${values['sample-config']} model (load ${sampling.load} at the end)`);
      console.log(table([
        ['method', 'time', 'vs pxl cached'],
        [`PyTorch naive (one forward pass per pixel), extrapolated*`, duration(torchNaive), `${(torchNaive / cached).toFixed(0)}x`],
        [`pxl naive, extrapolated*`, duration(pxlNaive), `${(pxlNaive / cached).toFixed(0)}x`],
        [`pxl cached (median of ${sampling.pxlCached.length} runs, measured)`, duration(cached), '1x'],
      ]));
      console.log(`* median seconds per position over ${sampling.positions} positions after a warm-up one, times ${total} positions: every naive position is the same full forward pass.`);
    }
    if (values.json) {
      writeFileSync(values.json, `${JSON.stringify({ machine: { cpus: cpus().length, model: cpus()[0]?.model, load: loadavg() }, backend, torch: info, fma, matmul, torchMatmul, limit, results, sampling }, null, 2)}\n`);
      console.log(`\nresults written to ${values.json}`);
    }
  } finally {
    torch.close();
  }
}

await main();
