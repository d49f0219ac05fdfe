import { describe, expect, it } from 'vitest';
import {
  EpochOrder,
  batchesPerEpoch,
  dequantize,
  makeBatch,
  orderForEpoch,
  quantize,
  quantizeTables,
} from '../../src/data/batches.js';
import { loadDataset, type ImageSet } from '../../src/data/datasets.js';
import { ramp } from './helpers.js';

const EDGES = [0, 127, 128, 255];

describe('quantisation', () => {
  it.each([
    [2, [0, 0, 1, 1], [0, 0, 1, 1]],
    [4, [0, 1, 2, 3], [0, 1 / 3, 2 / 3, 1]],
    [256, [0, 127, 128, 255], [0, 127 / 255, 128 / 255, 1]],
  ])('maps edge bytes to classes and inputs with %i levels', (levels, classes, inputs) => {
    expect(EDGES.map((b) => quantize(b, levels))).toEqual(classes);
    const { inputOf } = quantizeTables(levels);
    EDGES.forEach((b, i) => expect(inputOf[b]).toBeCloseTo(inputs[i], 6));
  });

  it('uses every class equally often over all bytes', () => {
    for (const levels of [2, 3, 4, 16, 256]) {
      const { classOf } = quantizeTables(levels);
      const counts = new Array(levels).fill(0);
      classOf.forEach((c) => counts[c]++);
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    }
  });

  it('dequantises classes to full-range bytes', () => {
    expect(Array.from(dequantize([0, 1, 2, 3], 4))).toEqual([0, 85, 170, 255]);
    expect(Array.from(dequantize([0, 1], 2))).toEqual([0, 255]);
    expect(Array.from(dequantize(EDGES, 256))).toEqual(EDGES);
    // Round trip: quantise(dequantise(c)) = c for every class.
    for (const levels of [2, 5, 8, 256]) {
      const classes = Array.from({ length: levels }, (_, c) => c);
      expect(Array.from(dequantize(classes, levels), (b) => quantize(b, levels))).toEqual(classes);
    }
  });

  it('rejects levels outside 2..256', () => {
    for (const bad of [1, 257, 2.5]) expect(() => quantizeTables(bad)).toThrow(/levels must be an integer in 2\.\.256/);
  });
});

describe('makeBatch', () => {
  const set: ImageSet = { count: 3, images: ramp(3, 2, 2, 3), labels: null }; // 12 bytes per image

  it('lays out the chosen images in NHWC order', () => {
    const b = makeBatch(set, [2, 0], 256);
    expect(b.count).toBe(2);
    expect(Array.from(b.targets)).toEqual([...ramp(1, 2, 2, 3, 24), ...ramp(1, 2, 2, 3, 0)]);
    expect(b.inputs[0]).toBeCloseTo(24 / 255, 6);
    expect(b.inputs.length).toBe(24);
  });

  it('quantises targets and inputs together', () => {
    const s: ImageSet = { count: 1, images: Uint8Array.from(EDGES), labels: null };
    const b = makeBatch(s, [0], 4);
    expect(Array.from(b.targets)).toEqual([0, 1, 2, 3]);
    expect(Array.from(b.inputs)).toEqual(Array.from(Float32Array.from([0, 1 / 3, 2 / 3, 1])));
  });

  it('fills caller-owned buffers and checks indices', () => {
    const out = { inputs: new Float32Array(36), targets: new Int32Array(36) };
    const b = makeBatch(set, Uint32Array.of(1), 256, out);
    expect(b.targets.buffer).toBe(out.targets.buffer);
    expect(Array.from(b.targets)).toEqual(Array.from(ramp(1, 2, 2, 3, 12)));
    expect(() => makeBatch(set, [3], 256)).toThrow(/index 3 outside 0..2/);
    expect(() => makeBatch(set, [0, 1, 2, 0], 256, out)).toThrow(/out buffers hold 36 values, batch needs 48/);
  });

  // Its speed is measured by bench/ (the training throughput); here: every value of a full-size batch.
  it('builds a 128-image MNIST batch: every target is the image byte at 256 levels, every input that over 255', async () => {
    const mnist = await loadDataset({ name: 'mnist', train_limit: 1024, test_limit: 1 });
    const indices = orderForEpoch(0, 0, 1024).subarray(0, 128);
    const b = makeBatch(mnist.train, indices, 256);
    expect(b.targets.length).toBe(128 * 784);
    expect(b.inputs.length).toBe(128 * 784);
    let wrong = 0;
    for (let n = 0; n < 128; n++) {
      for (let p = 0; p < 784; p++) {
        const byte = mnist.train.images[indices[n] * 784 + p];
        if (b.targets[n * 784 + p] !== byte || b.inputs[n * 784 + p] !== Math.fround(byte / 255)) wrong++;
      }
    }
    expect(wrong).toBe(0);
  });
});

describe('epoch order', () => {
  it('is a permutation determined by (seed, epoch)', () => {
    const a = orderForEpoch(7, 3, 1000);
    expect(Array.from(a)).toEqual(Array.from(orderForEpoch(7, 3, 1000)));
    expect(Array.from(a).sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(Array.from(orderForEpoch(7, 4, 1000))).not.toEqual(Array.from(a));
    expect(Array.from(orderForEpoch(8, 3, 1000))).not.toEqual(Array.from(a));
    expect(Array.from(orderForEpoch(1, 0, 8))).toEqual([3, 2, 1, 7, 4, 6, 5, 0]) // pinned: resumed runs depend on it;
  });

  it('counts batches, dropping an incomplete last one for training', () => {
    expect(batchesPerEpoch(100, 32, true)).toBe(3);
    expect(batchesPerEpoch(100, 32, false)).toBe(4);
    expect(batchesPerEpoch(96, 32, true)).toBe(3);
    expect(batchesPerEpoch(0, 32, false)).toBe(0);
    expect(() => batchesPerEpoch(10, 32, true)).toThrow(/smaller than the batch size 32/);
  });

  it('replays the same batches when a run resumes at any step', () => {
    const run = new EpochOrder(11, 100, 32);
    const seen = Array.from({ length: 9 }, (_, s) => Array.from(run.forStep(s)));
    expect(run.position(7)).toEqual({ epoch: 2, batch: 1 });
    expect(seen[0].length).toBe(32);
    // One epoch's batches are disjoint; epochs are shuffled differently.
    expect(new Set(seen.slice(0, 3).flat()).size).toBe(96);
    expect(seen[3]).not.toEqual(seen[0]);
    const resumed = new EpochOrder(11, 100, 32);
    expect(Array.from(resumed.forStep(7))).toEqual(seen[7]);
    expect(Array.from(resumed.forStep(4))).toEqual(seen[4]);
    const evalOrder = new EpochOrder(11, 100, 32, false);
    expect(evalOrder.indices(0, 3).length).toBe(4);
  });
});
