// Training throughput of real PixelCNNs on real MNIST batches: images/s and GFLOP/s for
// a small model, the quick config, a medium one, the reference model and a 32x32x3 colour model, on the backend `auto`
// picks (or --backend). Medians over timed steps after warm-up, with the CPU time per step (all
// threads) and the load average.
//   npm run bench:train [-- --backend wasm --steps 5 --configs small,quick,medium,seed,colour]
//   npm run bench:train -- --variants [--steps 30]: the quick config's step with and without each
//   training-recipe feature (weight averaging, weight decay, clipping by global norm, dropout), the
//   variants taking turns step by step so that load changes hit them alike.
import * as tf from '@tensorflow/tfjs';
import { cpus, loadavg } from 'node:os';
import { BackendUnavailableError, initBackend, type BackendRequest } from '../src/backend/index.js';
import { loadExperiment } from '../src/config/load.js';
import { EpochOrder, loadDataset, type ImageSet } from '../src/data/index.js';
import { PixelCNN } from '../src/model/pixelcnn.js';
import { measureStepMemory, memoryBudget, stepBytes } from '../src/train/memory.js';
import { makeOptimizer } from '../src/train/optimizer.js';
import { gradientStep, trainStep } from '../src/train/trainer.js';
import { applyUpdate } from '../src/train/optimizer.js';
import { WeightAverage } from '../src/train/weight-average.js';

const args = new Map<string, string>();
process.argv.slice(2).forEach((a, i, all) => a.startsWith('--') && args.set(a.slice(2), all[i + 1] ?? ''));
const backendRequest = (args.get('backend') ?? 'auto') as BackendRequest;
const batch = Number(args.get('batch') ?? 32);

const CONFIGS = [
  { key: 'small', label: 'small (4 blocks, h=16)', file: 'experiments/mnist-15block.yaml', sets: ['model.blocks.count=4', 'model.hidden=16', 'train.optimizer.learning_rate=0.002'], steps: 20 },
  { key: 'quick', label: 'quick (6 5x5 blocks, h=32)', file: 'experiments/mnist-quick.yaml', sets: [], steps: 10 },
  { key: 'medium', label: 'medium (5 blocks, h=32)', file: 'experiments/mnist-15block.yaml', sets: ['model.blocks.count=5', 'model.hidden=32'], steps: 10 },
  { key: 'seed', label: 'reference (15 blocks, h=128)', file: 'experiments/mnist-15block.yaml', sets: [], steps: 3 },
  // The colour model of the CIFAR-10 experiment, narrowed: 32x32x3 with channel-ordered masks, on MNIST digits framed and tinted.
  { key: 'colour', label: 'colour 32x32x3 (5 blocks, h=30)', file: 'experiments/cifar10-pixelcnn.yaml', sets: ['model.blocks.count=5', 'model.hidden=30', 'dataset.dir=null', 'dataset.name=mnist', 'dataset.validation=none'], steps: 10, image: { height: 32, width: 32, channels: 3 } },
];

const MNIST = { height: 28, width: 28, channels: 1 };

/** The first `count` MNIST digits in a 32x32 frame, tinted (R, G, B scaled differently per image): real strokes at the colour shape. */
function framedColour(set: ImageSet, count: number): ImageSet {
  const images = new Uint8Array(count * 32 * 32 * 3);
  for (let n = 0; n < count; n++) {
    const tint = [1, ((n * 37) % 100) / 100, ((n * 71) % 100) / 100];
    for (let r = 0; r < 28; r++) {
      for (let c = 0; c < 28; c++) {
        const v = set.images[(n * 28 + r) * 28 + c];
        for (let k = 0; k < 3; k++) images[((n * 32 + r + 2) * 32 + c + 2) * 3 + k] = Math.round(v * tint[k]);
      }
    }
  }
  return { count, images, labels: null };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

type Data = Awaited<ReturnType<typeof loadDataset>>;

/** One variant of the quick config's step: what the trainer does for these settings. */
interface Variant {
  label: string;
  ema: boolean;
  weightDecay: number;
  clip: number | null;
  /** model.dropout */
  dropout: number;
}

const VARIANTS: Variant[] = [
  { label: 'plain Adam', ema: false, weightDecay: 0, clip: null, dropout: 0 },
  { label: '+ ema (decay 0.9995)', ema: true, weightDecay: 0, clip: null, dropout: 0 },
  { label: '+ weight_decay 1e-4', ema: false, weightDecay: 1e-4, clip: null, dropout: 0 },
  { label: '+ grad_clip 1 (norm read each step)', ema: false, weightDecay: 0, clip: 1, dropout: 0 },
  { label: '+ dropout 0.5 (model.dropout)', ema: false, weightDecay: 0, clip: null, dropout: 0.5 },
  { label: 'all four', ema: true, weightDecay: 1e-4, clip: 1, dropout: 0.5 },
];

/** Times the variants of the quick config's step side by side (one step of each in turn): medians and the cost against plain Adam. */
async function variants(data: Data, load: () => string): Promise<void> {
  const steps = Number(args.get('steps') ?? 30);
  const { experiment: e } = loadExperiment('experiments/mnist-quick.yaml', [`train.batch_size=${batch}`]);
  const order = new EpochOrder(0, data.train.count, batch);
  const setups = VARIANTS.map((v) => {
    const model = new PixelCNN({ ...e.model, dropout: v.dropout }, { height: 28, width: 28, channels: 1 }, 0);
    return { v, model, optimizer: makeOptimizer({ ...e.train.optimizer, weight_decay: v.weightDecay }), average: v.ema ? new WeightAverage(model, 0.9995) : null, times: [] as number[] };
  });
  for (let s = 0; s < steps + 2; s++) {
    for (const x of setups) {
      const t0 = performance.now();
      const { loss, grads } = gradientStep(x.model, x.optimizer, data.train, order.forStep(s), e.model.color_levels, false, s);
      let applied = grads;
      if (x.v.clip !== null) {
        // As the trainer: the global norm read with the loss, the gradients scaled when above the clip.
        const both = tf.tidy(() => tf.stack([loss, tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g.tensor)))))]));
        const norm = (await both.data())[1];
        both.dispose();
        if (norm > x.v.clip) {
          applied = grads.map((g) => ({ name: g.name, tensor: tf.mul(g.tensor, Math.fround(x.v.clip! / norm)) }));
          tf.dispose(grads.map((g) => g.tensor));
        }
      } else {
        await loss.data();
      }
      loss.dispose();
      applyUpdate(x.optimizer, applied, e.train.optimizer.learning_rate, x.v.weightDecay);
      tf.dispose(applied.map((g) => g.tensor));
      x.average?.update(s + 1); // tf ops run eagerly on the native and wasm backends: the update is done when this returns
      if (s >= 2) x.times.push(performance.now() - t0);
    }
  }
  const base = median(setups[0].times);
  // Noise under load can exceed the averaging's cost: time the update alone as well.
  const alone = setups[1].average!;
  const updates: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    alone.update(1000 + i);
    updates.push(performance.now() - t0);
  }
  console.log(`ema update alone: ${median(updates).toFixed(2)} ms median over 200 (${((median(updates) / base) * 100).toFixed(2)} % of a plain step)`);
  console.log(`quick config, batch ${batch}, ${steps} timed steps of each variant in turn; load average after ${load()}`);
  console.log('variant                                   ms/step (median)  vs plain Adam');
  for (const x of setups) {
    const m = median(x.times);
    console.log(`${x.v.label.padEnd(42)}${m.toFixed(1).padStart(8)}          ${(((m - base) / base) * 100).toFixed(1).padStart(6)} %`);
    x.model.dispose();
    x.optimizer.dispose();
    x.average?.dispose();
  }
}

async function main(): Promise<void> {
  tf.env().set('PROD', true);
  const backend = await initBackend(backendRequest);
  const data = await loadDataset({ name: 'mnist' });
  const load = () => loadavg().map((x) => x.toFixed(1)).join(' / ');
  if (args.has('variants')) {
    console.log(`backend ${backend.name}: ${backend.device}; load average ${load()}`);
    return variants(data, load);
  }
  console.log(`backend ${backend.name}: ${backend.device}; ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}); batch ${batch}; load average ${load()}`);
  console.log('config                          params  ms/step (median)  images/s  GFLOP/s  CPU ms/step  load after');
  const wanted = (args.get('configs') ?? CONFIGS.map((c) => c.key).join(',')).split(',');
  for (const w of wanted) if (!CONFIGS.some((c) => c.key === w)) throw new Error(`unknown config ${w}: expected ${CONFIGS.map((c) => c.key).join(', ')}`);
  for (const c of CONFIGS.filter((x) => wanted.includes(x.key))) {
    const steps = Number(args.get('steps') ?? c.steps);
    const { experiment: e } = loadExperiment(c.file, [...c.sets, `train.batch_size=${batch}`]);
    const image = c.image ?? MNIST;
    const set = c.image ? framedColour(data.train, 4096) : data.train;
    const model = new PixelCNN(e.model, image, 0);
    const optimizer = makeOptimizer(e.train.optimizer);
    const order = new EpochOrder(0, set.count, batch);
    // As pxl run does with train.recompute auto: recompute blocks when a step would not fit (the seed model on wasm).
    const budget = memoryBudget(backend.name);
    const recompute = Number.isFinite(budget) && stepBytes(await measureStepMemory(e.model, image, false), batch) > budget;
    const times: number[] = [];
    const cpuTimes: number[] = [];
    for (let s = 0; s < steps + 2; s++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const loss = trainStep(model, optimizer, set, order.forStep(s), e.model.color_levels, recompute);
      await loss.data();
      loss.dispose();
      const c = process.cpuUsage(c0);
      if (s >= 2) {
        // the first two steps warm up kernels and caches
        times.push(performance.now() - t0);
        cpuTimes.push((c.user + c.system) / 1000);
      }
    }
    const ms = median(times);
    const imagesPerSecond = (batch * 1000) / ms;
    // Forward and backward: about 3 forward passes of multiply-adds, 2 FLOP each.
    const gflops = (imagesPerSecond * model.macsPerImage() * 3 * 2) / 1e9;
    const label = recompute ? `${c.label}, recomputed` : c.label;
    console.log(
      `${label.padEnd(30)} ${String(model.paramCount()).padStart(8)}  ${ms.toFixed(0).padStart(16)}  ${imagesPerSecond.toFixed(1).padStart(8)}  ${gflops.toFixed(1).padStart(7)}  ${median(cpuTimes).toFixed(0).padStart(11)}  ${load()}`,
    );
    optimizer.dispose();
    model.dispose();
  }
}

try {
  await main();
} catch (err) {
  // An unavailable backend (e.g. --backend tensorflow-gpu on a machine without a usable GPU): say why, no stack.
  if (!(err instanceof BackendUnavailableError)) throw err;
  console.error(`bench: ${err.message}`);
  process.exitCode = 1;
}
