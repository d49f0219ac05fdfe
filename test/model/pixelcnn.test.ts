// The builder: exact parameter counts, masks, and the autoregressive property checked by perturbation.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadExperiment } from '../../src/config/load.js';
import type { ModelConfig } from '../../src/config/types.js';
import { spatialMask } from '../../src/model/masks.js';
import { PixelCNN } from '../../src/model/pixelcnn.js';
import { ROOT } from '../helpers/cli.js';
import { checkAutoregressive } from '../helpers/autoregressive.js';
import { smallModel } from '../helpers/models.js';

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

const MNIST = { height: 28, width: 28, channels: 1 };
const modelOf = (file: string) => loadExperiment(`${ROOT}/${file}`).experiment.model;
const countOf = (config: ModelConfig) => {
  const m = new PixelCNN(config, MNIST, 0);
  const n = m.paramCount();
  m.dispose();
  return n;
};

describe('parameter count', () => {
  it('is exactly 3,313,664 for the reference model', () => {
    expect(countOf(modelOf('experiments/mnist-15block.yaml'))).toBe(3_313_664);
  });

  it('changes as each ablation should', () => {
    const h = 128;
    const bnPerBlock = 2 * h + 2 * h + 2 * (2 * h); // gamma and beta of bn1 (h), bn2 (h), bn3 (2h)
    const block = (2 * h * h + h) + (9 * h * h + h) + (h * 2 * h + 2 * h) + bnPerBlock;
    expect(block).toBe(214_528);
    // No batch norm: minus every gamma/beta (input bn: 2*2h, blocks: 15 * bnPerBlock).
    expect(countOf(modelOf('experiments/ablations/no-batch-norm.yaml'))).toBe(3_313_664 - 2 * 2 * h - 15 * bnPerBlock);
    expect(countOf(modelOf('experiments/ablations/5-blocks.yaml'))).toBe(3_313_664 - 10 * block);
    // 4 levels: the output conv h->256 becomes h->4.
    expect(countOf(modelOf('experiments/ablations/4-levels.yaml'))).toBe(3_313_664 - (h * 256 + 256) + (h * 4 + 4));
  });

  it('lists every layer in the table with the total', () => {
    const m = new PixelCNN(modelOf('experiments/mnist-15block.yaml'), MNIST, 0);
    const rows = m.layerTable();
    expect(rows[0]).toMatchObject({ name: 'input.conv', type: 'masked conv 7x7 (A)', outputShape: [28, 28, 256], params: 12_800 });
    expect(rows.filter((r) => r.type === 'residual block')).toHaveLength(15);
    expect(rows.find((r) => r.name === 'blocks.0')?.params).toBe(214_528);
    expect(rows.filter((r) => r.depth === 0).reduce((n, r) => n + r.params, 0)).toBe(3_313_664);
    expect(rows[rows.length - 1]).toMatchObject({ name: 'head.out', outputShape: [28, 28, 256], params: 33_024 });
    m.dispose();
  });
});

describe('masks', () => {
  it('hide the centre and what follows it (A) or only what follows it (B)', () => {
    expect(Array.from(spatialMask(3, 'A'))).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 0]);
    expect(Array.from(spatialMask(3, 'B'))).toEqual([1, 1, 1, 1, 1, 0, 0, 0, 0]);
    expect(Array.from(spatialMask(1, 'B'))).toEqual([1]);
    expect(spatialMask(7, 'A').reduce((a, b) => a + b, 0)).toBe(24);
  });

  it('give masked weights exactly zero gradient', () => {
    const config = { ...modelOf('experiments/mnist-quick.yaml'), blocks: { type: 'residual' as const, count: 1, kernel_size: 3, mask: 'B' as const, dilations: null, skip_connections: false } };
    const m = new PixelCNN(config, { height: 6, width: 6, channels: 1 }, 1);
    const x = tf.randomUniform([2, 6, 6, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
    const { grads } = tf.variableGrads(() => tf.sum(m.forward(x, true)) as tf.Scalar, [m.input!.conv.weight, m.blocks[0].conv2.weight]);
    const check = (g: tf.Tensor, k: number, type: 'A' | 'B') => {
      const mask = spatialMask(k, type);
      const per = g.shape[2]! * g.shape[3]!;
      const values = g.dataSync();
      for (let t = 0; t < k * k; t++) {
        const slice = values.slice(t * per, (t + 1) * per);
        const nonzero = slice.some((v) => v !== 0);
        expect(nonzero, `tap ${t} of a ${k}x${k} mask ${type}`).toBe(mask[t] === 1);
      }
    };
    check(grads[m.input!.conv.weight.name], 7, 'A');
    check(grads[m.blocks[0].conv2.weight.name], 3, 'B');
    tf.dispose([x, ...Object.values(grads)]);
    m.dispose();
  });
});

describe('autoregressive property', () => {
  const base = (): ModelConfig => smallModel({ color_levels: 8 });
  const variants: [string, (c: ModelConfig) => void][] = [
    ['the reference layout, scaled down', () => {}],
    ['kernel 3 everywhere', (c) => { c.input.kernel_size = 3; }],
    ['kernel 5 blocks', (c) => { c.blocks.kernel_size = 5; c.input.kernel_size = 5; }],
    ['kernel 7 blocks', (c) => { c.blocks.kernel_size = 7; }],
    ['no batch norm', (c) => { c.batch_norm = false; }],
    ['5 blocks', (c) => { c.blocks.count = 5; }],
    ['4 colour levels', (c) => { c.color_levels = 4; }],
    ['no blocks, no head convs', (c) => { c.blocks.count = 0; c.head.convs = 0; }],
    ['mask A inside the blocks', (c) => { c.blocks.mask = 'A'; }],
  ];
  it.each(variants)('holds for %s', (_name, change) => {
    const c = base();
    change(c);
    checkAutoregressive(c, 6);
  });

  it('is broken by batch statistics in training mode, as documented', () => {
    // In training mode batch norm normalises with statistics over the whole batch and image,
    // so a change in a later pixel reaches earlier logits slightly. Evaluation and sampling
    // therefore always run in inference mode.
    const m = new PixelCNN(base(), { height: 6, width: 6, channels: 1 }, 7);
    const x = tf.randomUniform([2, 6, 6, 1], 0, 1, 'float32', 1);
    // Pixel 20 changes conv outputs after it, hence the batch statistics, hence pixel 0.
    const y = tf.tidy(() => x.add(tf.oneHot([20], 36).reshape([1, 6, 6, 1])));
    const at0 = (t: tf.Tensor) => tf.tidy(() => m.forward(t as tf.Tensor4D, true).slice([0, 0, 0, 0], [1, 1, 1, -1]).dataSync());
    const d = Math.max(...Array.from(at0(x)).map((v, i) => Math.abs(v - at0(y)[i])));
    expect(d).toBeGreaterThan(0);
    tf.dispose([x, y]);
    m.dispose();
  });
});
