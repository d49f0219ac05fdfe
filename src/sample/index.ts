// sample/: drawing images from a model pixel by pixel (naive and cached) and writing them as grids.
//
// The samplers by method name.
import { cachedSampler } from './cached.js';
import { naiveSampler } from './naive.js';
import type { SampleMethod, Sampler } from './sampler.js';

const SAMPLERS: Record<SampleMethod, Sampler> = { naive: naiveSampler, cached: cachedSampler };

export function samplerFor(method: SampleMethod): Sampler {
  const s = SAMPLERS[method];
  if (!s) throw new Error(`unknown sample.method ${JSON.stringify(method)}: expected ${Object.keys(SAMPLERS).join(' or ')}`);
  return s;
}

export type { Sampler, SampleMethod, SampleOptions, SampleResult } from './sampler.js';
