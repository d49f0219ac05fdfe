// The model's size from its config alone (model/size.ts): the same layers, counts and arithmetic
// as the allocated model, for a model of any size, and a floor under a training step's memory.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadExperiment } from '../../src/config/load.js';
import type { ModelConfig } from '../../src/config/types.js';
import { PixelCNN, type ImageShape } from '../../src/model/pixelcnn.js';
import { layerTable, macsPerImage, optimizerSlots, paramCount, trainingStepFloor } from '../../src/model/size.js';
import { measureStepMemory } from '../../src/train/memory.js';
import { pxl, ROOT } from '../helpers/cli.js';
import { smallGatedModel, smallModel } from '../helpers/models.js';
import { tempDir, writeFiles } from '../helpers/tmp.js';

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

const MNIST: ImageShape = { height: 28, width: 28, channels: 1 };
const modelOf = (file: string) => loadExperiment(`${ROOT}/${file}`).experiment.model;

function allocated(config: ModelConfig, image: ImageShape) {
  const m = new PixelCNN(config, image, 0);
  try {
    return { rows: m.layerTable(), params: m.paramCount(), macs: m.macsPerImage() };
  } finally {
    m.dispose();
  }
}

const CONFIGS: [string, ModelConfig, ImageShape][] = [
  ['the reference model', modelOf('experiments/mnist-15block.yaml'), MNIST],
  ['no batch norm', modelOf('experiments/ablations/no-batch-norm.yaml'), MNIST],
  ['4 colour levels', modelOf('experiments/ablations/4-levels.yaml'), MNIST],
  ['the quick model', modelOf('experiments/mnist-quick.yaml'), MNIST],
  ['no blocks, no head convs, 3 channels', smallModel({ hidden: 6, blocks: { count: 0 }, head: { convs: 0 } }), { height: 5, width: 7, channels: 3 }],
  ['3 channels, residual blocks, batch norm, head convs', smallModel({ hidden: 6 }), { height: 4, width: 5, channels: 3 }],
  ['3 channels, gated blocks with skips and dilations', smallGatedModel({ hidden: 6, blocks: { count: 3, skip_connections: true, dilations: [1, 2, 1] } }), { height: 4, width: 5, channels: 3 }],
  ['1x1 mask-B blocks, mask-A blocks, three head convs', smallModel({ blocks: { kernel_size: 1, mask: 'B', count: 3 }, head: { convs: 3 } }), { height: 4, width: 4, channels: 2 }],
  ['5x5 mask-A blocks without batch norm', smallModel({ batch_norm: false, blocks: { kernel_size: 5, mask: 'A' } }), { height: 6, width: 3, channels: 1 }],
];

describe('size from the config', () => {
  it('is exactly 3,313,664 parameters for the reference model', () => {
    expect(paramCount(modelOf('experiments/mnist-15block.yaml'), MNIST)).toBe(3_313_664);
  });

  it.each(CONFIGS)('matches the allocated model: %s', (_name, config, image) => {
    const model = allocated(config, image);
    expect(layerTable(config, image)).toEqual(model.rows);
    expect(paramCount(config, image)).toBe(model.params);
    expect(macsPerImage(config, image)).toBe(model.macs);
  });

  it('counts a model far too large to allocate: hidden 4096, 256 blocks', () => {
    const config = { ...modelOf('experiments/mnist-15block.yaml'), hidden: 4096, blocks: { type: 'residual' as const, count: 256, kernel_size: 3, mask: 'B' as const, dilations: null, skip_connections: false } };
    // By hand, h = 4096: input 7x7 conv 1 -> 2h with bias, and its batch norm; per block
    // 1x1 2h -> h, 3x3 h -> h, 1x1 h -> 2h with biases and three batch norms; head 2h -> h, h -> h, h -> 256.
    const h = 4096;
    const input = 49 * 2 * h + 2 * h + 2 * 2 * h;
    const block = 2 * h * h + h + 9 * h * h + h + 2 * h * h + 2 * h + 2 * (h + h + 2 * h);
    const head = 2 * h * h + h + h * h + h + 256 * h + 256;
    expect(paramCount(config, MNIST)).toBe(input + 256 * block + head);
    expect(paramCount(config, MNIST)).toBe(55_898_972_416);
    expect(layerTable(config, MNIST).filter((r) => r.type === 'residual block')).toHaveLength(256);
  });

  it('keeps a state slot count per optimizer', () => {
    expect(optimizerSlots({ name: 'adam' })).toBe(2);
    expect(optimizerSlots({ name: 'rmsprop', momentum: 0 })).toBe(2);
    expect(optimizerSlots({ name: 'sgd', momentum: 0.9 })).toBe(1);
    expect(optimizerSlots({ name: 'sgd', momentum: 0 })).toBe(0);
  });
});

describe('the floor under a training step', () => {
  it('counts weights, gradients, optimizer state, masks and batch-norm statistics as fixed bytes', () => {
    // No blocks, no head convs, no batch norm: a 3x3 mask-A conv 1 -> 2h and the 1x1 output conv 2h -> channels * levels.
    const config = smallModel({ hidden: 2, batch_norm: false, input: { kernel_size: 3 }, blocks: { count: 0 }, head: { convs: 0 }, color_levels: 4 });
    const image = { height: 2, width: 3, channels: 1 };
    const params = (9 * 1 * 4 + 4) + (4 * 4 + 4);
    const floor = trainingStepFloor(config, image, 2, false);
    expect(floor.params).toBe(params);
    expect(floor.fixedBytes).toBe(4 * (4 * params + 9 * 4)); // + the 3x3 mask
    // Per image: the input conv's 4 channels and the logits (4 per pixel), and the softmax of the logits.
    expect(floor.perImageBytes).toBe(4 * 6 * (4 + 4 + 4));
  });

  it('is below what a step measurably needs, with and without recomputing blocks', async () => {
    const config = smallModel({ hidden: 8, blocks: { count: 3 } });
    const image = { height: 8, width: 8, channels: 1 };
    for (const recompute of [false, true]) {
      const measured = await measureStepMemory(config, image, recompute);
      const floor = trainingStepFloor(config, image, 2, recompute);
      expect(floor.perImageBytes).toBeGreaterThan(0);
      expect(floor.perImageBytes).toBeLessThanOrEqual(measured.perImageBytes);
    }
    const lean = trainingStepFloor(config, image, 2, true);
    expect(lean.perImageBytes).toBeLessThan(trainingStepFloor(config, image, 2, false).perImageBytes);
  });
});

describe('a model too large for memory, on the command line', () => {
  const HUGE = 'model:\n  hidden: 4096\n  blocks: {count: 256}\n';

  it('is inspected from the arithmetic, without allocating its weights', () => {
    const dir = tempDir();
    writeFiles(dir, { 'huge.yaml': `extends: ${join(ROOT, 'experiments/mnist-15block.yaml')}\n${HUGE}` });
    // Allocating 56 billion float32 weights (224 GB) would not end within the time given.
    const r = pxl(['inspect', 'huge.yaml'], { cwd: dir, timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/blocks\.255\s+residual block\s+28x28x8192\s+218,152,960/);
    expect(r.stdout).toContain('total trainable parameters: 55,898,972,416');
  });

  it('is refused by pxl run with exit 2, the numbers, and nothing created', () => {
    const dir = tempDir();
    writeFiles(dir, { 'huge.yaml': `extends: ${join(ROOT, 'test/fixtures/tiny.yaml')}\n${HUGE}` });
    const r = pxl(['run', 'huge.yaml', '--runs-dir', 'runs', '--reporter', 'plain'], { cwd: dir, timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('the model has 55,881,011,216 parameters');
    expect(r.stderr).toMatch(/needs at least [\d.]+ GB \([\d.]+ GB for the weights, their gradients and the optimizer's state/);
    expect(r.stderr).toMatch(/and [\d.]+ GB is available \(this machine has [\d.]+ GB\)/);
    expect(r.stderr).not.toContain('    at ');
    expect(existsSync(join(dir, 'runs'))).toBe(false);
  });
});
