// Turning logits into sampled classes. Shared by every sampler, so that given the same
// probabilities and the same seed they draw exactly the same images.
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
