// Sampling a class-conditional model: the cached sampler draws exactly the naive sampler's
// images, pixel by pixel, on wasm and on native TensorFlow, for residual and gated blocks (its own fused convs and batch
// norm), each image given its own class; and the labels a sampler is given must fit the model.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import type { ModelConfig } from '../../src/config/types.js';
import { PixelCNN } from '../../src/model/pixelcnn.js';
import { softmaxRows } from '../../src/sample/draw.js';
import { samplerFor, type SampleMethod } from '../../src/sample/index.js';
import { classRows, sampleRows } from '../../src/sample/rows.js';
import { smallGatedModel, smallModel } from '../helpers/models.js';
import { liveNativeTensors, nativeMissingAdvice, skipNative } from '../helpers/native.js';

const image = { height: 6, width: 5, channels: 1 };
const labels = [0, 1, 2, 2];

/** Batch norm as after training, so its folding into the cached sampler's matrices is exercised. */
function perturbNorms(model: PixelCNN): void {
  model.norms().forEach((bn, i) => {
    const c = bn.gamma.shape[0]!;
    bn.runningMean.assign(tf.randomUniform([c], -1, 1, 'float32', 4 * i));
    bn.runningVar.assign(tf.randomUniform([c], 0.2, 3, 'float32', 4 * i + 1));
    bn.gamma.assign(tf.randomUniform([c], 0.5, 1.5, 'float32', 4 * i + 2));
    bn.beta.assign(tf.randomUniform([c], -0.5, 0.5, 'float32', 4 * i + 3));
  });
  // Class biases large enough that each class draws different images.
  model.classBiases().forEach((b, i) => b.weight.assign(tf.randomUniform(b.weight.shape, -2, 2, 'float32', 100 + i)));
}

async function draw(method: SampleMethod, model: PixelCNN, given: number[]) {
  const probs: Float32Array[] = [];
  const onLogits = (p: number, l: Float32Array) => (probs[p] = softmaxRows(l, model.config.color_levels, 1));
  const result = await samplerFor(method).sample(model, { count: given.length, temperature: 1, seed: 3, labels: given, onLogits });
  return { classes: result.classes, probs };
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

const configs: [string, ModelConfig][] = [
  ['the reference layout at h=4, 3 classes', smallModel({ classes: 3, blocks: { count: 4 } })],
  ['5x5 blocks without batch norm', smallModel({ classes: 3, batch_norm: false, hidden: 6, blocks: { count: 2, kernel_size: 5 } })],
  ['gated blocks with batch norm, dilations and skips', smallGatedModel({ classes: 3, blocks: { count: 3, dilations: [1, 2, 1], skip_connections: true } })],
  ['gated blocks without batch norm', smallGatedModel({ classes: 3, batch_norm: false, hidden: 8, blocks: { count: 3, kernel_size: 5 } })],
];

let nativeError = '';

describe.each(['wasm', 'tensorflow'] as const)('cached sampling of a conditional model on %s', (backend) => {
  const skip = backend === 'tensorflow' && skipNative();
  beforeAll(async () => {
    if (skip) return;
    tf.env().set('PROD', true);
    try {
      await initBackend(backend);
    } catch (err) {
      nativeError = String((err as Error)?.message ?? err).split('\n')[0];
    }
  });

  it.skipIf(skip).each(configs)('draws the naive sampler\'s images, pixel by pixel: %s', async (_name, config) => {
    expect(nativeError, `${nativeError}; ${nativeMissingAdvice()}`).toBe('');
    const model = new PixelCNN(config, image, 5);
    perturbNorms(model);
    const naive = await draw('naive', model, labels);
    const before = tf.memory().numTensors;
    const beforeNative = liveNativeTensors(tf.backend());
    const cached = await draw('cached', model, labels);
    expect(tf.memory().numTensors, 'tensors left behind').toBe(before);
    expect(liveNativeTensors(tf.backend()), 'TensorFlow tensors left behind').toBe(beforeNative);
    for (let p = 0; p < image.height * image.width; p++) expect(maxDiff(cached.probs[p], naive.probs[p]), `probabilities at pixel ${p}`).toBeLessThan(1e-4);
    expect(cached.classes).toEqual(naive.classes);
    // Each image is drawn given its class: the two images of class 2 share the seed's stream
    // but not their draws, and class 0 differs from class 1.
    const size = image.height * image.width;
    const img = (n: number) => Array.from(cached.classes.slice(n * size, (n + 1) * size));
    expect(img(0)).not.toEqual(img(1));
    // Given other labels, the same seed draws other images: the label reaches the logits.
    const relabelled = await draw('cached', model, [1, 1, 2, 2]);
    expect(Array.from(relabelled.classes.slice(0, size))).not.toEqual(img(0));
    expect(Array.from(relabelled.classes.slice(2 * size))).toEqual(Array.from(cached.classes.slice(2 * size)));
    model.dispose();
  });
});

describe('the labels a sampler is given', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('must be one per image for a conditional model, and none for an unconditional one', async () => {
    const cond = new PixelCNN(smallModel({ classes: 3, blocks: { count: 1 } }), image, 1);
    const plain = new PixelCNN(smallModel({ blocks: { count: 1 } }), image, 1);
    for (const method of ['naive', 'cached'] as const) {
      const s = samplerFor(method);
      await expect(s.sample(cond, { count: 2, temperature: 1, seed: 0 })).rejects.toThrow(/conditioned on 3 classes .* expected 2 labels, got none/);
      await expect(s.sample(cond, { count: 2, temperature: 1, seed: 0, labels: [0, 3] })).rejects.toThrow(/class label 3 outside 0..2/);
      await expect(s.sample(plain, { count: 2, temperature: 1, seed: 0, labels: [0, 1] })).rejects.toThrow(/unconditional model/);
    }
    cond.dispose();
    plain.dispose();
  });

  it('come from sample.classes: one row of sample.columns images per class', () => {
    const model = smallModel({ classes: 4 });
    const sample = { count: 64, columns: 3, classes: null, method: 'cached' as const, temperature: 1, seed: 0 };
    expect(sampleRows({ model, sample })).toEqual(classRows([0, 1, 2, 3], 3));
    expect(sampleRows({ model, sample: { ...sample, classes: 'all' } }).labels).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]);
    expect(sampleRows({ model, sample: { ...sample, classes: [3, 1] } })).toEqual({ count: 6, columns: 3, labels: [3, 3, 3, 1, 1, 1], rowLabels: ['3', '1'] });
    expect(sampleRows({ model: smallModel(), sample })).toEqual({ count: 64, columns: 3 });
  });
});
