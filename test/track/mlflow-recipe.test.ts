// The training recipe's metrics in MLflow: a real run (in this process, so that one step's
// gradient can be made NaN as a float32 overflow would make it) with a cosine schedule after a
// warmup, clipping, skipping, averaged weights and dropout, tracked to the real MLflow server.
// What the server stored: the learning rate and the gradient norm of every applied step, the
// number of skipped steps at the end, and the recipe's settings among the params.
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { runExperiment, type PreparedRun } from '../../src/app/run.js';
import type { RunEvent } from '../../src/events/run-events.js';
import { MlflowClient } from '../../src/track/mlflow-client.js';
import { readState } from '../../src/track/mlflow-sync.js';
import { FusedAdam } from '../../src/train/adam.js';
import { waitForMlflow } from '../setup/mlflow-server.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const server = inject('mlflow');
const TINY = join(ROOT, 'test/fixtures/tiny.yaml');
type Step = Extract<RunEvent, { type: 'step' }>;

beforeAll(async () => {
  await waitForMlflow(server);
});

afterEach(() => vi.restoreAllMocks());

/** Makes the gradients of the `at`-th computation NaN. */
function spoilGradients(at: number): void {
  const original = FusedAdam.prototype.computeGradients;
  let calls = 0;
  vi.spyOn(FusedAdam.prototype, 'computeGradients').mockImplementation(function (this: FusedAdam, f, varList) {
    const r = original.call(this, f, varList);
    if (++calls !== at) return r;
    return { value: r.value, grads: Object.fromEntries(Object.entries(r.grads).map(([name, g]) => [name, tf.mul(g, Number.NaN)])) };
  });
}

describe('the training recipe in MLflow', () => {
  it('the learning rate and gradient norm of every step, the skipped steps and the recipe\'s settings reach the server', { timeout: 180_000 }, async () => {
    spoilGradients(3);
    const events: RunEvent[] = [];
    let prepared: PreparedRun | undefined;
    const experiment = `recipe-${randomBytes(4).toString('hex')}`;
    const summary = await runExperiment({
      file: TINY,
      sets: [
        'train.sample_every=0', `tracking.uri=${server.uri}`, `tracking.experiment=${experiment}`,
        'train.lr_schedule={name: cosine, warmup: 2, min_lr: 0.001}', 'train.grad_clip=0.05', 'train.on_nonfinite_gradient=skip',
        'train.ema={decay: 0.9}', 'model.dropout=0.25',
      ],
      runsDir: tempDir(), stop: { requested: false }, listeners: [(e) => void events.push(e)], onPrepared: (p) => (prepared = p),
    });
    vi.restoreAllMocks();
    expect(summary.status, summary.message).toBe('finished');
    expect(summary.skipped_steps).toBe(1);
    const steps = events.filter((e): e is Step => e.type === 'step');
    // Step 3 was skipped: no step event, no metrics for it.
    expect(steps.map((s) => s.step)).toEqual([1, 2, 4, 5, 6, 7, 8]);
    expect(events.filter((e) => e.type === 'warning' && e.message.startsWith('MLflow'))).toEqual([]);

    const client = new MlflowClient({ uri: server.uri });
    const id = readState(prepared!.paths.dir).runId!;
    const history = (key: string) => client.getMetricHistory(id, key).then((h) => h.map((m) => [m.step, m.value]));
    // The rates of the cosine after its warmup (base 0.01): 0.005, 0.01, then down towards 0.001.
    const rates = await history('train/lr');
    expect(rates).toEqual(steps.map((s) => [s.step, s.learningRate]));
    expect(rates.slice(0, 2)).toEqual([[1, 0.005], [2, 0.01]]);
    expect(rates.at(-1)![1]).toBeLessThan(0.01);
    expect(rates.at(-1)![1]).toBeGreaterThan(0.001);
    // The norm before clipping, finite and above the clip at every applied step.
    const norms = await history('train/grad_norm');
    expect(norms).toEqual(steps.map((s) => [s.step, s.gradNorm]));
    expect(norms.every(([, n]) => Number.isFinite(n) && n > 0.05)).toBe(true);
    expect(await history('train/skipped_steps')).toEqual([[8, 1]]);

    const run = await client.getRun(id);
    expect(run.info.status).toBe('FINISHED');
    expect(run.data.params).toMatchObject({
      'model.dropout': '0.25',
      'train.grad_clip': '0.05',
      'train.on_nonfinite_gradient': 'skip',
      'train.ema.decay': '0.9',
      'train.lr_schedule.name': 'cosine',
      'train.lr_schedule.warmup': '2',
    });
  });
});
