// Training throughput of real PixelCNNs on real MNIST batches: images/s and GFLOP/s for
// a small model, the quick config, a medium one, the reference model and a 32x32x3 colour model, on the backend `auto`
// picks (or --backend). Medians over timed steps after warm-up, with the CPU time per step (all
// threads) and the load average.
//   npm run bench:train [-- --backend wasm --steps 5 --configs small,quick,medium,seed,colour]
import * as tf from '@tensorflow/tfjs';
import { cpus, loadavg } from 'node:os';
import { BackendUnavailableError, initBackend, type BackendRequest } from '../src/backend/index.js';
import { loadExperiment } from '../src/config/load.js';
import { EpochOrder, loadDataset, type ImageSet } from '../src/data/index.js';
import { PixelCNN } from '../src/model/pixelcnn.js';
import { measureStepMemory, memoryBudget, stepBytes } from '../src/train/memory.js';
import { makeOptimizer } from '../src/train/optimizer.js';
import { trainStep } from '../src/train/trainer.js';

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

async function main(): Promise<void> {
  tf.env().set('PROD', true);
  const backend = await initBackend(backendRequest);
  const data = await loadDataset({ name: 'mnist' });
  const load = () => loadavg().map((x) => x.toFixed(1)).join(' / ');
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
