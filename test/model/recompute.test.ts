// Recomputing blocks in the backward pass: the same training step, in less memory.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { installFrugalBackprop } from '../../src/backend/frugal-backprop.js';
import { initBackend } from '../../src/backend/index.js';
import { crossEntropyMean } from '../../src/model/loss.js';
import { PixelCNN } from '../../src/model/pixelcnn.js';
import { smallModel } from '../helpers/models.js';

const CONFIG = smallModel({ hidden: 8, input: { kernel_size: 5 }, blocks: { count: 4 } });

beforeAll(async () => {
  tf.env().set('PROD', true);
  await initBackend('wasm');
  installFrugalBackprop();
});

async function step(recompute: boolean, batchNorm = true) {
  const model = new PixelCNN({ ...CONFIG, batch_norm: batchNorm }, { height: 12, width: 12, channels: 1 }, 4);
  const x = tf.randomUniform([6, 12, 12, 1], 0, 1, 'float32', 5) as tf.Tensor4D;
  const t = tf.randomUniform([6 * 144], 0, 16, 'int32', 6) as tf.Tensor1D;
  const before = tf.memory().numTensors;
  let grads: number[][] = [];
  let loss = 0;
  const profile = await tf.profile(() => {
    const { value, grads: g } = tf.variableGrads(() => crossEntropyMean(model.forward(x, true, recompute), t, 16), model.trainable());
    loss = value.dataSync()[0];
    grads = model.trainable().map((v) => Array.from(g[v.name].dataSync()));
    tf.dispose([value, ...Object.values(g)]);
  });
  const leaked = tf.memory().numTensors - before;
  const running = model.norms().flatMap((b) => [...b.runningMean.dataSync(), ...b.runningVar.dataSync()]);
  tf.dispose([x, t]);
  model.dispose();
  return { loss, grads, running, peak: profile.peakBytes, leaked };
}

describe('recomputed blocks', () => {
  it.each([true, false])('give the same loss, gradients and running statistics (batch norm %s)', async (bn) => {
    const stored = await step(false, bn);
    const recomputed = await step(true, bn);
    expect(recomputed.loss).toBe(stored.loss);
    recomputed.grads.forEach((g, i) => g.forEach((v, j) => expect(v).toBeCloseTo(stored.grads[i][j], 6)));
    expect(recomputed.running).toEqual(stored.running);
    expect(recomputed.leaked).toBe(stored.leaked);
  });

  it('need less peak memory', async () => {
    const stored = await step(false);
    const recomputed = await step(true);
    expect(recomputed.peak).toBeLessThan(stored.peak * 0.8);
  });
});
