// Colour models (van den Oord et al. 2016a, sec. 3.4): channel-ordered masks written out by
// hand, the autoregressive property per sub-pixel (R, G, B) for residual and gated models on
// every backend, exact parameter counts of 3-channel models, and widths that cannot split.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { loadExperiment } from '../../src/config/load.js';
import type { ModelConfig } from '../../src/config/types.js';
import { centreMask, channelGroup, kernelMask } from '../../src/model/masks.js';
import { PixelCNN, type ImageShape } from '../../src/model/pixelcnn.js';
import { layerTable, paramCount } from '../../src/model/size.js';
import { checkChannelAutoregressive } from '../helpers/autoregressive.js';
import { pxl, ROOT } from '../helpers/cli.js';
import { smallGatedModel, smallModel } from '../helpers/models.js';
import { nativeMissingAdvice, skipNative } from '../helpers/native.js';

const RGB: ImageShape = { height: 28, width: 28, channels: 3 };

describe('channel-ordered masks', () => {
  it('group channels contiguously, and within each half of a gated layer alike', () => {
    expect(Array.from({ length: 6 }, (_, i) => channelGroup(i, 6, 3))).toEqual([0, 0, 1, 1, 2, 2]);
    expect(Array.from({ length: 6 }, (_, i) => channelGroup(i, 6, 3, 2))).toEqual([0, 1, 2, 0, 1, 2]);
    expect(Array.from({ length: 3 }, (_, i) => channelGroup(i, 3, 3))).toEqual([0, 1, 2]);
  });

  it('let output group j see input groups < j (A) or <= j (B) at the centre tap', () => {
    const g = { groups: 3, inHalves: 1 as const, outHalves: 1 as const };
    // in: R, G, B (rows); out: 6 channels, groups 0 0 1 1 2 2 (columns).
    expect(Array.from(centreMask('A', 3, 6, g))).toEqual([
      0, 0, 1, 1, 1, 1,
      0, 0, 0, 0, 1, 1,
      0, 0, 0, 0, 0, 0,
    ]);
    expect(Array.from(centreMask('B', 3, 6, g))).toEqual([
      1, 1, 1, 1, 1, 1,
      0, 0, 1, 1, 1, 1,
      0, 0, 0, 0, 1, 1,
    ]);
    // A gated layer's 2h outputs: groups 0 1 2 in the tanh half and again in the sigmoid half.
    expect(Array.from(centreMask('B', 3, 6, { groups: 3, inHalves: 1, outHalves: 2 }))).toEqual([
      1, 1, 1, 1, 1, 1,
      0, 1, 1, 0, 1, 1,
      0, 0, 1, 0, 0, 1,
    ]);
  });

  it('leave every other tap as the spatial mask has it, and one group as today', () => {
    const g = { groups: 3, inHalves: 1 as const, outHalves: 1 as const };
    const m = kernelMask(3, 'A', 3, 3, g);
    const tap = (t: number) => Array.from(m.subarray(t * 9, (t + 1) * 9));
    for (let t = 0; t < 4; t++) expect(tap(t)).toEqual(Array(9).fill(1));
    expect(tap(4)).toEqual([0, 1, 1, 0, 0, 1, 0, 0, 0]);
    for (let t = 5; t < 9; t++) expect(tap(t)).toEqual(Array(9).fill(0));
    expect(kernelMask(3, 'A', 2, 2, { groups: 1, inHalves: 1, outHalves: 1 })).toEqual(kernelMask(3, 'A', 2, 2));
    expect(kernelMask(3, 'B', 2, 2, { groups: 1, inHalves: 1, outHalves: 1 })).toEqual(kernelMask(3, 'B', 2, 2));
  });

  it('are absent from a one-channel model: its 1x1 convs keep no mask, as before colour models', () => {
    tf.setBackend('cpu');
    const m = new PixelCNN(smallModel({ blocks: { count: 1 } }), { height: 4, width: 4, channels: 1 }, 0);
    expect(m.blocks[0].conv1.mask).toBeNull();
    expect(m.blocks[0].conv3.mask).toBeNull();
    expect(m.head.convs[0].mask).toBeNull();
    expect(m.head.out.mask).toBeNull();
    m.dispose();
  });
});

/** Colour variants on a 4x4 image, h=24 (8 channels per group: with fewer, relus at initialisation silence a group at some pixels). */
const residualVariants: [string, ModelConfig][] = [
  ['residual, the reference layout at h=24', smallModel({ hidden: 24, color_levels: 8 })],
  ['residual, 3x3 input, 5x5 blocks, no batch norm', smallModel({ hidden: 24, color_levels: 8, batch_norm: false, input: { kernel_size: 3 }, blocks: { kernel_size: 5 } })],
  ['residual, mask A in the blocks, no head convs', smallModel({ hidden: 24, color_levels: 8, blocks: { mask: 'A' }, head: { convs: 0 } })],
  ['residual, no blocks', smallModel({ hidden: 24, color_levels: 8, blocks: { count: 0 } })],
];
const gatedVariants: [string, ModelConfig][] = [
  ['gated, batch norm', smallGatedModel({ hidden: 24, color_levels: 8 })],
  ['gated, dilations, skip connections, 3-wide input, no batch norm', smallGatedModel({ hidden: 24, color_levels: 8, batch_norm: false, input: { kernel_size: 3 }, blocks: { count: 3, dilations: [1, 2, 1], skip_connections: true } })],
  ['gated, mask A in the blocks, no head convs', smallGatedModel({ hidden: 24, color_levels: 8, blocks: { mask: 'A' }, head: { convs: 0 } })],
];

const SKIP_NATIVE = skipNative();

describe.each(['cpu', 'wasm', 'tensorflow'] as const)('colour models on the %s backend', (backend) => {
  const skip = backend === 'tensorflow' && SKIP_NATIVE;
  let loadError = '';
  beforeAll(async () => {
    if (skip) return;
    tf.env().set('PROD', true);
    try {
      await initBackend(backend);
    } catch (err) {
      loadError = String((err as Error).message).split('\n')[0];
    }
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it.skipIf(skip).each([...residualVariants, ...gatedVariants])('are autoregressive per sub-pixel: %s', (_name, config) => {
    if (loadError) expect.fail(`backend ${backend} does not start: ${loadError}${backend === 'tensorflow' ? ` (${nativeMissingAdvice()})` : ''}`);
    expect(tf.getBackend()).toBe(backend);
    checkChannelAutoregressive(config, 4, 3);
  });
});

function allocatedCount(config: ModelConfig, image: ImageShape): number {
  const m = new PixelCNN(config, image, 0);
  try {
    return m.paramCount();
  } finally {
    m.dispose();
  }
}

describe('3-channel parameter counts', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('counts 113,136 for experiments/colored-mnist-quick.yaml (by hand), from the config and allocated, and pxl inspect shows it', () => {
    // h = 24, 28x28x3, 256 levels. input: 7x7 mask-A conv 3 -> 48 + bias, batch norm (48 gamma, 48 beta).
    const input = 7 * 7 * 3 * 48 + 48 + 96;
    // per block: 1x1 48 -> 24, 5x5 24 -> 24, 1x1 24 -> 48, each with bias and batch norm.
    const block = (48 * 24 + 24) + 48 + (25 * 24 * 24 + 24) + 48 + (24 * 48 + 48) + 96;
    // head: 1x1 48 -> 24, 24 -> 24, then 24 -> 3 channels x 256 levels.
    const head = (48 * 24 + 24) + (24 * 24 + 24) + (24 * 768 + 768);
    expect(input + 5 * block + head).toBe(113_136);
    const r = pxl(['inspect', 'experiments/colored-mnist-quick.yaml', '--depth', '1', '--no-receptive-field'], { cwd: ROOT });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('PixelCNN on 28x28x3 colored-mnist images');
    expect(r.stdout).toMatch(/blocks\.0\.conv1\s+masked conv 1x1 \(B\)\s+28x28x24\s+1,176\n/);
    expect(r.stdout).toMatch(/head\.out\s+masked conv 1x1 \(B\)\s+28x28x768\s+19,200\n/);
    expect(r.stdout).toContain('total trainable parameters: 113,136');
    const config: ModelConfig = smallModel({ hidden: 24, color_levels: 256, blocks: { count: 5, kernel_size: 5 } });
    expect(paramCount(config, RGB)).toBe(113_136);
    expect(allocatedCount(config, RGB)).toBe(113_136);
  });

  it('counts 3,301,716 for experiments/cifar10-pixelcnn.yaml (by hand), from the config', () => {
    // h = 126, 32x32x3, 256 levels. input: 7x7 conv 3 -> 252 + bias, batch norm.
    const input = 49 * 3 * 252 + 252 + 504;
    // per block: 1x1 252 -> 126, 3x3 126 -> 126, 1x1 126 -> 252, each with bias and batch norm.
    const block = (252 * 126 + 126) + 252 + (9 * 126 * 126 + 126) + 252 + (126 * 252 + 252) + 504;
    const head = (252 * 126 + 126) + (126 * 126 + 126) + (126 * 768 + 768);
    expect(input + 15 * block + head).toBe(3_301_716);
    const config = loadExperiment(`${ROOT}/experiments/cifar10-pixelcnn.yaml`).experiment.model;
    expect(paramCount(config, { height: 32, width: 32, channels: 3 })).toBe(3_301_716);
  });

  it('counts 17,976 for a 3-channel gated model (by hand), from the config and allocated', () => {
    // h = 12, 2 gated blocks of width 3, 7-wide input stacks, batch norm, two head convs, 256 levels.
    // input: vertical 4x7 3 -> 12 + bias, bn; horizontal mask A over RGB: 1x4 (three to the left and
    // the pixel itself, by channel group) 3 -> 12 + bias, bn.
    const input = (4 * 7 * 3 * 12 + 12) + 24 + (1 * 4 * 3 * 12 + 12) + 24;
    // per block: vertical 2x3 12 -> 24 + bn, horizontal 1x2 12 -> 24 + bn, link 24 -> 24, output 12 -> 12 + bn.
    const block = (2 * 3 * 12 * 24 + 24) + 48 + (1 * 2 * 12 * 24 + 24) + 48 + (24 * 24 + 24) + (12 * 12 + 12) + 24;
    // head: 1x1 12 -> 12 twice, then 12 -> 3 x 256.
    const head = 2 * (12 * 12 + 12) + (12 * 768 + 768);
    expect(input + 2 * block + head).toBe(17_976);
    const config = smallGatedModel({ hidden: 12, color_levels: 256, blocks: { count: 2 } });
    expect(paramCount(config, RGB)).toBe(17_976);
    expect(allocatedCount(config, RGB)).toBe(17_976);
    const rows = layerTable(config, RGB);
    expect(rows.find((r) => r.name === 'input.horizontal')?.type).toBe('horizontal conv 1x4 (A)');
    expect(rows.find((r) => r.name === 'blocks.0.link')?.type).toBe('conv 1x1');
    expect(rows.find((r) => r.name === 'blocks.0.out')?.type).toBe('masked conv 1x1 (B)');
  });
});

describe('widths that cannot split into the image channels', () => {
  it('are refused when the model is built, naming model.hidden', () => {
    expect(() => new PixelCNN(smallModel({ hidden: 8 }), { height: 4, width: 4, channels: 3 }, 0)).toThrow(/model\.hidden: expected a multiple of 3 .*found 8; try 6 or 9/);
    expect(() => new PixelCNN(smallGatedModel({ hidden: 8 }), { height: 4, width: 4, channels: 3 }, 0)).toThrow(/two halves of h/);
  });
});
