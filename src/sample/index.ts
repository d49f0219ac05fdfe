// The samplers by method name.
import { naiveSampler } from './naive.js';
import type { SampleMethod, Sampler } from './sampler.js';

const SAMPLERS: Partial<Record<SampleMethod, Sampler>> = { naive: naiveSampler };

export function samplerFor(method: SampleMethod): Sampler {
  const s = SAMPLERS[method];
  if (!s) throw new Error(`sample.method ${method} is not available yet; use naive`);
  return s;
}

export type { Sampler, SampleMethod, SampleOptions, SampleResult } from './sampler.js';
