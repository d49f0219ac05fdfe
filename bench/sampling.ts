// Naive against cached sampling, 64 samples, on the best available backend, for a small model (4
// blocks, h=16), the seed model, the gated model of experiments/mnist-gated.yaml and a 32x32x3 colour model (untrained
// weights: the cost does not depend on their values).
//
//   npm run bench:sampling [-- --configs small,seed,gated,colour --naive-positions 5 --repeats 3 --count 64]
//
// Naive sampling costs one identical full forward pass per pixel position, so where a full
// naive run would take hours it is timed over its first few positions and extrapolated to
// all of them; the output says which numbers are extrapolated.
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { loadExperiment } from '../src/config/load.js';
import { PixelCNN, type ImageShape } from '../src/model/pixelcnn.js';
import { softmaxRows } from '../src/sample/draw.js';
import { samplerFor, type SampleMethod } from '../src/sample/index.js';

/**
 * naiveBatch: images per naive run. The seed model's naive forward pass over 64 images
 * holds about 8 GB of activations, past wasm's 4 GB heap, so it runs 4 batches of 16;
 * its time is linear in the batch (on wasm: 0.38 s per image and position at 8 and at 16).
 */
const CONFIGS: Record<string, { file: string; sets?: string[]; naivePositions: number | 'all'; naiveBatch: number; image?: ImageShape }> = {
  small: { file: 'experiments/mnist-15block.yaml', sets: ['model.blocks.count=4', 'model.hidden=16'], naivePositions: 'all', naiveBatch: 64 },
  seed: { file: 'experiments/mnist-15block.yaml', naivePositions: 5, naiveBatch: 16 },
  gated: { file: 'experiments/mnist-gated.yaml', naivePositions: 5, naiveBatch: 64 },
  // 32x32x3 with channel-ordered masks: each pixel is drawn R, G, then B, three model passes per position.
  colour: { file: 'experiments/cifar10-pixelcnn.yaml', sets: ['model.blocks.count=5', 'model.hidden=30', 'dataset.dir=null', 'dataset.name=mnist', 'dataset.validation=none'], naivePositions: 5, naiveBatch: 64, image: { height: 32, width: 32, channels: 3 } },
};
const MNIST = { height: 28, width: 28, channels: 1 };
let COUNT = 64;
const SEED = 0;

interface PartialRun {
  /** Seconds per position, in order; the first also pays for warm-up. */
  steps: number[];
  logits: Float32Array[];
}

interface NaiveTiming {
  /** For COUNT images over every position, extrapolated where fewer ran. */
  seconds: number;
  perPosition: number;
  run: PartialRun;
  batches: number;
}

interface CachedTiming {
  seconds: number;
  runs: number[];
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

class Stop extends Error {}

/** Runs a sampler itself over `count` images and stops it after `positions` pixel positions. */
async function runFor(method: SampleMethod, model: PixelCNN, count: number, positions: number): Promise<PartialRun> {
  const total = model.image.height * model.image.width;
  const stamps = [performance.now()];
  const logits: Float32Array[] = [];
  const onProgress = (done: number) => {
    stamps.push(performance.now());
    if (done === positions && done < total) throw new Stop();
  };
  try {
    await samplerFor(method).sample(model, { count, temperature: 1, seed: SEED, onProgress, onLogits: (p, l, c) => (logits[p * model.image.channels + c] = l.slice()) });
  } catch (err) {
    if (!(err instanceof Stop)) throw err;
  }
  return { steps: stamps.slice(1).map((s, i) => (s - stamps[i]) / 1000), logits };
}

async function timeNaive(model: PixelCNN, positions: number, batch: number): Promise<NaiveTiming> {
  const total = model.image.height * model.image.width;
  const run = await runFor('naive', model, batch, positions);
  const batches = COUNT / batch;
  // Every position is an identical full forward pass: the median after the warm-up one stands for all.
  const perPosition = median(run.steps.length > 1 ? run.steps.slice(1) : run.steps) * batches;
  const measured = run.steps.reduce((a, b) => a + b, 0) * batches;
  return { seconds: run.steps.length >= total ? measured : perPosition * total, perPosition, run, batches };
}

async function timeCached(model: PixelCNN, repeats: number): Promise<CachedTiming> {
  const runs: number[] = [];
  for (let r = 0; r < repeats; r++) runs.push((await samplerFor('cached').sample(model, { count: COUNT, temperature: 1, seed: SEED })).seconds);
  return { seconds: median(runs), runs };
}

/** Largest difference of the probabilities at the positions both methods ran. */
function agreement(model: PixelCNN, naive: Float32Array[], cached: Float32Array[]): number {
  const L = model.config.color_levels;
  let worst = 0;
  naive.forEach((l, p) => {
    const a = softmaxRows(l, L, 1);
    const b = softmaxRows(cached[p], L, 1);
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  });
  return worst;
}

function time(s: number): string {
  if (s < 60) return `${s.toFixed(2)} s`;
  if (s < 3600) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(2)} h`;
}

const load = () => loadavg().map((x) => x.toFixed(1)).join(' / ');

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { configs: { type: 'string', default: 'small,seed,gated' }, 'naive-positions': { type: 'string' }, repeats: { type: 'string', default: '3' }, count: { type: 'string', default: '64' } },
  });
  COUNT = Number(values.count);
  const names = values.configs.split(',');
  for (const n of names) if (!CONFIGS[n]) throw new Error(`unknown config ${n}: expected ${Object.keys(CONFIGS).join(', ')}`);
  const repeats = Number(values.repeats);
  tf.env().set('PROD', true);
  const backend = await initBackend('auto');
  console.log(`backend: ${backend.name} (${backend.device}); ${backend.note}`);
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}; load average ${load()} (1 / 5 / 15 min) at start`);
  console.log(`${COUNT} samples per run (${MNIST.height}x${MNIST.width}x${MNIST.channels} unless the config says); cached: median of ${repeats} runs\n`);

  const rows = [['config', 'naive', 'cached', 'ratio', 'max |p naive - p cached|', 'load at end']];
  const notes: string[] = [];
  for (const name of names) {
    const { file, sets, naivePositions } = CONFIGS[name];
    const naiveBatch = Math.min(CONFIGS[name].naiveBatch, COUNT);
    const experiment = loadExperiment(file, sets).experiment;
    const model = new PixelCNN(experiment.model, CONFIGS[name].image ?? MNIST, experiment.seed);
    const total = model.image.height * model.image.width;
    const positions = values['naive-positions'] ? Number(values['naive-positions']) : naivePositions === 'all' ? total : naivePositions;
    const cached = await timeCached(model, repeats);
    console.log(`${experiment.name}: cached ${cached.runs.map(time).join(', ')}`);
    const naive = await timeNaive(model, positions, naiveBatch);
    const ran = naive.run.steps.length;
    const batches = naive.batches > 1 ? `; as ${naive.batches} runs of ${naiveBatch} images (a pass over 64 holds ~8 GB of activations, past the 4 GB wasm heap)` : '';
    const how =
      ran >= total
        ? `measured over all ${total} positions${batches}`
        : `extrapolated: ${time(naive.perPosition)} per position (median of ${ran - 1} positions after a warm-up one) x ${total} positions${batches}`;
    console.log(`${experiment.name}: naive ${time(naive.seconds)}, ${how}`);
    // Both methods on the same images over the positions naive ran: the largest probability difference.
    const check = await runFor('cached', model, naiveBatch, ran);
    const mark = ran >= total ? '' : ` (${'*'.repeat(notes.length + 1)})`;
    if (mark) notes.push(`(${'*'.repeat(notes.length + 1)}) ${experiment.name} naive ${how}.`);
    const ratio = naive.seconds / cached.seconds;
    rows.push([experiment.name, `${time(naive.seconds)}${mark}`, time(cached.seconds), `${ratio.toFixed(0)}x`, agreement(model, naive.run.logits, check.logits).toExponential(1), load()]);
    model.dispose();
  }
  console.log(`\n${table(rows)}\n${notes.join('\n')}`);
}

await main();
