// Perturbation checks of what a PixelCNN's logits at each pixel depend on, on whatever tfjs
// backend is active: the autoregressive property (nothing at or after a pixel) and the
// receptive field (which earlier pixels do reach it).
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import type { ModelConfig } from '../../src/config/types.js';
import { PixelCNN } from '../../src/model/pixelcnn.js';
import { createRng } from '../../src/util/random.js';

/** A model whose batch-norm running statistics are non-trivial, so inference mode is really exercised. */
function warmedModel(config: ModelConfig, size: number, channels = 1): PixelCNN {
  const m = new PixelCNN(config, { height: size, width: size, channels }, 7);
  const rng = createRng(5);
  const P = size * size * channels;
  tf.tidy(() => {
    const warm = tf.tensor4d(Float32Array.from({ length: 4 * P }, () => rng.next()), [4, size, size, channels]);
    for (let i = 0; i < 3; i++) m.forward(warm, true);
  });
  return m;
}

const logitsOf = (m: PixelCNN, pixels: Float32Array, n: number, size: number, channels = 1): number[][][] =>
  tf.tidy(() => m.forward(tf.tensor4d(pixels, [n, size, size, channels]), false).reshape([n, size * size, -1]).arraySync() as number[][][]);

const maxDiff = (u: number[], v: number[]) => Math.max(...u.map((x, i) => Math.abs(x - v[i])));

/**
 * For every pixel p of a small image: the outputs at p (all of them: every channel's logits, or a
 * logistic mixture's parameters) must not change when any input pixel at or after p (raster order,
 * every channel of it) changes, and must change when earlier pixels change.
 */
export function checkAutoregressive(config: ModelConfig, size: number, channels = 1): void {
  const m = warmedModel(config, size, channels);
  const rng = createRng(11);
  const P = size * size;
  const C = channels;
  const V = P * C;
  const base = Float32Array.from({ length: V }, () => rng.next());
  const future = new Float32Array(P * V); // image p: pixels >= p replaced
  const past = new Float32Array(P * V); // image p: pixels < p replaced
  for (let p = 0; p < P; p++) {
    for (let v = 0; v < V; v++) {
      const q = Math.floor(v / C);
      future[p * V + v] = q >= p ? rng.next() : base[v];
      past[p * V + v] = q < p ? rng.next() : base[v];
    }
  }
  const b = logitsOf(m, base, 1, size, C)[0];
  const f = logitsOf(m, future, P, size, C);
  const pa = logitsOf(m, past, P, size, C);
  for (let p = 0; p < P; p++) {
    expect(maxDiff(f[p][p], b[p]), `pixel ${p} must not see pixels >= ${p}`).toBeLessThanOrEqual(1e-6);
    if (p > 0) expect(maxDiff(pa[p][p], b[p]), `pixel ${p} must see earlier pixels`).toBeGreaterThan(1e-5);
  }
  m.dispose();
}

/**
 * The autoregressive property per sub-pixel for a `channels`-channel model: for every pixel p and
 * channel c of a small image, the logits of c at p (the c-th group of `levels`, or what
 * `outputOf` picks) must not change when any input at a later pixel or at p's channels >= c
 * changes, and must change when the earlier pixels change and, for c > 0, when p's channels < c
 * alone change (G sees R, B sees R and G).
 */
export function checkChannelAutoregressive(config: ModelConfig, size: number, channels: number): void {
  const m = warmedModel(config, size, channels);
  const rng = createRng(17);
  const P = size * size;
  const C = channels;
  const V = P * C; // the values of one image, raster order, channels innermost
  const base = Float32Array.from({ length: V }, () => rng.next());
  // Image s = p * C + c (sub-pixel s): the values from sub-pixel s on replaced (future), those before it (past),
  // or only pixel p's channels before c (own).
  const future = new Float32Array(V * V);
  const past = new Float32Array(V * V);
  const own = new Float32Array(V * V);
  for (let s = 0; s < V; s++) {
    const p = Math.floor(s / C);
    for (let v = 0; v < V; v++) {
      future[s * V + v] = v >= s ? rng.next() : base[v];
      past[s * V + v] = v < s ? rng.next() : base[v];
      own[s * V + v] = v >= p * C && v < s ? rng.next() : base[v];
    }
  }
  const run = (x: Float32Array, n: number) => tf.tidy(() => m.forward(tf.tensor4d(x, [n, size, size, C]), false).reshape([n, P, C, -1]).arraySync() as number[][][][]);
  const b = run(base, 1)[0];
  const [f, pa, o] = [run(future, V), run(past, V), run(own, V)];
  for (let s = 0; s < V; s++) {
    const [p, c] = [Math.floor(s / C), s % C];
    // Rounding between batch sizes stays far below 5e-7; a group's weakest real path (a distant tap
    // through a few relus at initialisation) is a few 1e-6.
    expect(maxDiff(f[s][p][c], b[p][c]), `pixel ${p} channel ${c} must not see itself, later channels or later pixels`).toBeLessThanOrEqual(5e-7);
    if (s > 0) expect(maxDiff(pa[s][p][c], b[p][c]), `pixel ${p} channel ${c} must see what comes before it`).toBeGreaterThan(1e-6);
    if (c > 0) expect(maxDiff(o[s][p][c], b[p][c]), `pixel ${p} channel ${c} must see the pixel's earlier channels`).toBeGreaterThan(1e-6);
  }
  m.dispose();
}

/**
 * Which pixels reach which, by perturbing one input pixel at a time: `sees[p][q]` is true when
 * changing pixel q alone changes the logits at pixel p (beyond `tolerance`).
 */
export function influence(config: ModelConfig, size: number, tolerance = 1e-6): boolean[][] {
  const m = warmedModel(config, size);
  const rng = createRng(13);
  const P = size * size;
  const base = Float32Array.from({ length: P }, () => rng.next());
  const moved = new Float32Array(P * P); // image q: pixel q moved by half the range
  for (let q = 0; q < P; q++) for (let r = 0; r < P; r++) moved[q * P + r] = r === q ? (base[r] + 0.5) % 1 : base[r];
  const b = logitsOf(m, base, 1, size)[0];
  const l = logitsOf(m, moved, P, size);
  m.dispose();
  return Array.from({ length: P }, (_, p) => Array.from({ length: P }, (_, q) => maxDiff(l[q][p], b[p]) > tolerance));
}

/** The predecessors (in raster order) of each pixel that do not reach it: the blind spot. */
export function blindSpots(sees: boolean[][]): number[][] {
  return sees.map((row, p) => row.flatMap((s, q) => (q < p && !s ? [q] : [])));
}

/** The pixels at or after each pixel that do reach it: must be none. */
export function leaks(sees: boolean[][]): number[][] {
  return sees.map((row, p) => row.flatMap((s, q) => (q >= p && s ? [q] : [])));
}
