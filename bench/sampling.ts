// Naive against cached sampling, 64 samples, on the best available backend, for a small model (4
// blocks, h=16), the seed model, the gated model of experiments/mnist-gated.yaml and a 32x32x3 colour model (untrained
// weights: the cost does not depend on their values).
//
//   npm run bench:sampling [-- --configs small,seed,gated,colour --naive-positions 5 --repeats 3 --count 64]
//
// Naive sampling costs one identical full forward pass per pixel position, so where a full
// naive run would take hours it is timed over its first few positions and extrapolated to
// all of them; the output says which numbers are extrapolated.
//
// On native TensorFlow the cached sampler runs twice per repeat, alternating: with its
// per-position ops through tfjs's engine (before: native part 'position' off) and as direct
// TensorFlow calls (after). For each it prints the time per pixel, the backend ops it runs per
// pixel and how much of a pixel's time is spent inside those ops.
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { nativeParts, setNativeParts, type NativePart } from '../src/backend/native-ops.js';
import { loadExperiment } from '../src/config/load.js';
import { PixelCNN, type ImageShape } from '../src/model/pixelcnn.js';
import { softmaxRows } from '../src/sample/draw.js';
import { samplerFor, type SampleMethod } from '../src/sample/index.js';
import { countBackendOps } from './backend-ops.js';

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
const ALL_PARTS = nativeParts();
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
  /** CPU seconds of the process per run (all threads), median. */
  cpu: number;
}

/** A way of running the cached sampler: the native parts switched on while it runs. */
interface Variant {
  name: string;
  parts: NativePart[];
}

interface PixelProfile {
  ops: number;
  /** Milliseconds per pixel inside the backend's ops (native only). */
  opMs: number | null;
  top: string;
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

/** Each variant `repeats` times, taking turns so that the load falls on all alike. */
async function timeCached(model: PixelCNN, repeats: number, variants: Variant[]): Promise<CachedTiming[]> {
  const runs = variants.map(() => ({ wall: [] as number[], cpu: [] as number[] }));
  for (let r = 0; r < repeats; r++) {
    for (const [k, v] of variants.entries()) {
      setNativeParts(v.parts);
      const c0 = process.cpuUsage();
      runs[k].wall.push((await samplerFor('cached').sample(model, { count: COUNT, temperature: 1, seed: SEED })).seconds);
      const c = process.cpuUsage(c0);
      runs[k].cpu.push((c.user + c.system) / 1e6);
    }
  }
  setNativeParts(ALL_PARTS);
  return runs.map((r) => ({ seconds: median(r.wall), runs: r.wall, cpu: median(r.cpu) }));
}

/** The backend ops per pixel of a variant, counted over the first `positions` positions (the fold before them included). */
async function profilePixel(model: PixelCNN, variant: Variant, positions: number): Promise<PixelProfile> {
  setNativeParts(variant.parts);
  let wall = 0;
  const count = await countBackendOps(async () => {
    const t0 = performance.now();
    await runFor('cached', model, COUNT, positions);
    wall = performance.now() - t0;
  });
  setNativeParts(ALL_PARTS);
  const top = count.byName.slice(0, 6).map(([name, n]) => `${name} ${(n / positions).toFixed(1)}`).join(', ');
  return { ops: count.ops / positions, opMs: count.opMs === null ? null : count.opMs / positions, top: `${top}; ${(wall / positions).toFixed(2)} ms per pixel while counted` };
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
    options: {
      configs: { type: 'string', default: 'small,seed,gated' },
      'naive-positions': { type: 'string' },
      repeats: { type: 'string', default: '3' },
      count: { type: 'string', default: '64' },
      'profile-positions': { type: 'string', default: '56' },
    },
  });
  COUNT = Number(values.count);
  const names = values.configs.split(',');
  for (const n of names) if (!CONFIGS[n]) throw new Error(`unknown config ${n}: expected ${Object.keys(CONFIGS).join(', ')}`);
  const repeats = Number(values.repeats);
  const profilePositions = Number(values['profile-positions']);
  tf.env().set('PROD', true);
  const backend = await initBackend('auto');
  const variants: Variant[] = backend.name === 'tensorflow'
    ? [{ name: 'before (tfjs ops)', parts: ALL_PARTS.filter((p) => p !== 'position') }, { name: 'after (TensorFlow calls)', parts: ALL_PARTS }]
    : [{ name: backend.name, parts: ALL_PARTS }];
  console.log(`backend: ${backend.name} (${backend.device}); ${backend.note}`);
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}; load average ${load()} (1 / 5 / 15 min) at start`);
  console.log(`${COUNT} samples per run (${MNIST.height}x${MNIST.width}x${MNIST.channels} unless the config says); cached: median of ${repeats} runs${variants.length > 1 ? ` of each variant, taking turns: ${variants.map((v) => v.name).join(', ')}` : ''}\n`);

  const total = MNIST.height * MNIST.width;
  const rows = [['config', 'naive', ...variants.map((v) => `cached ${v.name}`), 'naive / cached', 'max |p naive - p cached|', 'load at end']];
  const pixelRows = [['config', 'variant', 'ms per pixel', 'CPU ms per pixel', 'backend ops per pixel', 'ms per pixel in those ops', 'most run ops per pixel']];
  const notes: string[] = [];
  for (const name of names) {
    const { file, sets, naivePositions } = CONFIGS[name];
    const naiveBatch = Math.min(CONFIGS[name].naiveBatch, COUNT);
    const experiment = loadExperiment(file, sets).experiment;
    const model = new PixelCNN(experiment.model, CONFIGS[name].image ?? MNIST, experiment.seed);
    const total = model.image.height * model.image.width;
    const positions = values['naive-positions'] ? Number(values['naive-positions']) : naivePositions === 'all' ? total : naivePositions;
    const cached = await timeCached(model, repeats, variants);
    for (const [k, v] of variants.entries()) {
      console.log(`${name}: cached ${v.name} ${cached[k].runs.map(time).join(', ')} (CPU ${cached[k].cpu.toFixed(2)} s)`);
      const p = await profilePixel(model, v, Math.min(profilePositions, total));
      const opMs = p.opMs === null ? 'n/a' : p.opMs.toFixed(2);
      pixelRows.push([name, v.name, ((1000 * cached[k].seconds) / total).toFixed(2), ((1000 * cached[k].cpu) / total).toFixed(2), p.ops.toFixed(1), opMs, p.top]);
    }
    const best = cached.at(-1)!;
    const naive = await timeNaive(model, positions, naiveBatch);
    const ran = naive.run.steps.length;
    const batches = naive.batches > 1 ? `; as ${naive.batches} runs of ${naiveBatch} images (a pass over 64 holds ~8 GB of activations, past the 4 GB wasm heap)` : '';
    const how =
      ran >= total
        ? `measured over all ${total} positions${batches}`
        : `extrapolated: ${time(naive.perPosition)} per position (median of ${ran - 1} positions after a warm-up one) x ${total} positions${batches}`;
    console.log(`${name}: naive ${time(naive.seconds)}, ${how}`);
    // Both methods on the same images over the positions naive ran: the largest probability difference.
    const check = await runFor('cached', model, naiveBatch, ran);
    const mark = ran >= total ? '' : ` (${'*'.repeat(notes.length + 1)})`;
    if (mark) notes.push(`(${'*'.repeat(notes.length + 1)}) ${name} naive ${how}.`);
    const ratio = naive.seconds / best.seconds;
    rows.push([name, `${time(naive.seconds)}${mark}`, ...cached.map((c) => time(c.seconds)), `${ratio.toFixed(0)}x`, agreement(model, naive.run.logits, check.logits).toExponential(1), load()]);
    model.dispose();
  }
  console.log(`\n${table(rows)}\n${notes.join('\n')}`);
  console.log(`\nper pixel (the first ${profilePositions} positions counted; times per pixel from the medians above):\n${table(pixelRows)}`);
}

await main();
