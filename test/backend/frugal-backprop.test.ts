// Releasing intermediate gradients early changes no number and lowers the peak memory of a step.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installFrugalBackprop, uninstallFrugalBackprop } from '../../src/backend/frugal-backprop.js';
import { initBackend } from '../../src/backend/index.js';
import { crossEntropyMean } from '../../src/model/loss.js';
import { PixelCNN } from '../../src/model/pixelcnn.js';
import { smallModel } from '../helpers/models.js';

const CONFIG = smallModel({ hidden: 8, input: { kernel_size: 5 }, blocks: { count: 3 } });

beforeAll(async () => {
  tf.env().set('PROD', true);
  await initBackend('wasm');
});
afterAll(() => uninstallFrugalBackprop());

/** Gradients of one training loss, and the step's peak bytes. */
async function step(): Promise<{ grads: Float32Array[]; peak: number; tensorsAfter: number }> {
  const model = new PixelCNN(CONFIG, { height: 10, width: 10, channels: 1 }, 1);
  const x = tf.randomUniform([4, 10, 10, 1], 0, 1, 'float32', 2) as tf.Tensor4D;
  const t = tf.randomUniform([400], 0, 16, 'int32', 3) as tf.Tensor1D;
  const before = tf.memory().numTensors;
  let grads: Float32Array[] = [];
  const profile = await tf.profile(() => {
    const { value, grads: g } = tf.variableGrads(() => crossEntropyMean(model.forward(x, true), t, 16), model.trainable());
    grads = model.trainable().map((v) => g[v.name].dataSync() as Float32Array);
    tf.dispose([value, ...Object.values(g)]);
  });
  const tensorsAfter = tf.memory().numTensors - before;
  tf.dispose([x, t]);
  model.dispose();
  return { grads, peak: profile.peakBytes, tensorsAfter };
}

describe('frugal backprop', () => {
  it('gives the same gradients with less peak memory and no leaked tensors', async () => {
    uninstallFrugalBackprop();
    const stock = await step();
    installFrugalBackprop();
    const frugal = await step();
    expect(frugal.grads.length).toBe(stock.grads.length);
    frugal.grads.forEach((g, i) => expect(Array.from(g)).toEqual(Array.from(stock.grads[i])));
    expect(frugal.peak).toBeLessThan(stock.peak * 0.9);
    expect(frugal.tensorsAfter).toBe(stock.tensorsAfter);
  });
});
