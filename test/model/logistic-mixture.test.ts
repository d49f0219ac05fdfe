// The discretised logistic mixture output of PixelCNN++ (model.output: logistic_mixture): its
// NLL against an independent computation in plain JS doubles, probabilities that sum to 1 over
// every value of a pixel, exact parameter counts, the autoregressive property, and sampling
// (naive and cached alike, and drawing what the likelihood says).
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { loadExperiment } from '../../src/config/load.js';
import type { ModelConfig } from '../../src/config/types.js';
import { mixtureLayout, mixtureLogProb } from '../../src/model/output.js';
import { modelCrossEntropyMean, outputNllSum } from '../../src/model/loss.js';
import { PixelCNN, type ImageShape } from '../../src/model/pixelcnn.js';
import { layerTable, paramCount } from '../../src/model/size.js';
import { drawMixture } from '../../src/sample/draw.js';
import { samplerFor } from '../../src/sample/index.js';
import { createRng, type Rng } from '../../src/util/random.js';
import { checkAutoregressive } from '../helpers/autoregressive.js';
import { pxl, ROOT } from '../helpers/cli.js';
import { smallGatedModel, smallModel } from '../helpers/models.js';
import { nativeMissingAdvice, skipNative } from '../helpers/native.js';

// ---- The reference: one pixel at a time, in doubles, written from the paper's formulas. ----

const sigmoid = (z: number): number => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));
/** log σ(z), written so that neither tail overflows. */
const logSigmoid = (z: number): number => (z >= 0 ? -Math.log1p(Math.exp(-z)) : z - Math.log1p(Math.exp(z)));

/** What the reference did for each sub-pixel and component: which case of the paper it took. */
interface Cases {
  low: number;
  high: number;
  delta: number;
  fallback: number;
}

/**
 * log p(levels | params) of one pixel: params in the layout logits | per channel means, log-scales |
 * coefficients (G on R, B on R, B on G). Level 0: log CDF(x + 1/(L-1)); level L-1: log(1 - CDF(x - 1/(L-1)));
 * else log(CDF(+) - CDF(-)), or below 1e-5 log pdf(x) + log(2/(L-1)).
 */
function referenceLogProb(params: ArrayLike<number>, levels: number[], K: number, L: number, cases?: Cases): number {
  const C = levels.length;
  const x = levels.map((k) => (2 * k) / (L - 1) - 1);
  const half = 1 / (L - 1);
  const at = (i: number) => params[i];
  const logits = Array.from({ length: K }, (_, k) => at(k));
  const maxLogit = Math.max(...logits);
  const logNorm = maxLogit + Math.log(logits.reduce((s, l) => s + Math.exp(l - maxLogit), 0));
  const perComponent: number[] = [];
  for (let k = 0; k < K; k++) {
    let lp = logits[k] - logNorm;
    for (let c = 0; c < C; c++) {
      let mean = at(K + 2 * c * K + k);
      const coeff = (cc: number, j: number) => Math.tanh(at(K * (1 + 2 * C) + ((cc * (cc - 1)) / 2 + j) * K + k));
      for (let j = 0; j < c; j++) mean += coeff(c, j) * x[j];
      const logS = Math.max(at(K + (2 * c + 1) * K + k), -7);
      const s = Math.exp(logS);
      const up = (x[c] - mean + half) / s;
      const down = (x[c] - mean - half) / s;
      if (levels[c] === 0) {
        lp += logSigmoid(up);
        if (cases) cases.low++;
      } else if (levels[c] === L - 1) {
        lp += logSigmoid(-down);
        if (cases) cases.high++;
      } else {
        const d = sigmoid(up) - sigmoid(down);
        if (d >= 1e-5) {
          lp += Math.log(d);
          if (cases) cases.delta++;
        } else {
          // The logistic density at the bin's centre, symmetric in z, times the bin's width 2/(L-1).
          const z = Math.abs((x[c] - mean) / s);
          lp += -z - logS - 2 * Math.log1p(Math.exp(-z)) - Math.log((L - 1) / 2);
          if (cases) cases.fallback++;
        }
      }
    }
    perComponent.push(lp);
  }
  const m = Math.max(...perComponent);
  return m + Math.log(perComponent.reduce((s, v) => s + Math.exp(v - m), 0));
}

/** Random parameters for `pixels` pixels: wide logits, means a little beyond [-1, 1], log-scales from -10 (clamped at -7) to 1. */
function randomParams(rng: Rng, pixels: number, K: number, C: number): Float32Array {
  const size = mixtureLayout(K, C).size;
  const p = new Float32Array(pixels * size);
  for (let n = 0; n < pixels; n++) {
    const o = n * size;
    for (let k = 0; k < K; k++) p[o + k] = 3 * rng.normal();
    for (let c = 0; c < C; c++) {
      for (let k = 0; k < K; k++) {
        p[o + K + 2 * c * K + k] = -1.2 + 2.4 * rng.next();
        p[o + K + (2 * c + 1) * K + k] = -10 + 11 * rng.next();
      }
    }
    for (let i = K * (1 + 2 * C); i < size; i++) p[o + i] = 1.5 * rng.normal();
  }
  return p;
}

/** Random levels, a quarter of them at 0 and a quarter at L-1. */
function randomLevels(rng: Rng, n: number, L: number): Int32Array {
  return Int32Array.from({ length: n }, () => {
    const u = rng.next();
    return u < 0.25 ? 0 : u < 0.5 ? L - 1 : rng.int(L);
  });
}

function ourLogProb(params: Float32Array, levels: Int32Array, K: number, C: number, L: number): Float32Array {
  const layout = mixtureLayout(K, C);
  const N = levels.length / C;
  return tf.tidy(() => mixtureLogProb(tf.tensor2d(params, [N, layout.size]), tf.tensor2d(levels, [N, C], 'int32'), layout, L).dataSync() as Float32Array);
}

describe('the logistic mixture likelihood', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it.each([
    [3, 256, 10],
    [1, 256, 5],
    [3, 16, 3],
    [1, 2, 4],
    [3, 4, 1],
  ])('matches the reference in doubles per pixel: %i channels, %i levels, %i components', (C, L, K) => {
    const rng = createRng(C * 1000 + L + K);
    const N = 400;
    const params = randomParams(rng, N, K, C);
    const levels = randomLevels(rng, N * C, L);
    const ours = ourLogProb(params, levels, K, C, L);
    const size = mixtureLayout(K, C).size;
    const cases: Cases = { low: 0, high: 0, delta: 0, fallback: 0 };
    for (let n = 0; n < N; n++) {
      const ref = referenceLogProb(params.subarray(n * size, (n + 1) * size), Array.from(levels.subarray(n * C, (n + 1) * C)), K, L, cases);
      expect(Number.isFinite(ours[n]), `pixel ${n}`).toBe(true);
      expect(Math.abs(ours[n] - ref), `pixel ${n}: ours ${ours[n]}, reference ${ref}`).toBeLessThanOrEqual(2e-4 + 2e-6 * Math.abs(ref));
    }
    // The draw reached every case of the paper (two levels have no interior bins).
    expect(cases.low).toBeGreaterThan(0);
    expect(cases.high).toBeGreaterThan(0);
    if (L > 2) expect(cases.delta).toBeGreaterThan(0);
    if (L > 2) expect(cases.fallback).toBeGreaterThan(0);
  });

  it('gives the NLL in nats of a whole batch through model.output, the sum of the per-pixel ones', () => {
    const [C, L, K] = [3, 256, 4];
    const image: ImageShape = { height: 2, width: 3, channels: C };
    const model = new PixelCNN(smallModel({ hidden: 6, color_levels: L, mixture: K }), image, 0);
    const rng = createRng(3);
    const N = 2 * image.height * image.width;
    const params = randomParams(rng, N, K, C);
    const levels = randomLevels(rng, N * C, L);
    const size = mixtureLayout(K, C).size;
    let ref = 0;
    for (let n = 0; n < N; n++) ref -= referenceLogProb(params.subarray(n * size, (n + 1) * size), Array.from(levels.subarray(n * C, (n + 1) * C)), K, L);
    const ours = tf.tidy(() => outputNllSum(model, tf.tensor4d(params, [2, image.height, image.width, size]), tf.tensor1d(levels, 'int32')).dataSync()[0]);
    expect(Math.abs(ours - ref) / ref).toBeLessThan(1e-5);
    model.dispose();
  });

  it.each([
    [3, 4, 5],
    [1, 256, 10],
    [3, 2, 3],
  ])('sums to 1 over all values of a pixel: %i channels, %i levels, %i components', (C, L, K) => {
    const rng = createRng(C + L);
    const pixels = 6;
    const size = mixtureLayout(K, C).size;
    const params = randomParams(rng, pixels, K, C);
    // Pixel 0: every log-scale at the floor (-7 and below); pixel 1: wide logistics; the rest at random.
    for (let c = 0; c < C; c++) for (let k = 0; k < K; k++) {
      params[K + (2 * c + 1) * K + k] = -7 - 3 * rng.next();
      params[size + K + (2 * c + 1) * K + k] = 0.5 + rng.next();
    }
    const values = L ** C;
    const levels = new Int32Array(pixels * values * C);
    const repeated = new Float32Array(pixels * values * size);
    for (let n = 0; n < pixels; n++) {
      for (let v = 0; v < values; v++) {
        const row = n * values + v;
        repeated.set(params.subarray(n * size, (n + 1) * size), row * size);
        for (let c = 0, r = v; c < C; c++, r = Math.floor(r / L)) levels[row * C + c] = r % L;
      }
    }
    const logp = ourLogProb(repeated, levels, K, C, L);
    for (let n = 0; n < pixels; n++) {
      let total = 0;
      for (let v = 0; v < values; v++) total += Math.exp(logp[n * values + v]);
      expect(Math.abs(total - 1), `pixel ${n}: the probabilities sum to ${total}`).toBeLessThan(2e-4);
    }
  });

  it('has the gradient of the reference (central differences in doubles)', () => {
    const [C, L, K] = [3, 16, 2];
    const rng = createRng(9);
    const N = 6;
    const size = mixtureLayout(K, C).size;
    const params = randomParams(rng, N, K, C);
    // Log-scales above the floor and away from the fallback, where the NLL is smooth.
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let k = 0; k < K; k++) params[n * size + K + (2 * c + 1) * K + k] = -2 + rng.next();
    const levels = randomLevels(rng, N * C, L);
    const layout = mixtureLayout(K, C);
    const grad = tf.tidy(() => {
      const g = tf.grad((p: tf.Tensor) => tf.neg(tf.sum(mixtureLogProb(p as tf.Tensor2D, tf.tensor2d(levels, [N, C], 'int32'), layout, L))));
      return g(tf.tensor2d(params, [N, size])).dataSync() as Float32Array;
    });
    const h = 1e-4;
    for (let n = 0; n < N; n++) {
      const pixel = Array.from(params.subarray(n * size, (n + 1) * size));
      const lv = Array.from(levels.subarray(n * C, (n + 1) * C));
      for (let i = 0; i < size; i++) {
        const plus = [...pixel];
        const minus = [...pixel];
        plus[i] += h;
        minus[i] -= h;
        const numeric = -(referenceLogProb(plus, lv, K, L) - referenceLogProb(minus, lv, K, L)) / (2 * h);
        expect(Math.abs(grad[n * size + i] - numeric), `pixel ${n} parameter ${i}`).toBeLessThan(2e-3 + 2e-3 * Math.abs(numeric));
      }
    }
  });

  it('trains: a few Adam steps lower the NLL of a small colour batch (levels 180 to 187), with finite gradients', () => {
    const image: ImageShape = { height: 4, width: 4, channels: 3 };
    const model = new PixelCNN(smallModel({ hidden: 6, color_levels: 256, mixture: 3 }), image, 1);
    const rng = createRng(4);
    const n = 4 * 16 * 3;
    const targets = Int32Array.from({ length: n }, () => 180 + rng.int(8));
    const x = tf.tensor4d(Float32Array.from(targets, (k) => k / 255), [4, 4, 4, 3]);
    const t = tf.tensor1d(targets, 'int32');
    const optimizer = tf.train.adam(0.05);
    const losses: number[] = [];
    for (let step = 0; step < 15; step++) {
      const { value, grads } = tf.variableGrads(() => modelCrossEntropyMean(model, x, t), model.trainable());
      expect(Object.values(grads).every((g) => (g.dataSync() as Float32Array).every(Number.isFinite))).toBe(true);
      losses.push(value.dataSync()[0]);
      optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
      tf.dispose([value, ...Object.values(grads)]);
    }
    expect(losses.at(-1)!, losses.join(' ')).toBeLessThan(losses[0] - 0.5);
    tf.dispose([x, t]);
    optimizer.dispose();
    model.dispose();
  });
});

describe('drawing from the mixture', () => {
  it('draws each value of a pixel as often as its probability (L = 4, RGB, 3 components)', () => {
    const [C, L, K] = [3, 4, 3];
    const layout = mixtureLayout(K, C);
    const params = randomParams(createRng(21), 1, K, C);
    for (let c = 0; c < C; c++) for (let k = 0; k < K; k++) params[K + (2 * c + 1) * K + k] = -1.5 + 0.5 * k;
    const draws = 40_000;
    const rows = new Float32Array(draws * layout.size);
    for (let d = 0; d < draws; d++) rows.set(params, d * layout.size);
    const out = new Int32Array(draws * C);
    drawMixture(rows, layout, L, 1, createRng(5), out);
    const counts = new Float64Array(L ** C);
    for (let d = 0; d < draws; d++) counts[out[d * C] + L * out[d * C + 1] + L * L * out[d * C + 2]]++;
    let tv = 0;
    for (let v = 0; v < L ** C; v++) {
      const levels = [v % L, Math.floor(v / L) % L, Math.floor(v / (L * L))];
      tv += Math.abs(counts[v] / draws - Math.exp(referenceLogProb(params, levels, K, L)));
    }
    // Total variation of 40,000 draws over 64 values: about 0.02 from sampling noise alone.
    expect(tv / 2).toBeLessThan(0.03);
  });

  it('at a low temperature draws the likeliest component at its mean', () => {
    const [C, L, K] = [3, 256, 2];
    const layout = mixtureLayout(K, C);
    const p = new Float32Array(layout.size);
    p.set([2, 0]); // component 0 is e^2 times likelier
    const means = [[0.5, -0.9], [-0.25, 0.9], [0, 0.3]];
    for (let c = 0; c < C; c++) for (let k = 0; k < K; k++) {
      p[layout.mean(c) + k] = means[c][k];
      p[layout.logScale(c) + k] = -3;
    }
    // B moves with R by tanh(0.5): B's mean is 0 + 0.4621 * x(R).
    p[layout.coefficient(2, 0)] = 0.5;
    const out = new Int32Array(C);
    drawMixture(p, layout, L, 0.001, createRng(1), out);
    const level = (x: number) => Math.round(((x + 1) / 2) * 255);
    const r = (2 * level(0.5)) / 255 - 1;
    expect(Array.from(out)).toEqual([level(0.5), level(-0.25), level(Math.tanh(0.5) * r)]);
  });
});

describe('parameter counts of mixture models', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  const allocated = (config: ModelConfig, image: ImageShape): number => {
    const m = new PixelCNN(config, image, 0);
    try {
      return m.paramCount();
    } finally {
      m.dispose();
    }
  };

  it('counts 96,436 for colored-mnist-quick with a 10-component mixture (by hand), from the config, allocated and in pxl inspect', () => {
    // As the softmax model (colour.test.ts) up to the output conv: 24 -> 10 * (1 + 2 * 3) + 3 * 10 = 100 outputs per pixel.
    const input = 7 * 7 * 3 * 48 + 48 + 96;
    const block = (48 * 24 + 24) + 48 + (25 * 24 * 24 + 24) + 48 + (24 * 48 + 48) + 96;
    const head = (48 * 24 + 24) + (24 * 24 + 24) + (24 * 100 + 100);
    expect(input + 5 * block + head).toBe(96_436);
    const config = smallModel({ hidden: 24, color_levels: 256, blocks: { count: 5, kernel_size: 5 }, mixture: 10 });
    const rgb = { height: 28, width: 28, channels: 3 };
    expect(paramCount(config, rgb)).toBe(96_436);
    expect(allocated(config, rgb)).toBe(96_436);
    const r = pxl(['inspect', 'experiments/colored-mnist-quick.yaml', '--set', 'model.output.type=logistic_mixture', '--set', 'model.output.components=10', '--no-receptive-field'], { cwd: ROOT });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/head\.out\s+masked conv 1x1 \(B\)\s+28x28x100\s+2,500\n/);
    expect(r.stdout).toContain('total trainable parameters: 96,436');
  });

  it('counts 7,407 for a one-channel gated model with a 5-component mixture (by hand), from the config and allocated', () => {
    // h = 12, 2 gated blocks of width 3, 7-wide input stacks, batch norm, two head convs; 3 * 5 outputs per pixel.
    // input: vertical 4x7 1 -> 12 + bias, bn; horizontal mask A 1x3 1 -> 12 + bias, bn.
    const input = (4 * 7 * 12 + 12) + 24 + (3 * 12 + 12) + 24;
    // per block: vertical 2x3 12 -> 24 + bn, horizontal 1x2 12 -> 24 + bn, link 24 -> 24, output 12 -> 12 + bn.
    const block = (2 * 3 * 12 * 24 + 24) + 48 + (2 * 12 * 24 + 24) + 48 + (24 * 24 + 24) + (12 * 12 + 12) + 24;
    const head = 2 * (12 * 12 + 12) + (12 * 15 + 15);
    expect(input + 2 * block + head).toBe(7_407);
    const config = smallGatedModel({ hidden: 12, color_levels: 256, blocks: { count: 2 }, mixture: 5 });
    const gray = { height: 28, width: 28, channels: 1 };
    expect(paramCount(config, gray)).toBe(7_407);
    expect(allocated(config, gray)).toBe(7_407);
    expect(layerTable(config, gray).at(-1)).toMatchObject({ name: 'head.out', type: 'conv 1x1', outputShape: [28, 28, 15], params: 195 });
  });
});

const SKIP_NATIVE = skipNative();

/** Mixture models on a 4x4 image; h=24 for colour (8 channels per group). */
const arVariants: [string, ModelConfig, number][] = [
  ['residual RGB, 5 components', smallModel({ hidden: 24, color_levels: 256, mixture: 5 }), 3],
  ['gated RGB, skip connections, 3 components', smallGatedModel({ hidden: 24, color_levels: 256, mixture: 3, blocks: { skip_connections: true } }), 3],
  ['residual one channel, no head convs, 4 components', smallModel({ hidden: 8, color_levels: 256, mixture: 4, head: { convs: 0 } }), 1],
];

/** Mixture models for sampling: small, on images that are not square. */
const samplingVariants: [string, ModelConfig, ImageShape][] = [
  ['residual RGB', smallModel({ hidden: 6, color_levels: 256, mixture: 4, blocks: { count: 2 } }), { height: 4, width: 5, channels: 3 }],
  ['gated RGB, dilations', smallGatedModel({ hidden: 6, color_levels: 16, mixture: 3, blocks: { count: 2, dilations: [1, 2] } }), { height: 4, width: 5, channels: 3 }],
  ['residual one channel', smallModel({ hidden: 4, color_levels: 256, mixture: 5, blocks: { count: 2 } }), { height: 5, width: 4, channels: 1 }],
  ['gated one channel, 4 levels', smallGatedModel({ hidden: 4, color_levels: 4, mixture: 2 }), { height: 5, width: 4, channels: 1 }],
];

describe.each(['cpu', 'wasm', 'tensorflow'] as const)('mixture models on the %s backend', (backend) => {
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
  const started = () => {
    if (loadError) expect.fail(`backend ${backend} does not start: ${loadError}${backend === 'tensorflow' ? ` (${nativeMissingAdvice()})` : ''}`);
    expect(tf.getBackend()).toBe(backend);
  };

  it.skipIf(skip).each(arVariants)('are autoregressive: the parameters of pixel p see no channel of p or later pixels, and do see earlier ones: %s', (_name, config, channels) => {
    started();
    checkAutoregressive(config, 4, channels);
  });

  it.skipIf(skip)('take a training step: finite gradients, the same with blocks recomputed in the backward pass (train.recompute)', () => {
    started();
    const model = new PixelCNN(smallModel({ hidden: 6, color_levels: 256, mixture: 3 }), { height: 4, width: 4, channels: 3 }, 2);
    const rng = createRng(6);
    const targets = Int32Array.from({ length: 2 * 16 * 3 }, () => rng.int(256));
    const x = tf.tensor4d(Float32Array.from(targets, (k) => k / 255), [2, 4, 4, 3]);
    const t = tf.tensor1d(targets, 'int32');
    const gradsOf = (recompute: boolean) =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => modelCrossEntropyMean(model, x, t, recompute), model.trainable());
        return [value.dataSync()[0], ...Object.values(grads).flatMap((g) => Array.from(g.dataSync()))];
      });
    const [plain, recomputed] = [gradsOf(false), gradsOf(true)];
    expect(plain.every(Number.isFinite)).toBe(true);
    expect(Math.max(...plain.map((g, i) => Math.abs(g - recomputed[i])))).toBeLessThan(1e-4);
    tf.dispose([x, t]);
    model.dispose();
  });

  it.skipIf(skip).each(samplingVariants)('sample the same images naive and cached: %s', async (_name, config, image) => {
    started();
    const model = new PixelCNN(config, image, 3);
    try {
      const seen: Float32Array[][] = [[], []];
      const draw = async (method: 'naive' | 'cached', k: number) =>
        samplerFor(method).sample(model, { count: 3, temperature: 0.9, seed: 8, onLogits: (_p, l) => seen[k].push(Float32Array.from(l)) });
      const naive = await draw('naive', 0);
      const cached = await draw('cached', 1);
      // One ask per pixel: the mixture's parameters for all of its channels.
      expect(seen[0].length).toBe(image.height * image.width);
      expect(seen[1].length).toBe(seen[0].length);
      const worst = Math.max(...seen[0].map((l, p) => Math.max(...l.map((v, i) => Math.abs(v - seen[1][p][i])))));
      expect(worst).toBeLessThan(1e-4);
      expect(Array.from(cached.classes)).toEqual(Array.from(naive.classes));
      // The draws use the levels: not all the same.
      expect(new Set(naive.classes).size).toBeGreaterThan(1);
      expect(Math.max(...naive.classes)).toBeLessThan(config.color_levels);
    } finally {
      model.dispose();
    }
  });
});

describe('model.output in experiment files', () => {
  it('is the softmax when absent: configs and run folders from before the setting resolve as they did', () => {
    const e = loadExperiment(`${ROOT}/experiments/colored-mnist-quick.yaml`).experiment;
    expect(e.model.output).toEqual({ type: 'softmax', components: null });
    const m = new PixelCNN(e.model, { height: 4, width: 4, channels: 3 }, 0);
    expect(m.head.out.spec.out).toBe(3 * 256);
    expect(m.output.mixture).toBeNull();
    m.dispose();
  });
});
