// The engine end to end through its API: a tiny real run on real MNIST, on the cpu and wasm backends.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { readEvents, runPaths } from '../../src/store/run-dir.js';
import type { RunEvent, RunSummary } from '../../src/events/run-events.js';
import { runExperiment, type PreparedRun } from '../../src/app/run.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { skipNative } from '../helpers/native.js';

const TINY = join(ROOT, 'test/fixtures/tiny.yaml');

async function tinyRun(backend: string, extra: string[] = [], hooks: Partial<{ onEvent: (e: RunEvent, p: PreparedRun) => void; stop: { requested: boolean } }> = {}) {
  const runsDir = tempDir();
  const events: RunEvent[] = [];
  let prepared: PreparedRun | undefined;
  const summary = await runExperiment({
    file: TINY,
    sets: [`backend=${backend}`, ...extra],
    runsDir,
    stop: hooks.stop ?? { requested: false },
    listeners: [(e) => { events.push(e); hooks.onEvent?.(e, prepared!); }],
    onPrepared: (p) => (prepared = p),
  });
  return { summary, events, paths: prepared!.paths, runsDir };
}

const steps = (events: RunEvent[]) => events.filter((e): e is Extract<RunEvent, { type: 'step' }> => e.type === 'step');

// The native backend runs here too once `npm run setup:native` has built it (the test
// environment does); PXL_NATIVE=0 leaves it out on machines that cannot build it, outside CI
// (test/helpers/native.ts).
const BACKENDS = skipNative() ? ['cpu', 'wasm'] : ['cpu', 'wasm', 'tensorflow'];
// What summary.json says it ran on (the same words as the start event and the dashboard).
const DEVICE: Record<string, RegExp> = { cpu: /^CPU, pure JavaScript$/, wasm: /^CPU, wasm /, tensorflow: /^CPU, TensorFlow 2\.\d+\.\d+ native/ };

describe.each(BACKENDS)('a tiny run on the %s backend', (backend) => {
  it('trains, evaluates, samples, checkpoints and leaves a complete run folder', async () => {
    const { summary, events, paths } = await tinyRun(backend);
    expect(summary.status).toBe('finished');
    expect(summary.steps).toBe(8);
    expect(summary.backend).toBe(backend);
    expect(summary.device).toMatch(DEVICE[backend]!);
    expect(events.find((e) => e.type === 'start')).toMatchObject({ device: summary.device });
    expect(JSON.parse(readFileSync(paths.summary, 'utf8')).device).toBe(summary.device);
    expect(summary.params).toBeGreaterThan(0);
    for (const k of ['train_bits_per_dim', 'test_bits_per_dim', 'best_test_bits_per_dim', 'images_per_second', 'wall_seconds'] as const) {
      expect(summary[k], k).toBeGreaterThan(0);
    }
    // Loss goes down from near-uniform (log2 16 = 4 bits/dim).
    const s = steps(events);
    expect(s[0].bitsPerDim).toBeGreaterThan(3);
    expect(s[s.length - 1].bitsPerDim).toBeLessThan(s[0].bitsPerDim);
    expect(events.filter((e) => e.type === 'eval').map((e) => e.step)).toEqual([4, 8]);
    // Files: config, metrics (one line per event), summary, a sample grid, checkpoints.
    const saved: RunSummary = JSON.parse(readFileSync(paths.summary, 'utf8'));
    expect(saved).toEqual(summary);
    expect(readEvents(paths).map((e) => e.type)).toEqual(events.map((e) => e.type));
    const grid = PNG.sync.read(readFileSync(join(paths.samples, 'step-00000008.png')));
    expect([grid.width, grid.height]).toEqual([2 * 28 + 3 * 2, 2 * 28 + 3 * 2]);
    expect(readdirSync(paths.checkpoints).sort()).toEqual(['best', 'latest', 'step-00000004', 'step-00000008']);
    expect(readFileSync(join(paths.checkpoints, 'latest'), 'utf8').trim()).toBe('step-00000008');
    expect(existsSync(paths.config)).toBe(true);
  });

  it('does not leak tensors from step to step', async () => {
    const counts: number[] = [];
    await tinyRun(backend, ['train.steps=12', 'train.eval_every=0', 'train.sample_every=0', 'train.checkpoint_every=0'], {
      onEvent: (e) => e.type === 'step' && counts.push(tf.memory().numTensors),
    });
    expect(counts).toHaveLength(12);
    expect(new Set(counts.slice(2)).size, `tensor counts ${counts.join(',')}`).toBe(1);
  });
});

describe('resuming', () => {
  it('continues from a checkpoint to the same metrics as an uninterrupted run', async () => {
    const full = await tinyRun('wasm');
    const stop = { requested: false };
    const part = await tinyRun('wasm', [], { stop, onEvent: (e) => e.type === 'step' && e.step === 3 && (stop.requested = true) });
    expect(part.summary.status).toBe('interrupted');
    expect(part.summary.steps).toBe(3);
    const resumed = await runExperiment({ resume: part.paths.dir, runsDir: part.runsDir, listeners: [], stop: { requested: false } });
    expect(resumed.status).toBe('finished');
    const a = steps(full.events).map((e) => e.loss);
    const b = readEvents(part.paths).filter((e) => e.type === 'step').map((e) => e.loss as number);
    expect(b).toHaveLength(8);
    b.forEach((v, i) => expect(v, `step ${i + 1}`).toBeCloseTo(a[i], 5));
    expect(resumed.test_bits_per_dim).toBeCloseTo(full.summary.test_bits_per_dim!, 5);
    // The recorded history reads like one run: one start per session, no repeated steps.
    const recorded = readEvents(part.paths).filter((e) => e.type === 'step').map((e) => e.step);
    expect(recorded).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});

describe('failures', () => {
  it('stops on a non-finite loss, marks the run failed and keeps the last good checkpoint', async () => {
    const { summary, paths } = await tinyRun('wasm', [], {
      onEvent: (e, p) => {
        // Poison one weight right after the step-4 checkpoint.
        if (e.type === 'checkpoint' && e.step === 4 && !e.best) tf.tidy(() => p.model.head.out.weight.assign(tf.fill(p.model.head.out.weight.shape, NaN)));
      },
    });
    expect(summary.status).toBe('failed');
    expect(summary.steps).toBe(4);
    expect(summary.message).toMatch(/loss became NaN at step 5.*last good checkpoint \(step 4\)/);
    expect(readFileSync(join(paths.checkpoints, 'latest'), 'utf8').trim()).toBe('step-00000004');
    expect(JSON.parse(readFileSync(runPaths(paths.dir).summary, 'utf8')).status).toBe('failed');
  });
});
