// The plain reporter names the set of every evaluation and says what the best was chosen on.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { RunEvent, RunSummary } from '../../src/events/run-events.js';
import { endLines, plainReporter } from '../../src/ui/reporters.js';

function lines(events: RunEvent[]): string[] {
  let text = '';
  const out = new Writable({ write: (chunk, _enc, done) => ((text += String(chunk)), done()) });
  const listener = plainReporter(out);
  events.forEach((e) => listener(e));
  return text.trim().split('\n');
}

const evalEv = (set: 'validation' | 'test', weights: 'current' | 'best', bits: number): RunEvent => ({
  type: 'eval', time: 1, step: 6, epoch: 0, set, weights, loss: bits * Math.LN2, bitsPerDim: bits, bestBitsPerDim: 1.5, bestStep: 2, images: 16, seconds: 1,
});

const SUMMARY = {
  status: 'finished', run_id: 'r', experiment: 'e', steps: 6, epochs: 1, train_bits_per_dim: 1.4, test_bits_per_dim: 1.7, best_test_bits_per_dim: 1.6,
  params: 10, backend: 'cpu', device: 'CPU', wall_seconds: 3, images_per_second: 20, started_at: '', ended_at: '', message: '',
} satisfies RunSummary;

describe('the plain reporter', () => {
  it('names the validation set, then the final tests of the last weights and the best checkpoint', () => {
    expect(lines([evalEv('validation', 'current', 1.8), evalEv('test', 'current', 1.7), evalEv('test', 'best', 1.6)])).toEqual([
      'eval step 6: validation 1.8000 bits/dim (best 1.5000 at step 2) on 16 images in 1s',
      'eval step 6: test 1.7000 bits/dim (best 1.5000 at step 2) on 16 images in 1s',
      'eval step 6: test 1.6000 bits/dim of the best checkpoint (step 2) on 16 images in 1s',
    ]);
  });

  it("ends with the validation best and both tests, or says a run's best was chosen on the test set", () => {
    const withValidation = { ...SUMMARY, best_chosen_on: 'validation' as const, best_step: 2, best_validation_bits_per_dim: 1.5 };
    expect(endLines({ status: 'finished', message: '', summary: withValidation })[0]).toContain('validation best 1.500 at step 2; test 1.700 last, 1.600 best checkpoint;');
    expect(endLines({ status: 'finished', message: '', summary: { ...SUMMARY, best_chosen_on: 'test' } })[0]).toContain('test 1.700 (best 1.600, chosen on test);');
    expect(endLines({ status: 'finished', message: '', summary: SUMMARY })[0]).toContain('test 1.700 (best 1.600);');
  });
});
