// A non-finite update with a finite loss (a non-finite gradient) fails the run without
// saving the broken state, keeps the last good checkpoint, and says what happened instead
// of blaming the learning rate. The gradient is made non-finite at one step by wrapping
// FusedAdam.applyGradients: the one thing a test cannot get from a healthy tiny model.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FusedAdam } from '../../src/train/adam.js';
import type { RunEvent } from '../../src/events/run-events.js';
import { runExperiment, type PreparedRun } from '../../src/app/run.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const TINY = join(ROOT, 'test/fixtures/tiny.yaml');

/** Replaces the first gradient with `value` everywhere at the `at`-th update. */
function spoilGradient(at: number, value: number): void {
  const original = FusedAdam.prototype.applyGradients;
  let calls = 0;
  vi.spyOn(FusedAdam.prototype, 'applyGradients').mockImplementation(function (this: FusedAdam, grads) {
    if (++calls !== at || !Array.isArray(grads)) return original.call(this, grads);
    const bad = tf.fill(grads[0].tensor.shape, value);
    try {
      return original.call(this, [{ name: grads[0].name, tensor: bad }, ...grads.slice(1)]);
    } finally {
      bad.dispose();
    }
  });
}

afterEach(() => vi.restoreAllMocks());

async function tinyRun(sets: string[]) {
  const events: RunEvent[] = [];
  let prepared: PreparedRun | undefined;
  const summary = await runExperiment({
    file: TINY, sets: ['train.checkpoint_every=2', 'train.keep_checkpoints=10', ...sets], runsDir: tempDir(), stop: { requested: false },
    listeners: [(e) => void events.push(e)], onPrepared: (p) => (prepared = p),
  });
  const checkpoints = prepared!.paths.checkpoints;
  const pointer = join(checkpoints, 'latest');
  return { summary, events, checkpoints, latest: existsSync(pointer) ? readFileSync(pointer, 'utf8').trim() : null };
}

describe('a non-finite gradient with a finite loss', () => {
  it('at a checkpoint step: the broken state is not saved, nor evaluated; the run fails keeping the last good one', async () => {
    spoilGradient(4, Number.NaN);
    const { summary, events, checkpoints, latest } = await tinyRun([]);
    expect(summary.status).toBe('failed');
    expect(summary.steps).toBe(4);
    expect(summary.message).toMatch(/^the update of step 4 made the weights non-finite \(.+\) though the step's loss was finite: a non-finite gradient or optimiser state, not a too-high learning rate; stopped\. The last good checkpoint \(step 2\) is kept\.$/);
    expect(summary.message).not.toMatch(/lower .*learning_rate/);
    expect(readdirSync(checkpoints).sort()).toEqual(['latest', 'step-00000002']);
    expect(latest).toBe('step-00000002');
    expect(events.filter((e) => e.type === 'eval')).toEqual([]);
  });

  it('between checkpoints: the next loss is NaN and the message names the update that broke the weights', async () => {
    spoilGradient(5, Number.POSITIVE_INFINITY);
    const { summary, latest } = await tinyRun([]);
    expect(summary.status).toBe('failed');
    expect(summary.steps).toBe(5);
    expect(summary.message).toMatch(
      /^the training loss became NaN at step 6 because the weights it began with were already non-finite \(.+\): the update of step 5 made them so though that step's loss was finite \(a non-finite gradient or optimiser state, not a too-high learning rate\); stopped\. The last good checkpoint \(step 4\) is kept\.$/,
    );
    expect(latest).toBe('step-00000004');
  });

  it('that overflows only the optimiser state is not saved either', async () => {
    // 1e30 squared overflows float32: the second moment becomes infinite, the weights stay finite.
    spoilGradient(2, 1e30);
    const { summary, checkpoints } = await tinyRun(['train.eval_every=0', 'train.sample_every=0']);
    expect(summary.status).toBe('failed');
    expect(summary.message).toMatch(/^the optimiser state became non-finite by step 2 \(.*\/v.*\) though every loss was finite: a gradient too large for float32, or a non-finite one; stopped without saving it\. No checkpoint had been written\.$/);
    expect(readdirSync(checkpoints)).toEqual([]);
  });
});

describe('a loss that diverges from finite weights', () => {
  it('is put down to the training, with the learning-rate hint', async () => {
    // Weights near the float32 limit after the step-4 checkpoint: finite, but the next forward pass overflows.
    let prepared: PreparedRun | undefined;
    const summary = await runExperiment({
      file: TINY, sets: [], runsDir: tempDir(), stop: { requested: false }, onPrepared: (p) => (prepared = p),
      listeners: [(e) => {
        const w = prepared!.model.head.out.weight;
        if (e.type === 'checkpoint' && e.step === 4) tf.tidy(() => w.assign(tf.fill(w.shape, 3e38)));
      }],
    });
    expect(summary.status).toBe('failed');
    expect(summary.message).toMatch(/^the training loss became (NaN|Infinity) at step 5 \(the weights it began with were finite: the training diverged; try a lower train.optimizer.learning_rate\); stopped\. The last good checkpoint \(step 4\) is kept\.$/);
  });
});
