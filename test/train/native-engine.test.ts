// The engine on the native backend (tfjs-node), where the model takes TensorFlow's fused
// ops and Adam is FusedAdam: a tiny run trains without leaking tensors, and a run stopped
// and resumed from its checkpoint reaches the same metrics as an uninterrupted one.
//
// tfjs-node is optional: PXL_NATIVE=0 skips these tests outside CI (test/helpers/native.ts).
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { readEvents } from '../../src/store/run-dir.js';
import type { RunEvent } from '../../src/events/run-events.js';
import { runExperiment, type PreparedRun } from '../../src/app/run.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { skipNative } from '../helpers/native.js';

const TINY = join(ROOT, 'test/fixtures/tiny.yaml');
const SKIP = skipNative();
process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';

async function tinyRun(extra: string[] = [], hooks: Partial<{ onEvent: (e: RunEvent) => void; stop: { requested: boolean } }> = {}) {
  const runsDir = tempDir();
  const events: RunEvent[] = [];
  let prepared: PreparedRun | undefined;
  const summary = await runExperiment({
    file: TINY,
    sets: ['backend=tensorflow', ...extra],
    runsDir,
    stop: hooks.stop ?? { requested: false },
    listeners: [(e) => { events.push(e); hooks.onEvent?.(e); }],
    onPrepared: (p) => (prepared = p),
  });
  return { summary, events, paths: prepared!.paths, runsDir };
}

const stepLosses = (events: RunEvent[]) => events.filter((e): e is Extract<RunEvent, { type: 'step' }> => e.type === 'step').map((e) => e.loss);

describe.skipIf(SKIP)('a tiny run on the tensorflow backend', () => {
  it('trains and does not leak tensors from step to step', async () => {
    const counts: number[] = [];
    const { summary, events } = await tinyRun(['train.steps=12', 'train.eval_every=0', 'train.sample_every=0', 'train.checkpoint_every=0'], {
      onEvent: (e) => e.type === 'step' && counts.push(tf.memory().numTensors),
    });
    expect(summary.status, summary.message).toBe('finished');
    expect(summary.backend).toBe('tensorflow');
    const losses = stepLosses(events);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    expect(new Set(counts.slice(2)).size, `tensor counts ${counts.join(',')}`).toBe(1);
  });

  it('continues from a checkpoint to the same metrics as an uninterrupted run', async () => {
    const full = await tinyRun();
    expect(full.summary.status, full.summary.message).toBe('finished');
    const stop = { requested: false };
    const part = await tinyRun([], { stop, onEvent: (e) => e.type === 'step' && e.step === 3 && (stop.requested = true) });
    expect(part.summary.status).toBe('interrupted');
    const resumed = await runExperiment({ resume: part.paths.dir, runsDir: part.runsDir, listeners: [], stop: { requested: false } });
    expect(resumed.status, resumed.message).toBe('finished');
    const a = stepLosses(full.events);
    const b = readEvents(part.paths).filter((e) => e.type === 'step').map((e) => e.loss as number);
    expect(b).toHaveLength(8);
    b.forEach((v, i) => expect(v, `step ${i + 1}`).toBeCloseTo(a[i], 5));
    expect(resumed.test_bits_per_dim).toBeCloseTo(full.summary.test_bits_per_dim!, 5);
  });
});
