// Class-conditional models on every backend CI has (cpu, wasm, native TensorFlow, whose fused
// convs and batch norm are their own code): the exact parameter count, the autoregressive
// property with labels, and the label entering only through the per-block class bias.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { installFrugalBackprop } from '../../src/backend/frugal-backprop.js';
import { loadExperiment } from '../../src/config/load.js';
import type { ModelConfig } from '../../src/config/types.js';
import { oneHotLabels } from '../../src/model/conditioning.js';
import type { ImageSet } from '../../src/data/datasets.js';
import { crossEntropyMean } from '../../src/model/loss.js';
import { PixelCNN } from '../../src/model/pixelcnn.js';
import { layerTable, paramCount } from '../../src/model/size.js';
import { makeOptimizer } from '../../src/train/optimizer.js';
import { trainStep } from '../../src/train/trainer.js';
import { createRng } from '../../src/util/random.js';
import { ROOT } from '../helpers/cli.js';
import { smallGatedModel, smallModel } from '../helpers/models.js';
import { nativeMissingAdvice, skipNative } from '../helpers/native.js';

const MNIST = { height: 28, width: 28, channels: 1 };

describe('parameter count of a conditional model', () => {
  beforeAll(async () => {
    tf.env().set('PROD', true);
    await tf.setBackend('cpu');
  });

  it('adds classes x h per block to the reference model: 3,313,664 + 15 x 10 x 128 = 3,332,864', () => {
    const reference = loadExperiment(`${ROOT}/experiments/mnist-15block.yaml`).experiment.model;
    const config: ModelConfig = { ...reference, conditioning: { type: 'class', classes: 10 } };
    // Written out: 15 blocks, each a 10 x 128 table of biases added after its masked conv.
    expect(paramCount(config, MNIST)).toBe(3_313_664 + 15 * 10 * 128);
    const m = new PixelCNN(config, MNIST, 0);
    expect(m.paramCount()).toBe(3_332_864);
    expect(m.layerTable()).toEqual(layerTable(config, MNIST));
    expect(m.layerTable().filter((r) => r.type === 'class bias (10 classes)').map((r) => r.params)).toEqual(Array(15).fill(1280));
    m.dispose();
  });

  it('adds classes x 2h per stack of every gated block: 622,464 + 7 x 2 x 10 x 128 = 640,384 for the gated experiment', () => {
    const gated = loadExperiment(`${ROOT}/experiments/mnist-gated.yaml`).experiment.model;
    const config: ModelConfig = { ...gated, conditioning: { type: 'class', classes: 10 } };
    // Written out: 7 blocks of h = 64, a 10 x 128 table for the vertical and one for the horizontal stack.
    expect(paramCount(config, MNIST)).toBe(622_464 + 7 * 2 * 10 * 128);
    const m = new PixelCNN(config, MNIST, 0);
    expect(m.paramCount()).toBe(640_384);
    expect(m.layerTable()).toEqual(layerTable(config, MNIST));
    m.dispose();
  });

  it('keeps an unconditional model as it was: the same variables, names and initial weights', () => {
    const plain = new PixelCNN(smallModel(), { height: 5, width: 5, channels: 1 }, 3);
    const cond = new PixelCNN(smallModel({ classes: 4 }), { height: 5, width: 5, channels: 1 }, 3);
    const strip = (v: tf.Variable) => v.name.replace(/^pxl\d+\//, '');
    const shared = cond.trainable().slice(0, plain.trainable().length);
    expect(shared.map(strip)).toEqual(plain.trainable().map(strip));
    shared.forEach((v, i) => expect(Array.from(v.dataSync())).toEqual(Array.from(plain.trainable()[i].dataSync())));
    expect(cond.trainable().slice(plain.trainable().length).map(strip)).toEqual(['blocks.0.class_bias/weight', 'blocks.1.class_bias/weight']);
    plain.dispose();
    cond.dispose();
  });
});

const SIZE = 5;
const P = SIZE * SIZE;
const IMAGE = { height: SIZE, width: SIZE, channels: 1 };

/** A conditional model with non-trivial running statistics, so inference mode is really exercised. */
function conditionalModel(config: ModelConfig): PixelCNN {
  const m = new PixelCNN(config, IMAGE, 7);
  const rng = createRng(11);
  tf.tidy(() => {
    const warm = tf.tensor4d(Float32Array.from({ length: 4 * P }, () => rng.next()), [4, SIZE, SIZE, 1]);
    for (let i = 0; i < 3; i++) m.forward(warm, true, false, oneHotLabels([0, 1, 2, 3], 4));
  });
  return m;
}

const logitsOf = (m: PixelCNN, pixels: Float32Array, labels: number[]): number[][][] =>
  tf.tidy(() => m.forward(tf.tensor4d(pixels, [labels.length, SIZE, SIZE, 1]), false, false, oneHotLabels(labels, 4)).reshape([labels.length, P, -1]).arraySync() as number[][][]);

const maxDiff = (u: number[], v: number[]) => Math.max(...u.map((x, i) => Math.abs(x - v[i])));

/**
 * For every pixel p, with image p of the batch given class p mod 4: its logits do not change when
 * pixels >= p change, and do change when earlier pixels change.
 */
function checkAutoregressive(config: ModelConfig): void {
  const m = conditionalModel(config);
  const rng = createRng(5);
  const base = Float32Array.from({ length: P }, () => rng.next());
  const future = new Float32Array(P * P);
  const past = new Float32Array(P * P);
  for (let p = 0; p < P; p++) {
    for (let q = 0; q < P; q++) {
      future[p * P + q] = q >= p ? rng.next() : base[q];
      past[p * P + q] = q < p ? rng.next() : base[q];
    }
  }
  const labels = Array.from({ length: P }, (_, p) => p % 4);
  const baseline = Array.from({ length: 4 }, (_, k) => logitsOf(m, base, [k])[0]);
  const f = logitsOf(m, future, labels);
  const pa = logitsOf(m, past, labels);
  for (let p = 0; p < P; p++) {
    expect(maxDiff(f[p][p], baseline[p % 4][p]), `pixel ${p} must not see pixels >= ${p}`).toBeLessThanOrEqual(1e-5);
    if (p > 0) expect(maxDiff(pa[p][p], baseline[p % 4][p]), `pixel ${p} must see earlier pixels`).toBeGreaterThan(1e-5);
  }
  m.dispose();
}

/**
 * The label reaches the logits only through the class biases: with the bias rows of classes 1
 * and 2 made equal, labels 1 and 2 give the same logits bit for bit; otherwise every pixel's
 * logits (the first one's too) depend on the label.
 */
function checkLabelOnlyThroughBias(config: ModelConfig): void {
  const m = conditionalModel(config);
  const rng = createRng(9);
  const image = Float32Array.from({ length: P }, () => rng.next());
  const [one, two] = logitsOf(m, Float32Array.from([...image, ...image]), [1, 2]);
  for (let p = 0; p < P; p++) expect(maxDiff(one[p], two[p]), `pixel ${p} depends on the label`).toBeGreaterThan(1e-4);
  for (const b of m.classBiases()) {
    tf.tidy(() => b.weight.assign(tf.concat([b.weight.slice([0, 0], [2, -1]), b.weight.slice([1, 0], [1, -1]), b.weight.slice([3, 0], [1, -1])])));
  }
  const [same1, same2] = logitsOf(m, Float32Array.from([...image, ...image]), [1, 2]);
  expect(same1).toEqual(same2);
  m.dispose();
}

const variants: [string, ModelConfig][] = [
  ['the reference layout, scaled down', smallModel({ color_levels: 8, classes: 4 })],
  ['5x5 blocks, no batch norm', smallModel({ color_levels: 8, classes: 4, batch_norm: false, blocks: { kernel_size: 5 } })],
  ['mask A in the blocks, 3 blocks', smallModel({ color_levels: 8, classes: 4, blocks: { mask: 'A', count: 3 } })],
  ['gated blocks with dilations and skips', smallGatedModel({ color_levels: 8, classes: 4, hidden: 8, blocks: { count: 3, dilations: [1, 2, 1], skip_connections: true } })],
];

const SKIP_NATIVE = skipNative();
let nativeError = '';

async function useBackend(name: 'cpu' | 'wasm' | 'tensorflow'): Promise<void> {
  tf.env().set('PROD', true);
  if (name === 'cpu') await tf.setBackend('cpu');
  else if (name === 'wasm') await initBackend('wasm');
  else {
    process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
    try {
      await initBackend('tensorflow');
    } catch (err) {
      nativeError = String((err as Error)?.message ?? err).split('\n')[0];
    }
  }
  installFrugalBackprop();
}

describe.each(['cpu', 'wasm', 'tensorflow'] as const)('a class-conditional model on %s', (backend) => {
  const skip = backend === 'tensorflow' && SKIP_NATIVE;
  beforeAll(async () => {
    if (!skip) await useBackend(backend);
  });
  const ready = () => expect(nativeError, `the native backend did not load: ${nativeError}; ${nativeMissingAdvice()}`).toBe('');

  it.skipIf(skip).each(variants)('is autoregressive given its label: %s', (_name, config) => {
    ready();
    checkAutoregressive(config);
  });

  it.skipIf(skip).each(variants)('sees its label only through the class biases: %s', (_name, config) => {
    ready();
    checkLabelOnlyThroughBias(config);
  });

  it.skipIf(skip)('trains its class biases only for the classes in the batch, with the same gradients when blocks are recomputed', () => {
    ready();
    const config = smallModel({ classes: 4 });
    const grads = (recompute: boolean) => {
      const m = new PixelCNN(config, IMAGE, 1);
      const out = tf.tidy(() => {
        const x = tf.randomUniform([2, SIZE, SIZE, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
        const t = tf.tensor1d(Array.from({ length: 2 * P }, (_, i) => i % 16), 'int32');
        const labels = oneHotLabels([1, 3], 4);
        const { grads: g } = tf.variableGrads(() => crossEntropyMean(m.forward(x, true, recompute, labels), t, 16), m.trainable());
        return m.classBiases().map((b) => g[b.weight.name].arraySync() as number[][]);
      });
      m.dispose();
      return out;
    };
    const plain = grads(false);
    for (const table of plain) {
      expect(table[0].every((v) => v === 0) && table[2].every((v) => v === 0), 'classes 0 and 2 are not in the batch').toBe(true);
      expect(table[1].some((v) => v !== 0) && table[3].some((v) => v !== 0), 'classes 1 and 3 are').toBe(true);
    }
    const again = grads(true);
    again.forEach((table, i) => table.forEach((row, k) => expect(maxDiff(row, plain[i][k])).toBeLessThan(1e-5)));
  });

  it.skipIf(skip)('takes a training step as a gated model: every variable moves but the last block\'s vertical class bias, which nothing reads', () => {
    ready();
    const m = new PixelCNN(smallGatedModel({ classes: 4 }), IMAGE, 1);
    const rng = createRng(5);
    const set: ImageSet = { count: 4, images: Uint8Array.from({ length: 4 * P }, () => Math.floor(rng.next() * 256)), labels: Uint8Array.from([0, 1, 2, 3]) };
    const before = m.trainable().map((v) => Array.from(v.dataSync()));
    const optimizer = makeOptimizer({ name: 'adam', learning_rate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, momentum: 0 });
    const loss = trainStep(m, optimizer, set, Uint32Array.from([0, 1, 2, 3]), 16);
    expect(Number.isFinite(loss.dataSync()[0])).toBe(true);
    const unchanged = m.trainable().filter((v, i) => maxDiff(Array.from(v.dataSync()), before[i]) === 0).map((v) => v.name.replace(/^pxl\d+\//, ''));
    expect(unchanged).toEqual(['blocks.2.vertical.class_bias/weight']);
    tf.dispose([loss]);
    optimizer.dispose();
    m.dispose();
  });
});
