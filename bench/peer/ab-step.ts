// The effect of each native-backend speed change on a training step, in one process:
// a ladder of variants, each adding one change to the one before (generic tfjs maths and
// tf.train.adam first, everything last), each with its own copy of the model, run in turn
// step by step so that the machine's load hits them alike. Prints per variant the median
// wall and CPU time per step, and the load average.
//
//   npx tsx bench/peer/ab-step.ts [--config seed] [--rounds 3] [--variants generic,all]
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { loadExperiment } from '../../src/config/load.js';
import { EpochOrder, loadDataset } from '../../src/data/index.js';
import { setNativeParts, type NativePart } from '../../src/backend/native-ops.js';
import { PixelCNN } from '../../src/model/pixelcnn.js';
import { FusedAdam } from '../../src/train/adam.js';
import { trainStep } from '../../src/train/trainer.js';
import { PEER_CONFIGS } from './configs.js';

interface Variant {
  parts: NativePart[];
  fusedAdam: boolean;
  about: string;
}

const LADDER: Record<string, Variant> = {
  generic: { parts: [], fusedAdam: false, about: 'generic tfjs maths, tf.train.adam (before)' },
  relu: { parts: ['relu'], fusedAdam: false, about: '+ ReluGrad' },
  bn: { parts: ['relu', 'batchNorm'], fusedAdam: false, about: '+ FusedBatchNormV3 / GradV3' },
  conv: { parts: ['relu', 'batchNorm', 'conv'], fusedAdam: false, about: '+ own conv op (no image gradient, output not kept)' },
  rows: { parts: ['relu', 'batchNorm', 'conv', 'convRows'], fusedAdam: false, about: '+ masked convs over the upper kernel rows only' },
  fold: { parts: ['relu', 'batchNorm', 'conv', 'convRows', 'biasFold'], fusedAdam: false, about: '+ conv bias folded into the batch norm after it' },
  loss: { parts: ['relu', 'batchNorm', 'conv', 'convRows', 'biasFold', 'loss'], fusedAdam: false, about: '+ SparseSoftmaxCrossEntropyWithLogits' },
  adam: { parts: ['relu', 'batchNorm', 'conv', 'convRows', 'biasFold', 'loss'], fusedAdam: true, about: '+ FusedAdam' },
  output: { parts: ['relu', 'batchNorm', 'conv', 'convRows', 'biasFold', 'loss', 'outputLoss'], fusedAdam: true, about: '+ the output conv and the loss as one op' },
};

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: 'seed' },
    batch: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '3' },
    variants: { type: 'string', default: Object.keys(LADDER).join(',') },
  },
});
const names = values.variants.split(',');
for (const n of names) if (!LADDER[n]) throw new Error(`unknown variant ${n}: ${Object.keys(LADDER).join(', ')}`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const load = () => loadavg().map((x) => x.toFixed(1)).join(' / ');

tf.env().set('PROD', true);
const backend = await initBackend('auto');
const spec = PEER_CONFIGS.find((c) => c.key === values.config);
if (!spec) throw new Error(`unknown config ${values.config}`);
const batch = Number(values.batch);
const { experiment: e } = loadExperiment(spec.file, [...spec.sets, `train.batch_size=${batch}`]);
const o = e.train.optimizer;
const data = await loadDataset({ name: 'mnist' });
const order = new EpochOrder(0, data.train.count, batch);
console.log(`backend ${backend.name} (${backend.device}); ${spec.label}; batch ${batch}; load at start ${load()}`);

const runs = names.map((name) => ({
  name,
  variant: LADDER[name],
  model: new PixelCNN(e.model, { height: 28, width: 28, channels: 1 }, 0),
  optimizer: LADDER[name].fusedAdam ? new FusedAdam(o.learning_rate, o.beta1, o.beta2, o.epsilon) : tf.train.adam(o.learning_rate, o.beta1, o.beta2, o.epsilon),
  wall: [] as number[],
  cpu: [] as number[],
  losses: [] as number[],
}));

const rounds = Number(values.rounds);
for (let s = 0; s <= rounds; s++) {
  for (const r of runs) {
    setNativeParts(r.variant.parts);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const loss = trainStep(r.model, r.optimizer, data.train, order.forStep(s), e.model.color_levels);
    const value = loss.dataSync()[0];
    loss.dispose();
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    r.losses.push(value);
    if (s > 0) {
      r.wall.push(wall);
      r.cpu.push((c.user + c.system) / 1000);
    }
    console.log(`${s === 0 ? 'warm-up' : `round ${s}`} ${r.name.padEnd(8)} wall ${wall.toFixed(0).padStart(6)} ms, CPU ${((c.user + c.system) / 1000).toFixed(0).padStart(6)} ms, loss ${value.toFixed(5)}; load ${loadavg()[0].toFixed(1)}`);
  }
}
console.log(`\nvariant   wall median  CPU median  vs generic (CPU)  change`);
const base = runs.find((r) => r.name === 'generic');
for (const r of runs) {
  const ratio = base ? `${(median(base.cpu) / median(r.cpu)).toFixed(2)}x` : '';
  console.log(`${r.name.padEnd(8)} ${median(r.wall).toFixed(0).padStart(11)} ${median(r.cpu).toFixed(0).padStart(11)} ${ratio.padStart(17)}  ${r.variant.about}`);
}
const worst = Math.max(...runs.flatMap((r) => r.losses.map((l, i) => Math.abs(l - runs[0].losses[i]))));
console.log(`largest loss difference between variants over the ${rounds + 1} steps: ${worst.toExponential(2)}`);
console.log(`load at end ${load()}`);
