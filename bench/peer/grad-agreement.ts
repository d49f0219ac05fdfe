// How closely gradients agree between implementations of the same maths, on a real MNIST
// batch: the native ops against the generic tfjs maths (both on 'tensorflow'), the generic
// maths on 'tensorflow' against the same on the pure-JS 'cpu' backend, and each of them (and
// PyTorch in float32) against PyTorch in float64 from the same weights (bench/peer/torch_peer.py;
// skipped when PyTorch is not there). Prints per variable the largest difference relative to
// the largest gradient value (max) and the norm of the difference relative to the gradient's
// norm (norm).
//
//   npx tsx bench/peer/grad-agreement.ts [--blocks 3] [--hidden 32] [--batch 8]
//
// Conv biases followed by batch norm have an exactly zero gradient in exact arithmetic (batch
// norm removes any per-channel shift): every implementation returns rounding noise there, so
// they are listed apart, against the largest gradient of the model.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { loadExperiment } from '../../src/config/load.js';
import { EpochOrder, loadDataset, makeBatch } from '../../src/data/index.js';
import { crossEntropyMean } from '../../src/model/loss.js';
import { disableNativeOps } from '../../src/backend/native-ops.js';
import { PixelCNN } from '../../src/model/pixelcnn.js';
import { Torch, defaultPython, shareWeights, torchSpec } from './torch-child.js';

const { values } = parseArgs({ options: { blocks: { type: 'string', default: '3' }, hidden: { type: 'string', default: '32' }, batch: { type: 'string', default: '8' } } });
tf.env().set('PROD', true);
const batchSize = Number(values.batch);
const { experiment: e } = loadExperiment('experiments/mnist-15block.yaml', [`model.blocks.count=${values.blocks}`, `model.hidden=${values.hidden}`]);
const data = await loadDataset({ name: 'mnist' });
const indices = new EpochOrder(0, data.train.count, batchSize).forStep(0);
const batch = makeBatch(data.train, indices, e.model.color_levels);

interface Grads {
  loss: number;
  names: string[];
  values: Float32Array[];
}

async function gradients(backend: 'tensorflow' | 'cpu', native: boolean): Promise<Grads> {
  await initBackend(backend);
  disableNativeOps(!native);
  const model = new PixelCNN(e.model, { height: 28, width: 28, channels: 1 }, 0);
  const result = tf.tidy(() => {
    const x = tf.tensor4d(batch.inputs, [batchSize, 28, 28, 1]);
    const t = tf.tensor1d(batch.targets, 'int32');
    const { value, grads } = tf.variableGrads(() => crossEntropyMean(model.forward(x, true), t, e.model.color_levels), model.trainable());
    return {
      loss: value.dataSync()[0],
      names: model.trainable().map((v) => v.name.slice(v.name.indexOf('/') + 1)),
      values: model.trainable().map((v) => grads[v.name].dataSync() as Float32Array),
    };
  });
  model.dispose();
  disableNativeOps(false);
  return result;
}

/** PyTorch's gradients from pxl's initial weights, in float64 and float32; null without PyTorch. */
async function torchGradients(names: string[]): Promise<{ f64: Grads; f32: Grads } | null> {
  const torch = new Torch(defaultPython(), 2);
  try {
    await torch.ask({ cmd: 'info' });
  } catch (err) {
    console.log(`(no PyTorch reference: ${String((err as Error).message).split('\n')[0]})`);
    torch.close();
    return null;
  }
  try {
    await initBackend('cpu');
    const model = new PixelCNN(e.model, { height: 28, width: 28, channels: 1 }, 0);
    await torch.ask(torchSpec(e, data));
    await shareWeights(model, torch);
    const sizes = model.trainable().map((v) => v.size);
    model.dispose();
    const read = async (dtype: string): Promise<Grads> => {
      const file = join(mkdtempSync(join(tmpdir(), 'pxl-grads-')), 'grads.f64');
      const { loss } = await torch.ask<{ loss: number }>({ cmd: 'grads', indices: Array.from(indices), dtype, file });
      const all = new Float64Array(readFileSync(file).buffer.slice(0));
      let offset = 0;
      const values = sizes.map((n) => {
        const v = Float32Array.from(all.subarray(offset, offset + n));
        offset += n;
        return v;
      });
      return { loss, names, values };
    };
    return { f64: await read('float64'), f32: await read('float32') };
  } finally {
    torch.close();
  }
}

function compare(label: string, a: Grads, b: Grads): void {
  let largest = 0;
  for (const g of b.values) for (const v of g) largest = Math.max(largest, Math.abs(v));
  const noiseOnly = (name: string) => e.model.batch_norm && /(input\.conv|conv\d)\/bias$/.test(name);
  let worst = { name: '', rel: 0 };
  let worstNorm = { name: '', rel: 0 };
  let worstNoise = 0;
  console.log(`\n${label}: loss ${a.loss.toPrecision(8)} / ${b.loss.toPrecision(8)}`);
  a.values.forEach((ga, i) => {
    const gb = b.values[i];
    let scale = 0;
    let diff = 0;
    let sumSq = 0;
    let diffSq = 0;
    for (let j = 0; j < ga.length; j++) {
      scale = Math.max(scale, Math.abs(gb[j]));
      diff = Math.max(diff, Math.abs(ga[j] - gb[j]));
      sumSq += gb[j] ** 2;
      diffSq += (ga[j] - gb[j]) ** 2;
    }
    const norm = Math.sqrt(diffSq / sumSq);
    if (noiseOnly(a.names[i])) worstNoise = Math.max(worstNoise, diff / largest);
    else {
      console.log(`  ${a.names[i].padEnd(26)} max ${(diff / scale).toExponential(2)}  norm ${norm.toExponential(2)}`);
      if (diff / scale > worst.rel) worst = { name: a.names[i], rel: diff / scale };
      if (norm > worstNorm.rel) worstNorm = { name: a.names[i], rel: norm };
    }
  });
  console.log(
    `  largest: max ${worst.rel.toExponential(2)} (${worst.name}), norm ${worstNorm.rel.toExponential(2)} (${worstNorm.name}); ` +
      `biases before batch norm (noise around 0): ${worstNoise.toExponential(2)} of the largest gradient`,
  );
}

const native = await gradients('tensorflow', true);
const generic = await gradients('tensorflow', false);
const cpu = await gradients('cpu', false);
const torch = await torchGradients(native.names);
console.log(`model: ${values.blocks} blocks, h=${values.hidden}, batch norm ${e.model.batch_norm}; one MNIST batch of ${batchSize}; max |a - b| / max |b| per variable`);
compare('native ops against generic tfjs maths, both on tensorflow', native, generic);
compare('generic maths: tensorflow against the pure-JS cpu backend', generic, cpu);
if (torch) {
  compare('native ops on tensorflow against PyTorch float64', native, torch.f64);
  compare('generic maths on tensorflow against PyTorch float64', generic, torch.f64);
  compare('generic maths on cpu against PyTorch float64', cpu, torch.f64);
  compare('PyTorch float32 against PyTorch float64', torch.f32, torch.f64);
}
