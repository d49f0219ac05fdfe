// The cached sampler against the naive one: same weights, seed and draws must give the same
// images and the same per-pixel probabilities, on every shape of model the schema allows.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import type { ModelConfig } from '../../src/config/types.js';
import { PixelCNN, type ImageShape } from '../../src/model/pixelcnn.js';
import { softmaxRows } from '../../src/sample/draw.js';
import { samplerFor, type SampleMethod, type SampleResult } from '../../src/sample/index.js';
import { smallModel } from '../helpers/models.js';
import { nativeParts, setNativeParts } from '../../src/backend/native-ops.js';
import { liveNativeTensors, nativeMissingAdvice, skipNative } from '../helpers/native.js';

beforeAll(async () => {
  tf.env().set('PROD', true);
  await initBackend('wasm');
});

const base: ModelConfig = smallModel({ color_levels: 256, blocks: { count: 15 } }); // the reference shape at h=4
const square: ImageShape = { height: 7, width: 7, channels: 1 };

interface Case {
  name: string;
  model: Partial<ModelConfig>;
  image?: ImageShape;
  temperature?: number;
}

const cases: Case[] = [
  { name: 'the seed model at h=4 (15 blocks, 7x7 A, 3x3 B, 2 head convs, 256 levels, batch norm)', model: {} },
  { name: '3x3 input, 5x5 blocks', model: { input: { kernel_size: 3, mask: 'A' }, blocks: { ...base.blocks, count: 3, kernel_size: 5 } } },
  { name: '5x5 input, 7x7 blocks', model: { input: { kernel_size: 5, mask: 'A' }, blocks: { ...base.blocks, count: 2, kernel_size: 7 } } },
  { name: 'mask A in the blocks', model: { blocks: { ...base.blocks, count: 3, mask: 'A' } } },
  { name: '1x1 block convs', model: { blocks: { ...base.blocks, count: 3, kernel_size: 1 } } },
  { name: 'no batch norm', model: { batch_norm: false, hidden: 8, blocks: { ...base.blocks, count: 3 } } },
  { name: '4 levels at temperature 0.7', model: { color_levels: 4, blocks: { ...base.blocks, count: 3 } }, temperature: 0.7 },
  { name: 'a non-square RGB image (channels in order R, G, B; h=6)', model: { hidden: 6, blocks: { ...base.blocks, count: 2 }, color_levels: 16 }, image: { height: 4, width: 9, channels: 3 } },
  { name: 'RGB, 3x3 input, 5x5 blocks, no batch norm, mask A in the blocks', model: { hidden: 6, batch_norm: false, input: { kernel_size: 3, mask: 'A' }, blocks: { ...base.blocks, count: 2, kernel_size: 5, mask: 'A' }, color_levels: 8 }, image: { height: 4, width: 5, channels: 3 } },
  { name: '0 blocks, 0 head convs', model: { blocks: { ...base.blocks, count: 0 }, head: { convs: 0, mask: 'B' } } },
  { name: 'kernels wider than the image', model: { blocks: { ...base.blocks, count: 2, kernel_size: 5 } }, image: { height: 3, width: 2, channels: 1 } },
];

const gated = (blocks: Partial<ModelConfig['blocks']>): ModelConfig['blocks'] => ({ ...base.blocks, type: 'gated', count: 3, ...blocks });
const gatedCases: Case[] = [
  { name: 'gated: 7-wide input stacks, 3 blocks with dilations [1, 2, 1], batch norm, 256 levels', model: { blocks: gated({ dilations: [1, 2, 1] }) } },
  { name: 'gated: skip connections, 5-wide blocks, 3-wide input, no batch norm', model: { batch_norm: false, hidden: 8, input: { kernel_size: 3, mask: 'A' }, blocks: gated({ kernel_size: 5, skip_connections: true, dilations: [2, 1, 3] }) } },
  { name: 'gated: mask A in the blocks, no head convs, 4 levels at temperature 0.7', model: { color_levels: 4, blocks: gated({ mask: 'A' }), head: { convs: 0, mask: 'B' } }, temperature: 0.7 },
  { name: 'gated: a non-square RGB image (channels in order R, G, B; h=6)', model: { hidden: 6, blocks: gated({ count: 2 }), color_levels: 16 }, image: { height: 4, width: 9, channels: 3 } },
  { name: 'gated: RGB, skip connections, dilations, 3-wide input, no batch norm', model: { hidden: 6, batch_norm: false, input: { kernel_size: 3, mask: 'A' }, blocks: gated({ skip_connections: true, dilations: [1, 2, 1] }), color_levels: 8 }, image: { height: 4, width: 5, channels: 3 } },
  { name: 'gated: 0 blocks', model: { blocks: gated({ count: 0 }) } },
  { name: 'gated: dilations wider than the image', model: { blocks: gated({ count: 2, dilations: [4, 1] }) }, image: { height: 3, width: 2, channels: 1 } },
];

/** Batch norm as after training: running statistics, scale and shift far from their initial 0, 1, 1, 0. */
function perturbNorms(model: PixelCNN): void {
  model.norms().forEach((bn, i) => {
    const c = bn.gamma.shape[0];
    bn.runningMean.assign(tf.randomUniform([c], -1, 1, 'float32', 4 * i));
    bn.runningVar.assign(tf.randomUniform([c], 0.2, 3, 'float32', 4 * i + 1));
    bn.gamma.assign(tf.randomUniform([c], 0.5, 1.5, 'float32', 4 * i + 2));
    bn.beta.assign(tf.randomUniform([c], -0.5, 0.5, 'float32', 4 * i + 3));
  });
}

interface Run {
  result: SampleResult;
  logits: Float32Array[];
  probs: Float32Array[];
}

async function run(method: SampleMethod, model: PixelCNN, temperature: number): Promise<Run> {
  const logits: Float32Array[] = [];
  const probs: Float32Array[] = [];
  const levels = model.config.color_levels;
  const C = model.image.channels;
  // Colour models are asked once per channel at each pixel: sub-pixel p * C + c.
  const onLogits = (p: number, l: Float32Array, c: number) => {
    logits[p * C + c] = l.slice();
    probs[p * C + c] = softmaxRows(l, levels, temperature);
  };
  const result = await samplerFor(method).sample(model, { count: 3, temperature, seed: 11, onLogits });
  return { result, logits, probs };
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
/** Relative to the logits' scale: 256-way probabilities are ~0.004, so 1e-4 on them alone is loose. */
const logitError = (a: Float32Array, b: Float32Array) => maxDiff(a, b) / Math.max(1, b.reduce((m, v) => Math.max(m, Math.abs(v)), 0));

/** Same images, per-pixel probabilities and logits from both samplers, and no tensor left behind. */
async function sameImages(c: Case): Promise<void> {
  const model = new PixelCNN({ ...base, ...c.model }, c.image ?? square, 5);
  perturbNorms(model);
  const naive = await run('naive', model, c.temperature ?? 1);
  const before = tf.memory().numTensors;
  const beforeNative = liveNativeTensors(tf.backend());
  const cached = await run('cached', model, c.temperature ?? 1);
  expect(tf.memory().numTensors, 'tensors left behind').toBe(before);
  expect(liveNativeTensors(tf.backend()), 'TensorFlow tensors left behind').toBe(beforeNative);

  const { height, width, channels } = model.image;
  expect(cached.probs).toHaveLength(height * width * channels);
  for (let s = 0; s < height * width * channels; s++) {
    const at = `pixel ${Math.floor(s / channels)}, channel ${s % channels}`;
    expect(maxDiff(cached.probs[s], naive.probs[s]), `probabilities at ${at}`).toBeLessThan(1e-4);
    expect(logitError(cached.logits[s], naive.logits[s]), `logits at ${at}`).toBeLessThan(1e-5);
  }
  expect(cached.result.classes).toEqual(naive.result.classes);
  expect(cached.result.classes).toHaveLength(3 * height * width * channels);
  // Not a degenerate agreement: the draws vary.
  expect(new Set(cached.result.classes).size).toBeGreaterThan(1);
  model.dispose();
}

describe('cached sampling gives the naive sampler its images', () => {
  it.each([...cases, ...gatedCases].map((c) => [c.name, c] as const))('%s', async (_, c) => sameImages(c));
});

describe.skipIf(skipNative())('cached sampling gives the naive sampler its images on native TensorFlow', () => {
  let loadError = '';
  beforeAll(async () => {
    try {
      await initBackend('tensorflow');
    } catch (err) {
      loadError = String((err as Error).message).split('\n')[0];
    }
  });
  afterAll(async () => {
    await initBackend('wasm');
  });
  // Every residual case: their per-position ops are direct TensorFlow calls here (native-position-ops.ts); the gated RGB ones too.
  const rgb = (c: Case) => c.image?.channels === 3;
  const native = [...cases, ...gatedCases.slice(0, 3), ...gatedCases.filter(rgb)];
  it.each(native.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    if (loadError) expect.fail(`the native backend does not start: ${loadError} (${nativeMissingAdvice()})`);
    expect(tf.getBackend()).toBe('tensorflow');
    await sameImages(c);
  });

  it('draws with direct TensorFlow calls what it draws with tfjs\'s ops, logits to float rounding', async () => {
    if (loadError) expect.fail(`the native backend does not start: ${loadError} (${nativeMissingAdvice()})`);
    const model = new PixelCNN({ ...base, ...cases[0].model }, square, 5);
    perturbNorms(model);
    const all = nativeParts();
    const direct = await run('cached', model, 1);
    setNativeParts(all.filter((p) => p !== 'position'));
    let viaTfjs: Run;
    try {
      viaTfjs = await run('cached', model, 1);
    } finally {
      setNativeParts(all);
    }
    expect(direct.result.classes).toEqual(viaTfjs.result.classes);
    for (let p = 0; p < square.height * square.width; p++) expect(logitError(direct.logits[p], viaTfjs.logits[p]), `logits at pixel ${p}`).toBeLessThan(1e-6);
    model.dispose();
  });
});

describe('samplerFor', () => {
  it('names each sampler by its method', () => {
    expect(samplerFor('cached').method).toBe('cached');
    expect(samplerFor('naive').method).toBe('naive');
    expect(() => samplerFor('fast' as SampleMethod)).toThrow(/expected naive or cached/);
  });
});
