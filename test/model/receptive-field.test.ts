// The receptive field pxl inspect prints, measured with one gradient on a positive-weight copy of
// the model, held against brute force: change each input pixel of the model with its ordinary
// random weights and see whether the pixel's logits move. And the reference model's blind spot.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { loadExperiment } from '../../src/config/load.js';
import type { ModelConfig } from '../../src/config/types.js';
import { oneHotLabels } from '../../src/model/conditioning.js';
import { PixelCNN, type ImageShape } from '../../src/model/pixelcnn.js';
import { receptiveField, viewPicture } from '../../src/model/receptive-field.js';
import { createRng } from '../../src/util/random.js';
import { pxl, ROOT } from '../helpers/cli.js';
import { smallModel } from '../helpers/models.js';

// wasm: brute force runs the model once per pixel, which the pure-JS cpu backend takes minutes for.
beforeAll(async () => {
  tf.env().set('PROD', true);
  await initBackend('wasm');
});

/**
 * Brute force: the pixels whose change moves the logits at `target` at all, over a few random
 * images, with the model's own random weights. A change of 1e12: a far pixel reaches the logits
 * through 15 blocks much weakened, and a small change would be lost in float32 rounding
 * (brute force with a change of 0.5 misses a third of what the reference's centre pixel sees);
 * a masked tap still multiplies it by exactly 0. Its sign alternates, so a relu that one sign
 * closes the other opens.
 */
function perturbationField(config: ModelConfig, image: ImageShape, target: { row: number; col: number }, pixels: number, bases = 3): Uint8Array {
  const { height: H, width: W } = image;
  const model = new PixelCNN(config, image, 13);
  const rng = createRng(17);
  const at = target.row * W + target.col;
  const seen = new Uint8Array(H * W);
  for (let b = 0; b < bases; b++) {
    const base = Float32Array.from({ length: H * W }, () => rng.next());
    // Image 0 is the base; image 1 + q has pixel q changed.
    const batch = new Float32Array((pixels + 1) * H * W);
    for (let i = 0; i <= pixels; i++) batch.set(base, i * H * W);
    for (let q = 0; q < pixels; q++) batch[(q + 1) * H * W + q] = base[q] + (b % 2 ? -1e12 : 1e12);
    const labels = model.classes === null ? null : oneHotLabels(Array(pixels + 1).fill(1), model.classes);
    const logits = tf.tidy(() => model.forward(tf.tensor4d(batch, [pixels + 1, H, W, 1]), false, false, labels).reshape([pixels + 1, H * W, -1]).slice([0, at, 0], [-1, 1, -1]).reshape([pixels + 1, -1]).arraySync() as number[][]);
    labels?.dispose();
    for (let q = 0; q < pixels; q++) if (logits[q + 1].some((v, l) => v !== logits[0][l])) seen[q] = 1;
  }
  model.dispose();
  return seen;
}

const cases: [string, ModelConfig, ImageShape][] = [
  ['the reference layout at h=8', smallModel({ hidden: 8, blocks: { count: 3 } }), { height: 9, width: 9, channels: 1 }],
  ['5x5 input, 5x5 blocks', smallModel({ hidden: 8, input: { kernel_size: 5 }, blocks: { count: 2, kernel_size: 5 } }), { height: 9, width: 9, channels: 1 }],
  ['mask A in the blocks', smallModel({ hidden: 8, blocks: { count: 3, mask: 'A' } }), { height: 7, width: 10, channels: 1 }],
  ['no blocks', smallModel({ hidden: 8, input: { kernel_size: 3 }, blocks: { count: 0 } }), { height: 6, width: 6, channels: 1 }],
  ['class-conditional, wider than MEASURE_WIDTH', smallModel({ hidden: 20, classes: 3, blocks: { count: 3 } }), { height: 8, width: 8, channels: 1 }],
];

describe('the measured receptive field', () => {
  it.each(cases)('is what brute-force perturbation finds: %s', (_name, config, image) => {
    const { height: H, width: W } = image;
    const targets = [{ row: Math.floor(H / 2), col: Math.floor(W / 2) }, { row: H - 1, col: W - 1 }, { row: 1, col: W - 2 }];
    const views = receptiveField(config, image, targets);
    views.forEach((v, i) => {
      const all = H * W;
      const brute = perturbationField(config, image, targets[i], all);
      expect(Array.from(v.seen), `pixel (${v.row},${v.col})`).toEqual(Array.from(brute));
      expect(v.leaks).toBe(0);
      expect(v.visible + v.blind).toBe(v.row * W + v.col);
    });
  });

  it('draws the pixel, what it sees and its blind spot', () => {
    const [v] = receptiveField(smallModel({ blocks: { count: 1 } }), { height: 6, width: 6, channels: 1 }, [{ row: 5, col: 2 }]);
    // A 7x7 mask-A input conv (3 rows up, 3 columns either side) and one 3x3 mask-B block (1 more).
    expect(viewPicture(v, 6)).toEqual([
      '......',
      '######',
      '######',
      '######',
      '######',
      '##@   ',
    ]);
    expect(v).toMatchObject({ predecessors: 32, visible: 26, blind: 6, leaks: 0 });
  });
});

describe("the reference model's blind spot", () => {
  const reference = loadExperiment(`${ROOT}/experiments/mnist-15block.yaml`).experiment.model;
  const MNIST = { height: 28, width: 28, channels: 1 };

  it('pixel (14,14) sees 351 of its 406 predecessors and misses 55, as brute force finds', () => {
    const [centre, corner] = receptiveField(reference, MNIST, [{ row: 14, col: 14 }, { row: 27, col: 27 }]);
    expect(centre).toMatchObject({ predecessors: 406, visible: 351, blind: 55, leaks: 0 });
    // 3 rows up and 3 columns left from the 7x7 input conv and one more per block: rows 9 to 27, columns 9 to 27.
    expect(corner).toMatchObject({ predecessors: 783, visible: 18 * 19 + 18, blind: 783 - 360, leaks: 0 });
    // Brute force at h=8 (the width changes no connection) over the predecessors and the pixel itself.
    const brute = perturbationField({ ...reference, hidden: 8 }, MNIST, { row: 14, col: 14 }, 407, 1);
    expect(Array.from(centre.seen)).toEqual(Array.from(brute));
  });

  it('is printed by pxl inspect, with its picture', () => {
    const r = pxl(['inspect', 'experiments/mnist-15block.yaml'], { cwd: ROOT, timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('centre pixel (14,14): sees 351 of its 406 predecessors, blind spot of 55');
    expect(r.stdout).toContain('corner pixel (27,27): sees 360 of its 783 predecessors, blind spot of 423');
    // The blind spot up and to the right of the centre pixel, one more column per row up.
    expect(r.stdout).toMatch(/\n {2}#{18}\.{10} {4}\.{9}#{19}\n {2}#{14}@ +\.{9}#{18}@\n/);
    const without = pxl(['inspect', 'experiments/mnist-15block.yaml', '--no-receptive-field'], { cwd: ROOT, timeout: 60_000 });
    expect(without.status).toBe(0);
    expect(without.stdout).toContain('total trainable parameters: 3,313,664');
    expect(without.stdout).not.toContain('receptive field');
  });
});
