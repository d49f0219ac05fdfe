// How much of a training step is JavaScript dispatching ops, on the backend `auto` picks (or
// --backend): the kernels one step of pxl's trainer runs (forward, backward, Adam; counted with
// tf.profile at batch 1, since the count does not depend on the batch; the trainer reads the loss
// back between backward and update) and the median time the
// host spends to dispatch one small op. Their product is a floor under the step time that no
// device makes shorter; docs/gpu.md uses it for its estimate.
//   npm run bench:step-ops [-- --backend tensorflow-gpu --config experiments/mnist-15block.yaml]
import * as tf from '@tensorflow/tfjs';
import { BackendUnavailableError, initBackend, type BackendRequest } from '../src/backend/index.js';
import { loadExperiment } from '../src/config/load.js';
import { EpochOrder, loadDataset } from '../src/data/index.js';
import { PixelCNN } from '../src/model/pixelcnn.js';
import { makeOptimizer } from '../src/train/optimizer.js';
import { gradientStep, trainStep } from '../src/train/trainer.js';

const args = new Map<string, string>();
process.argv.slice(2).forEach((a, i, all) => a.startsWith('--') && args.set(a.slice(2), all[i + 1] ?? ''));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Median microseconds per dispatched op: 1-element adds, read back once per round of 200. */
async function dispatchMicros(): Promise<number> {
  const a = tf.scalar(1);
  const rounds: number[] = [];
  for (let r = 0; r < 12; r++) {
    const t0 = performance.now();
    let x = tf.add(a, a);
    for (let i = 1; i < 200; i++) {
      const y = tf.add(x, a);
      x.dispose();
      x = y;
    }
    await x.data();
    x.dispose();
    if (r >= 2) rounds.push(((performance.now() - t0) * 1000) / 200);
  }
  a.dispose();
  return median(rounds);
}

async function main(): Promise<void> {
  tf.env().set('PROD', true);
  const backend = await initBackend((args.get('backend') ?? 'auto') as BackendRequest);
  const file = args.get('config') ?? 'experiments/mnist-15block.yaml';
  const { experiment: e } = loadExperiment(file, ['train.batch_size=1']);
  const data = await loadDataset({ name: 'mnist' });
  const model = new PixelCNN(e.model, { height: 28, width: 28, channels: 1 }, 0);
  const optimizer = makeOptimizer(e.train.optimizer);
  const order = new EpochOrder(0, data.train.count, 1);
  // Warm up (Adam creates its slots on the first step), then count one step's kernels.
  for (let s = 0; s < 2; s++) {
    const loss = trainStep(model, optimizer, data.train, order.forStep(s), e.model.color_levels);
    await loss.data();
    loss.dispose();
  }
  const profile = await tf.profile(async () => {
    const loss = trainStep(model, optimizer, data.train, order.forStep(2), e.model.color_levels);
    await loss.data();
    loss.dispose();
  });
  const kernels = profile.kernels.length;
  // The same step without the update: the part the host dispatches before it waits for the loss.
  const before = await tf.profile(async () => {
    const { loss, grads } = gradientStep(model, optimizer, data.train, order.forStep(3), e.model.color_levels);
    await loss.data();
    tf.dispose([loss, ...grads.map((g) => g.tensor)]);
  });
  const forwardBackward = before.kernels.length;
  const micros = await dispatchMicros();
  console.log(`backend ${backend.name}: ${backend.device}`);
  console.log(`${file}: ${model.paramCount()} parameters, ${(model.macsPerImage() / 1e9).toFixed(3)} GMAC per image forward`);
  console.log(`kernels per training step: ${kernels} (forward and backward ${forwardBackward}, Adam update ${kernels - forwardBackward})`);
  console.log(`host time per dispatched op: ${micros.toFixed(1)} us (median of 10 rounds of 200 dependent 1-element adds)`);
  console.log(`dispatch floor per step: ${((kernels * micros) / 1000).toFixed(1)} ms`);
  optimizer.dispose();
  model.dispose();
}

try {
  await main();
} catch (err) {
  // An unavailable backend (e.g. --backend tensorflow-gpu on a machine without a usable GPU): say why, no stack.
  if (!(err instanceof BackendUnavailableError)) throw err;
  console.error(`bench: ${err.message}`);
  process.exitCode = 1;
}
