// Turning the model's output into sampled classes: softmax logits, or a logistic mixture's
// parameters. Shared by every sampler, so that given the same probabilities and the same seed
// they draw exactly the same images.
import { MIN_LOG_SCALE, type MixtureLayout } from '../model/output.js';
import type { Rng } from '../util/random.js';

/**
 * Draws one class per row of `logits` ([rows, levels], row-major) from softmax(logits / T),
 * by inverse CDF with one uniform per row, in row order. Accumulates in float64.
 */
export function drawClasses(logits: Float32Array, levels: number, temperature: number, rng: Rng, out: Int32Array): void {
  const rows = logits.length / levels;
  const p = new Float64Array(levels);
  for (let r = 0; r < rows; r++) {
    const base = r * levels;
    let max = -Infinity;
    for (let l = 0; l < levels; l++) max = Math.max(max, logits[base + l] / temperature);
    let total = 0;
    for (let l = 0; l < levels; l++) {
      p[l] = Math.exp(logits[base + l] / temperature - max);
      total += p[l];
    }
    const u = rng.next() * total;
    let acc = 0;
    let pick = levels - 1;
    for (let l = 0; l < levels; l++) {
      acc += p[l];
      if (u < acc) {
        pick = l;
        break;
      }
    }
    out[r] = pick;
  }
}

/** softmax(logits / T) per row, for comparing samplers' probabilities. */
export function softmaxRows(logits: Float32Array, levels: number, temperature: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let base = 0; base < logits.length; base += levels) {
    let max = -Infinity;
    for (let l = 0; l < levels; l++) max = Math.max(max, logits[base + l] / temperature);
    let total = 0;
    for (let l = 0; l < levels; l++) total += out[base + l] = Math.exp(logits[base + l] / temperature - max);
    for (let l = 0; l < levels; l++) out[base + l] /= total;
  }
  return out;
}

/**
 * Draws one pixel per image from the discretised logistic mixture whose parameters are `params`
 * ([N, layout.size], row-major; output.ts's layout), writing the levels into out [N, C]. Per image:
 * a component from softmax(logits / T) by inverse CDF (one uniform), then channel by channel
 * (R, G, B) a logistic draw mean + T × scale × logit(u) (one uniform each, kept inside
 * [1e-5, 1 - 1e-5] as PixelCNN++ does), clamped to [-1, 1] and rounded to the nearest of the L
 * levels; a later channel's mean adds the coefficients times the earlier channels' drawn levels
 * (as the model's likelihood conditions on them). T = 1 draws from the model itself; T < 1
 * sharpens both the choice of component and each logistic, T -> 0 gives the likeliest
 * component's mean. Accumulates in float64.
 */
export function drawMixture(params: Float32Array, layout: MixtureLayout, levels: number, temperature: number, rng: Rng, out: Int32Array): void {
  const { components: K, channels: C, size } = layout;
  const N = params.length / size;
  const weights = new Float64Array(K);
  const x = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    const base = n * size;
    let max = -Infinity;
    for (let k = 0; k < K; k++) max = Math.max(max, params[base + layout.logits + k] / temperature);
    let total = 0;
    for (let k = 0; k < K; k++) total += weights[k] = Math.exp(params[base + layout.logits + k] / temperature - max);
    const u = rng.next() * total;
    let pick = K - 1;
    let acc = 0;
    for (let k = 0; k < K; k++) {
      acc += weights[k];
      if (u < acc) {
        pick = k;
        break;
      }
    }
    for (let c = 0; c < C; c++) {
      let mean = params[base + layout.mean(c) + pick];
      for (let j = 0; j < c; j++) mean += Math.tanh(params[base + layout.coefficient(c, j) + pick]) * x[j];
      const scale = Math.exp(Math.max(params[base + layout.logScale(c) + pick], MIN_LOG_SCALE));
      const v = 1e-5 + (1 - 2e-5) * rng.next();
      const drawn = Math.min(1, Math.max(-1, mean + temperature * scale * (Math.log(v) - Math.log(1 - v))));
      const level = Math.round(((drawn + 1) / 2) * (levels - 1));
      out[n * C + c] = level;
      x[c] = (2 * level) / (levels - 1) - 1;
    }
  }
}
