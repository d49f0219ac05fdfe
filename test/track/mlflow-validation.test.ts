// MLflow metric names say which set each number comes from: validation/… for the evaluations of
// a run with a validation set, test/… for its test set, evaluated once at the end for the last
// weights and for the best checkpoint. Checked against what the real MLflow server stored.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { MlflowClient } from '../../src/track/mlflow-client.js';
import { createMlflowTracker } from '../../src/track/mlflow-tracker.js';
import { readState } from '../../src/track/mlflow-sync.js';
import type { RunEvent } from '../../src/events/run-events.js';
import { waitForMlflow } from '../setup/mlflow-server.js';
import { fakeRun, feed } from './fake-run.js';

const server = inject('mlflow');
let client: MlflowClient;

beforeAll(async () => {
  await waitForMlflow(server);
  client = new MlflowClient({ uri: server.uri });
});

type Eval = Extract<RunEvent, { type: 'eval' }>;

/** The fake run as one with a validation set: its evaluations on it, two test evaluations at the end. */
function withValidation(events: RunEvent[]): { events: RunEvent[]; tests: { last: number; best: number } } {
  const tests = { last: 1.25, best: 1.125 };
  const out = events.map((e): RunEvent => (e.type === 'eval' ? { ...e, set: 'validation', images: 5000 } : e));
  const end = out.pop() as Extract<RunEvent, { type: 'end' }>;
  const lastEval = out.findLast((e): e is Eval => e.type === 'eval')!;
  const final = (weights: Eval['weights'], bits: number, dt: number): Eval => ({ ...lastEval, time: end.time - 5 + dt, set: 'test', weights, loss: bits * Math.LN2, bitsPerDim: bits, images: 10000 });
  out.push(final('current', tests.last, 1), final('best', tests.best, 2));
  out.push({
    ...end,
    summary: {
      ...end.summary, test_bits_per_dim: tests.last, best_test_bits_per_dim: tests.best, test_bits_per_dim_best_checkpoint: tests.best,
      best_chosen_on: 'validation', best_step: lastEval.bestStep, validation_bits_per_dim: lastEval.bitsPerDim, best_validation_bits_per_dim: lastEval.bestBitsPerDim,
    },
  });
  return { events: out, tests };
}

describe('MLflow metric names', () => {
  it('name the validation set for the evaluations and the test set for the final tests of the last weights and the best checkpoint', async () => {
    const run = fakeRun(mkdtempSync(join(tmpdir(), 'pxl-track-')));
    const { events, tests } = withValidation(run.events);
    const tracker = createMlflowTracker({ uri: server.uri, experimentName: `validation-${randomBytes(4).toString('hex')}`, runDir: run.runDir, log: () => {} });
    await feed(tracker, events);
    const id = readState(run.runDir).runId!;
    const history = (key: string) => client.getMetricHistory(id, key).then((h) => h.map((m) => [m.step, m.value]));
    const evals = events.filter((e): e is Eval => e.type === 'eval' && e.set === 'validation');
    expect(await history('validation/bits_per_dim')).toEqual(evals.map((e) => [e.step, e.bitsPerDim]));
    expect(await history('validation/loss')).toEqual(evals.map((e) => [e.step, e.loss]));
    expect(await history('test/bits_per_dim')).toEqual([[300, tests.last]]);
    expect(await history('test/bits_per_dim_best_checkpoint')).toEqual([[300, tests.best]]);
    expect(await history('best/test_bits_per_dim')).toEqual([[300, tests.best]]);
    expect(await history('best/validation_bits_per_dim')).toEqual([[300, evals.at(-1)!.bestBitsPerDim]]);
  });
});
