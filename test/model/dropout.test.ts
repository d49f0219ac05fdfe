// model.dropout: dropout inside the blocks in training, off in evaluation; its masks a function
// of the model's seed, the step and the layer (util/random.ts, dropoutMask).
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { layerOps } from '../../src/backend/layer-ops.js';
import type { ModelConfig } from '../../src/config/types.js';
import { crossEntropyMean } from '../../src/model/loss.js';
import { PixelCNN } from '../../src/model/pixelcnn.js';
import { layerTable, trainingStepFloor } from '../../src/model/size.js';
import { dropoutMask } from '../../src/util/random.js';
import { pxl, ROOT } from '../helpers/cli.js';
import { smallGatedModel, smallModel } from '../helpers/models.js';

const IMAGE = { height: 6, width: 5, channels: 1 };
const N = 3;

function batch(): { x: tf.Tensor4D; t: tf.Tensor1D } {
  const size = N * IMAGE.height * IMAGE.width;
  const levels = Array.from({ length: size }, (_, i) => (i * 7 + 3) % 16);
  return { x: tf.tensor4d(levels.map((l) => l / 15), [N, IMAGE.height, IMAGE.width, 1]), t: tf.tensor1d(levels, 'int32') };
}

/** Logits of a fresh model (seed 1) on the batch: training mode for `step`, or inference mode when step is undefined. */
function logits(config: ModelConfig, step?: number | null): Float32Array {
  const model = new PixelCNN(config, IMAGE, 1);
  const { x } = batch();
  const out = tf.tidy(() => model.forward(x, step !== undefined, false, null, false, step ?? null).dataSync() as Float32Array);
  model.dispose();
  x.dispose();
  return out;
}

const differs = (a: Float32Array, b: Float32Array) => a.some((v, i) => v !== b[i]);

describe.each([
  ['residual', (p: number) => smallModel({ dropout: p })],
  ['gated (with skips)', (p: number) => smallGatedModel({ dropout: p, blocks: { skip_connections: true } })],
])('dropout in %s blocks', (_, config) => {
  it('changes the training-mode output with p > 0, differently at each step and alike at the same step', () => {
    const none = logits(config(0), 4);
    const step4 = logits(config(0.3), 4);
    expect(differs(step4, none)).toBe(true);
    expect(differs(logits(config(0.3), 5), step4)).toBe(true);
    expect(logits(config(0.3), 4)).toEqual(step4);
  });

  it('p = 0: the training-mode output is the same with or without a step, at any step', () => {
    const plain = logits(config(0), null);
    expect(logits(config(0), 4)).toEqual(plain);
    expect(logits(config(0), 9)).toEqual(plain);
  });

  it('is off in evaluation: the output is the no-dropout model\'s with the same weights, bit for bit', () => {
    expect(logits(config(0.5))).toEqual(logits(config(0)));
  });

  it('in training mode a model with dropout needs the step its masks are drawn for', () => {
    expect(() => logits(config(0.3), null)).toThrow('model.dropout is 0.3: a forward pass in training mode needs the training step');
  });

  it('pxl inspect shows it, and the layout from the config alone agrees with the model', () => {
    const model = new PixelCNN(config(0.25), IMAGE, 0);
    const rows = model.layerTable();
    model.dispose();
    const drops = rows.filter((r) => r.name.endsWith('.dropout'));
    expect(drops.map((r) => [r.name, r.type, r.params])).toEqual([
      ['blocks.0.dropout', 'dropout p=0.25 (training only)', 0],
      ['blocks.1.dropout', 'dropout p=0.25 (training only)', 0],
      ...(rows.some((r) => r.name === 'blocks.2') ? [['blocks.2.dropout', 'dropout p=0.25 (training only)', 0]] : []),
    ]);
    expect(drops.every((r) => r.outputShape[2] === 4)).toBe(true);
    expect(layerTable(config(0.25), IMAGE)).toEqual(rows);
    expect(layerTable(config(0), IMAGE).some((r) => r.name.endsWith('.dropout'))).toBe(false);
    // The masks are kept for the backward pass: h values per pixel and block.
    const blocks = rows.filter((r) => r.depth === 0 && r.name.startsWith('blocks.')).length;
    const extra = trainingStepFloor(config(0.25), IMAGE, 2, false).perImageBytes - trainingStepFloor(config(0), IMAGE, 2, false).perImageBytes;
    expect(extra).toBe(4 * blocks * IMAGE.height * IMAGE.width * 4);
  });
});

describe('recomputed residual blocks with dropout', () => {
  it('draw the same masks in the backward pass: the gradients of a recomputed model are those of a plain one', () => {
    const grads = (recompute: boolean) => {
      const model = new PixelCNN(smallModel({ dropout: 0.4 }), IMAGE, 2);
      const { x, t } = batch();
      const { value, grads: g } = tf.variableGrads(() => crossEntropyMean(model.forward(x, true, recompute, null, false, 7), t, 16), model.trainable());
      const out = [value.dataSync()[0], ...model.trainable().map((v) => Array.from(g[v.name]!.dataSync()))] as const;
      tf.dispose([value, ...Object.values(g), x, t]);
      model.dispose();
      return out;
    };
    const plain = grads(false);
    const recomputed = grads(true);
    expect(recomputed[0]).toBeCloseTo(plain[0] as number, 6);
    plain.slice(1).forEach((g, i) => {
      const a = g as number[];
      const b = recomputed[i + 1] as number[];
      const scale = Math.max(1e-6, ...a.map(Math.abs));
      a.forEach((v, j) => expect(Math.abs(v - b[j]!) / scale).toBeLessThan(1e-5));
    });
  });
});

describe('the dropout op', () => {
  it('drops a fraction p of a large tensor, within 5 standard deviations, and scales the kept units by 1 / (1 - p)', () => {
    const shape: [number, number, number, number] = [8, 32, 32, 64]; // 524,288 units
    const n = shape.reduce((a, b) => a * b, 1);
    for (const [p, key] of [[0.1, 11], [0.5, 12], [0.9, 13]] as const) {
      const out = tf.tidy(() => layerOps.dropout(tf.ones(shape) as tf.Tensor4D, p, key).dataSync() as Float32Array);
      const dropped = out.filter((v) => v === 0).length;
      const sd = Math.sqrt(n * p * (1 - p));
      expect(Math.abs(dropped - n * p), `p=${p}: ${dropped} of ${n} dropped`).toBeLessThan(5 * sd);
      expect(out.every((v) => v === 0 || v === Math.fround(1 / (1 - p)))).toBe(true);
    }
  });

  it('draws independent masks for different keys (units dropped in both ≈ p²) and the same mask for the same key', () => {
    const n = 1 << 19;
    const p = 0.5;
    const a = dropoutMask(1, n, p);
    const b = dropoutMask(2, n, p);
    const again = dropoutMask(1, n, p);
    expect(again.every((v, i) => v === a[i])).toBe(true);
    let both = 0;
    for (let i = 0; i < n; i++) if (a[i] === 0 && b[i] === 0) both++;
    expect(Math.abs(both - n * p * p)).toBeLessThan(5 * Math.sqrt(n * p * p * (1 - p * p)));
    // Neighbouring units are not correlated either: pairs (i, i + 1) dropped together ≈ p².
    let pairs = 0;
    for (let i = 0; i + 1 < n; i++) if (a[i] === 0 && a[i + 1] === 0) pairs++;
    expect(Math.abs(pairs - (n - 1) * p * p)).toBeLessThan(5 * Math.sqrt(n * p * p * (1 - p * p)) * 2);
    // A prefix of a longer mask is the shorter mask: each unit's draw depends on its index alone.
    expect(Array.from(dropoutMask(1, 1000, p))).toEqual(Array.from(a.subarray(0, 1000)));
  });

  it('passes the gradient through the kept units only, scaled as they are', () => {
    const x = tf.tensor4d(Array.from({ length: 2 * 4 * 4 * 8 }, (_, i) => 1 + (i % 5)), [2, 4, 4, 8]);
    const mask = dropoutMask(99, x.size, 0.3);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(layerOps.dropout(v as tf.Tensor4D, 0.3, 99), 2)))(x);
    expect(Array.from(g.dataSync())).toEqual(Array.from(mask, (m) => Math.fround(2 * m)));
    const y = layerOps.dropout(x, 0.3, 99).dataSync();
    const xs = x.dataSync();
    expect(Array.from(y)).toEqual(Array.from(xs, (v, i) => Math.fround(v * mask[i]!)));
    tf.dispose([x, g]);
  });

  it('refuses a rate outside [0, 1)', () => {
    expect(() => dropoutMask(1, 4, 1)).toThrow('rate must be in [0, 1), got 1');
    expect(() => dropoutMask(1, 4, -0.1)).toThrow('rate must be in [0, 1), got -0.1');
  });
});

describe('pxl inspect', () => {
  it('shows each block\'s dropout and says it is for training only; nothing of it without dropout', () => {
    const r = pxl(['inspect', 'experiments/mnist-quick-gated.yaml', '--set', 'model.dropout=0.5', '--depth', '1', '--no-receptive-field'], { cwd: ROOT });
    expect(r.status, r.stderr).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => l.includes('.dropout'));
    expect(rows).toHaveLength(7);
    expect(rows[0]).toMatch(/^\s+blocks\.0\.dropout\s+dropout p=0\.5 \(training only\)\s+28x28x32\s+0$/);
    expect(r.stdout).toContain('dropout: 0.5 inside each block, in training only (evaluation and sampling use every unit)');
    const plain = pxl(['inspect', 'experiments/mnist-quick-gated.yaml', '--depth', '1', '--no-receptive-field'], { cwd: ROOT });
    expect(plain.stdout).not.toContain('dropout');
  });
});
