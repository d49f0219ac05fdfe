// Gated blocks (van den Oord et al. 2016b): parameter counts written out by hand, the layer
// table, the autoregressive property on every backend (cpu, wasm, native TensorFlow), and no
// blind spot: every predecessor of a pixel reaches it, where the residual model misses some.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import type { ModelConfig } from '../../src/config/types.js';
import { crossEntropyMean } from '../../src/model/loss.js';
import { PixelCNN, type ImageShape } from '../../src/model/pixelcnn.js';
import { layerTable, paramCount } from '../../src/model/size.js';
import { pxl, ROOT } from '../helpers/cli.js';
import { blindSpots, checkAutoregressive, influence, leaks } from '../helpers/autoregressive.js';
import { smallGatedModel, smallModel } from '../helpers/models.js';
import { nativeMissingAdvice, skipNative } from '../helpers/native.js';

const MNIST: ImageShape = { height: 28, width: 28, channels: 1 };

/** The UvA tutorial's shape: h=64, 7 gated blocks of width 3 with dilations, 7-wide input stacks, no batch norm, no head convs. */
const uva: ModelConfig = {
  color_levels: 256, hidden: 64, batch_norm: false, dropout: 0,
  input: { kernel_size: 7, mask: 'A' },
  blocks: { type: 'gated', count: 7, kernel_size: 3, mask: 'B', dilations: [1, 2, 1, 4, 1, 2, 1], skip_connections: false },
  head: { convs: 0, mask: 'B' },
  conditioning: { type: 'none', classes: null },
  output: { type: 'softmax', components: null },
};

/** Everything on: batch norm, skip connections, two head convs, 5-wide blocks, RGB (channels in order), 4 levels. */
const everything: ModelConfig = {
  color_levels: 4, hidden: 18, batch_norm: true, dropout: 0,
  input: { kernel_size: 3, mask: 'A' },
  blocks: { type: 'gated', count: 3, kernel_size: 5, mask: 'B', dilations: null, skip_connections: true },
  head: { convs: 2, mask: 'B' },
  conditioning: { type: 'none', classes: null },
  output: { type: 'softmax', components: null },
};
const RGB: ImageShape = { height: 5, width: 6, channels: 3 };

function allocated(config: ModelConfig, image: ImageShape) {
  const m = new PixelCNN(config, image, 0);
  try {
    return { params: m.paramCount(), rows: m.layerTable() };
  } finally {
    m.dispose();
  }
}

describe('gated blocks: parameters', () => {
  beforeAll(async () => {
    tf.env().set('PROD', true);
    await tf.setBackend('cpu');
  });

  it('counts 624,000 for the UvA shape (by hand)', () => {
    // input: vertical 4x7 kernel 1->64 and bias; horizontal mask A 1x3 kernel 1->64 and bias.
    const input = (4 * 7 * 64 + 64) + (1 * 3 * 64 + 64);
    // per block: vertical 2x3 64->128, horizontal 1x2 64->128, link 1x1 128->128, output 1x1 64->64, each with bias.
    const block = (2 * 3 * 64 * 128 + 128) + (1 * 2 * 64 * 128 + 128) + (128 * 128 + 128) + (64 * 64 + 64);
    const head = 64 * 256 + 256;
    expect(input + 7 * block + head).toBe(624_000);
    expect(allocated(uva, MNIST).params).toBe(624_000);
    expect(paramCount(uva, MNIST)).toBe(624_000);
  });

  it('counts 43,248 with batch norm, skip connections, head convs, 5-wide blocks and RGB at 4 levels (by hand)', () => {
    // input: vertical 2x3 3->18 + bias, its batch norm (18 gamma, 18 beta); horizontal mask A over RGB: 1x2
    // (the pixel to the left and the pixel itself, whose centre tap lets G see R and B see R, G) 3->18 + bias, batch norm.
    const input = (2 * 3 * 3 * 18 + 18) + 36 + (1 * 2 * 3 * 18 + 18) + 36;
    // per block: vertical 3x5 18->36 + bn(36); horizontal 1x3 18->36 + bn(36); link 36->36; output 18->18 + bn(18); skip 18->18.
    const block = (3 * 5 * 18 * 36 + 36) + 72 + (1 * 3 * 18 * 36 + 36) + 72 + (36 * 36 + 36) + (18 * 18 + 18) + 36 + (18 * 18 + 18);
    // head: 1x1 18->18 twice, then 18 -> 3 channels x 4 levels.
    const head = 2 * (18 * 18 + 18) + (18 * 12 + 12);
    expect(input + 3 * block + head).toBe(43_248);
    expect(allocated(everything, RGB).params).toBe(43_248);
    expect(paramCount(everything, RGB)).toBe(43_248);
  });

  it('lists the stacks, the link, the gates and the skips in the layer table, the same from the config as allocated', () => {
    for (const [config, image] of [[uva, MNIST], [everything, RGB]] as const) {
      expect(layerTable(config, image)).toEqual(allocated(config, image).rows);
    }
    const rows = layerTable(uva, MNIST);
    expect(rows.slice(0, 2)).toEqual([
      { name: 'input.vertical', type: 'vertical conv 4x7', outputShape: [28, 28, 64], params: 1856, depth: 0 },
      { name: 'input.horizontal', type: 'horizontal conv 1x3 (A)', outputShape: [28, 28, 64], params: 256, depth: 0 },
    ]);
    expect(rows.filter((r) => r.type === 'gated block').map((r) => r.params)).toEqual(Array(7).fill(86_464));
    expect(rows.find((r) => r.name === 'blocks.3.vertical')?.type).toBe('vertical conv 2x3, dilation 4');
    expect(rows.find((r) => r.name === 'blocks.3.horizontal')?.type).toBe('horizontal conv 1x2 (B), dilation 4');
    expect(rows.find((r) => r.name === 'blocks.0.link')).toMatchObject({ type: 'conv 1x1', outputShape: [28, 28, 128], params: 16_512 });
    expect(rows.find((r) => r.name === 'blocks.0.gates')).toMatchObject({ outputShape: [28, 28, 64], params: 0 });
    const skip = layerTable(everything, RGB).find((r) => r.name === 'blocks.2.skip');
    expect(skip).toMatchObject({ type: 'masked conv 1x1 (B)', outputShape: [5, 6, 18], params: 342 });
  });

  it('pxl inspect shows the gated experiment\'s stacks, links and gates and its exact total', () => {
    // By hand: input vertical 2x3 1->64 + bias = 448, horizontal mask A 1x1 1->64 + bias = 128;
    // 7 blocks of 86,464 (as above); head 1x1 64->256 + bias = 16,640.
    const r = pxl(['inspect', 'experiments/mnist-gated.yaml', '--depth', '1'], { cwd: ROOT });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/input\.vertical\s+vertical conv 2x3\s+28x28x64\s+448\n/);
    expect(r.stdout).toMatch(/input\.horizontal\s+horizontal conv 1x1 \(A\)\s+28x28x64\s+128\n/);
    expect(r.stdout).toMatch(/blocks\.6\s+gated block\s+28x28x64\s+86,464\n/);
    expect(r.stdout).toMatch(/blocks\.3\.vertical\s+vertical conv 2x3, dilation 4\s+28x28x128\s+49,280\n/);
    expect(r.stdout).toMatch(/blocks\.3\.horizontal\s+horizontal conv 1x2 \(B\), dilation 4\s+28x28x128\s+16,512\n/);
    expect(r.stdout).toMatch(/blocks\.0\.link\s+conv 1x1\s+28x28x128\s+16,512\n/);
    expect(r.stdout).toMatch(/blocks\.0\.gates\s+gates tanh x sigmoid\s+28x28x64\s+0\n/);
    expect(r.stdout).toMatch(/head\.out\s+conv 1x1\s+28x28x256\s+16,640\n/);
    expect(r.stdout).not.toMatch(/residual block|masked conv/);
    expect(r.stdout).toContain('total trainable parameters: 622,464'); // 448 + 128 + 7 x 86,464 + 16,640
  });
});

/**
 * Gated variants on a 6x6 image: 7-wide input stacks and 3 blocks of width 3 reach every pixel.
 * (With skip connections at h=4 some influences fall below the 1e-6 the checks resolve: h=16 there.)
 */
const variants: [string, ModelConfig][] = [
  ['batch norm', smallGatedModel({ color_levels: 8 })],
  ['no batch norm', smallGatedModel({ color_levels: 8, batch_norm: false })],
  ['dilations [1, 2, 1, 4]', smallGatedModel({ color_levels: 8, blocks: { count: 4, dilations: [1, 2, 1, 4] } })],
  ['dilations, skip connections, no batch norm, 5-wide blocks, 3-wide input, h=16', smallGatedModel({ color_levels: 8, hidden: 16, batch_norm: false, dropout: 0, input: { kernel_size: 3 }, blocks: { count: 3, kernel_size: 5, dilations: [2, 1, 3], skip_connections: true } })],
  ['mask A in the blocks, no head convs', smallGatedModel({ color_levels: 8, blocks: { mask: 'A' }, head: { convs: 0 } })],
];

const SKIP_NATIVE = skipNative();

describe.each(['cpu', 'wasm', 'tensorflow'] as const)('gated blocks on the %s backend', (backend) => {
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

  it.skipIf(skip).each(variants)('are autoregressive: %s', (_name, config) => {
    if (loadError) expect.fail(`backend ${backend} does not start: ${loadError}${backend === 'tensorflow' ? ` (${nativeMissingAdvice()})` : ''}`);
    expect(tf.getBackend()).toBe(backend);
    checkAutoregressive(config, 6);
  });

  it.skipIf(skip).each(variants)('have no blind spot: every predecessor of every pixel reaches it (%s)', (_name, config) => {
    if (loadError) expect.fail(`backend ${backend} does not start: ${loadError}`);
    const sees = influence(config, 6);
    expect(leaks(sees).flat(), 'pixels that see themselves or later ones').toEqual([]);
    expect(blindSpots(sees).flat(), 'predecessors that do not reach their pixel').toEqual([]);
  });
});

/** Loss and every gradient of one training step (batch norm in training mode) on the active backend. */
function stepGradients(config: ModelConfig): Float32Array[] {
  return tf.tidy(() => {
    const model = new PixelCNN(config, { height: 7, width: 6, channels: 1 }, 3);
    const x = tf.tensor4d(Float32Array.from({ length: 2 * 42 }, (_, i) => ((i * 37) % 16) / 15), [2, 7, 6, 1]);
    const t = tf.tensor1d(Array.from({ length: 2 * 42 }, (_, i) => (i * 37) % 16), 'int32');
    const { value, grads } = tf.variableGrads(() => crossEntropyMean(model.forward(x, true), t, 16), model.trainable());
    const out = [value.dataSync() as Float32Array, ...model.trainable().map((v) => grads[v.name]!.dataSync() as Float32Array)];
    model.dispose();
    return out;
  });
}

describe.each(['wasm', 'tensorflow'] as const)('a gated training step on the %s backend', (backend) => {
  const skip = backend === 'tensorflow' && SKIP_NATIVE;
  it.skipIf(skip)('gives the cpu backend\'s loss and gradients (dilations, batch norm, skips)', async () => {
    const config = smallGatedModel({ color_levels: 16, hidden: 6, blocks: { count: 3, dilations: [1, 2, 3], skip_connections: true } });
    await tf.setBackend('cpu');
    const cpu = stepGradients(config);
    await initBackend(backend);
    const other = stepGradients(config);
    await tf.setBackend('cpu');
    let scale = 0;
    for (const g of cpu.slice(1)) for (const v of g) scale = Math.max(scale, Math.abs(v));
    other.forEach((g, i) => {
      let worst = 0;
      for (let j = 0; j < g.length; j++) worst = Math.max(worst, Math.abs(g[j] - cpu[i][j]));
      // Relative to the largest gradient: the biases before batch norm have (near) zero gradients, all rounding.
      expect(worst, `${i === 0 ? 'loss' : `gradient ${i}`}: max diff ${worst}`).toBeLessThanOrEqual(1e-4 * Math.max(1, scale));
    });
  });
});

describe('the residual model, for contrast', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('has a blind spot the same check finds: pixel (2, 0) of a 6x6 image does not see (0, 5)', () => {
    const sees = influence(smallModel({ color_levels: 8 }), 6);
    expect(leaks(sees).flat()).toEqual([]);
    const spots = blindSpots(sees);
    expect(spots[2 * 6 + 0]).toContain(0 * 6 + 5);
    expect(spots.flat().length).toBeGreaterThan(0);
  });
});
