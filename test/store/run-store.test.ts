// The run store's parts on their own: atomic writes, the event bus's essential listeners,
// what a resume may change, and the run folder lock against a killed owner.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isLocked, lockRun, readOwner } from '../../src/store/lock.js';
import { checkResumeConfig, configChanges, isResumeSafe } from '../../src/store/resume-config.js';
import { loadExperiment } from '../../src/config/load.js';
import { ROOT } from '../helpers/cli.js';
import { runPaths, runsRootProblem } from '../../src/store/run-dir.js';
import type { RunEvent } from '../../src/events/run-events.js';
import { eventBus } from '../../src/app/run.js';
import { writeFileAtomic } from '../../src/util/files.js';
import { tempDir } from '../helpers/tmp.js';

describe('writeFileAtomic', () => {
  it('leaves no temp file behind when the write fails', () => {
    const dir = tempDir();
    const target = join(dir, 'summary.json');
    mkdirSync(join(target, 'in-the-way'), { recursive: true }); // the rename onto it must fail
    expect(() => writeFileAtomic(target, '{}\n')).toThrow();
    expect(readdirSync(dir)).toEqual(['summary.json']);
  });
});

const warning = (message: string): RunEvent => ({ type: 'warning', time: 0, message });
const end = { type: 'end', time: 0, status: 'finished', message: '', summary: {} } as unknown as RunEvent;

describe('event bus', () => {
  it('stops the run when an essential listener fails: the event reaches every listener, then emit throws', () => {
    const bus = eventBus();
    const seen: string[] = [];
    bus.add(() => {
      throw new Error('disk full');
    }, true);
    bus.add((e) => void seen.push(e.type));
    expect(() => bus.emit(warning('a'))).toThrow('disk full');
    expect(seen).toEqual(['warning']);
    expect(() => bus.emit(warning('b'))).toThrow('disk full');
    expect(() => bus.emit(end)).not.toThrow(); // the end still reaches everyone: the summary says failed
    expect(seen).toEqual(['warning', 'warning', 'end']);
    expect(bus.failure()?.message).toBe('disk full');
  });

  it('surfaces an essential asynchronous listener rejection at the next emit', async () => {
    const bus = eventBus();
    bus.add(async () => {
      throw new Error('EROFS');
    }, true);
    bus.emit(warning('a'));
    await bus.drain();
    expect(() => bus.emit(warning('b'))).toThrow('EROFS');
  });

  it('skips an optional listener that fails and never stops the run for it; notify never throws', () => {
    const bus = eventBus();
    let calls = 0;
    bus.add(() => {
      calls += 1;
      throw new Error('MLflow down');
    });
    expect(() => bus.emit(warning('a'))).not.toThrow();
    expect(() => bus.emit(warning('b'))).not.toThrow();
    expect(calls).toBe(1);
    expect(bus.failure()).toBeNull();
    bus.fail(new Error('lost the lock'));
    expect(() => bus.notify(warning('c'))).not.toThrow();
    expect(() => bus.emit(warning('d'))).toThrow('lost the lock');
  });
});

describe('what a resume may change', () => {
  it('lists changed leaf keys, added and removed ones included', () => {
    const before = { seed: 1, model: { hidden: 4, input: { mask: 'A' } }, train: { steps: 8 } };
    const after = { seed: 1, model: { hidden: 8, input: { mask: 'A' } }, train: { steps: 20, epochs: 3 } };
    expect(configChanges(before, after)).toEqual([
      { path: 'model.hidden', before: 4, after: 8 },
      { path: 'train.steps', before: 8, after: 20 },
      { path: 'train.epochs', before: undefined, after: 3 },
    ]);
  });

  it('sees no change in a setting added since the run was created: the run had its default', () => {
    const { experiment, composed } = loadExperiment(join(ROOT, 'test/fixtures/tiny.yaml'));
    // As config.original.json of a run from before model.conditioning and sample.classes existed.
    const { tracking: _t, ...recorded } = structuredClone(experiment);
    delete (recorded.model as Partial<typeof recorded.model>).conditioning;
    delete (recorded.sample as Partial<typeof recorded.sample>).classes;
    expect(checkResumeConfig(recorded, experiment, composed.sources)).toEqual([]);
    // A real change to the new setting is still refused.
    const conditional = { ...experiment, model: { ...experiment.model, conditioning: { type: 'class' as const, classes: 10 } } };
    expect(() => checkResumeConfig(recorded, conditional, composed.sources)).toThrow(/model.conditioning.type: changed since the run was created \("none" -> "class"\)/);
  });

  it('sees no change in a run from before model.output (it had the softmax), and refuses a change to the output', () => {
    const { experiment, composed } = loadExperiment(join(ROOT, 'test/fixtures/tiny.yaml'));
    expect(experiment.model.output).toEqual({ type: 'softmax', components: null });
    const { tracking: _t, ...recorded } = structuredClone(experiment);
    delete (recorded.model as Partial<typeof recorded.model>).output;
    expect(checkResumeConfig(recorded, experiment, composed.sources)).toEqual([]);
    const mixture = { ...experiment, model: { ...experiment.model, output: { type: 'logistic_mixture' as const, components: 5 } } };
    expect(() => checkResumeConfig(recorded, mixture, composed.sources)).toThrow(/model.output.type: changed since the run was created \("softmax" -> "logistic_mixture"\)/);
  });

  it('sees no change in a run from before the training recipe, and refuses a change to any of its settings', () => {
    const { experiment, composed } = loadExperiment(join(ROOT, 'test/fixtures/tiny.yaml'));
    const { tracking: _t, ...recorded } = structuredClone(experiment);
    const train = recorded.train as Partial<typeof recorded.train>;
    for (const key of ['lr_schedule', 'grad_clip', 'on_nonfinite_gradient', 'ema'] as const) delete train[key];
    delete (recorded.train.optimizer as Partial<typeof recorded.train.optimizer>).weight_decay;
    expect(checkResumeConfig(recorded, experiment, composed.sources)).toEqual([]);
    const averaged = { ...experiment, train: { ...experiment.train, ema: { decay: 0.999 } } };
    expect(() => checkResumeConfig(recorded, averaged, composed.sources)).toThrow(/train.ema.decay: changed since the run was created \(null -> 0.999\)/);
  });

  it('refuses a new run length under a cosine schedule, which spans the run, at the line of the change', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'x.yaml'), 'train:\n  steps: 10\n  lr_schedule: {name: cosine}\n');
    const before = loadExperiment(join(dir, 'x.yaml'));
    writeFileSync(join(dir, 'x.yaml'), 'train:\n  steps: 20\n  lr_schedule: {name: cosine}\n');
    const after = loadExperiment(join(dir, 'x.yaml'));
    const { tracking: _t, ...recorded } = before.experiment;
    expect(() => checkResumeConfig(recorded, after.experiment, after.composed.sources)).toThrow(
      `${join(dir, 'x.yaml')}:2:10: train.steps: changed since the run was created (10 -> 20); the cosine learning-rate schedule (train.lr_schedule) spans the run's length`,
    );
    // Under a step schedule the length is the resume's to change.
    writeFileSync(join(dir, 'y.yaml'), 'train:\n  steps: 20\n  lr_schedule: {name: step, every: 5}\n');
    const stepped = loadExperiment(join(dir, 'y.yaml'));
    const { tracking: _u, ...old } = structuredClone(stepped.experiment);
    old.train.steps = 10;
    expect(checkResumeConfig(old, stepped.experiment, stepped.composed.sources)).toEqual([{ path: 'train.steps', before: 10, after: 20 }]);
  });

  it('allows schedule, reporting and sampling settings and nothing that changes the checkpoint', () => {
    for (const key of ['train.steps', 'train.epochs', 'train.eval_every', 'sample.count', 'tracking.uri', 'description', 'backend']) expect(isResumeSafe(key), key).toBe(true);
    for (const key of ['seed', 'name', 'model.hidden', 'dataset.train_limit', 'train.batch_size', 'train.optimizer.learning_rate', 'train.stepsize']) expect(isResumeSafe(key), key).toBe(false);
  });
});

describe('runs root', () => {
  it('accepts a missing folder under a writable one and names a file in the way', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'f'), '');
    expect(runsRootProblem(join(dir, 'runs', 'deeper'))).toBeNull();
    expect(runsRootProblem(join(dir, 'f'))).toBe(`${join(dir, 'f')} is a file, not a folder`);
  });
});

describe('run folder lock', () => {
  it('is taken over at once from an owner on this host that was killed', () => {
    const paths = runPaths(tempDir());
    // A real process takes the lock and is killed with it held (exit without cleanup).
    const script = `
      const { lockRun } = await import(${JSON.stringify(new URL('../../dist/store/lock.js', import.meta.url).href)});
      const { runPaths } = await import(${JSON.stringify(new URL('../../dist/store/run-dir.js', import.meta.url).href)});
      lockRun(runPaths(${JSON.stringify(paths.dir)}), () => {});
      process.kill(process.pid, 'SIGKILL');`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.signal, child.stderr).toBe('SIGKILL');
    const dead = readOwner(paths);
    expect(dead).toMatchObject({ pid: child.pid, host: hostname() });
    expect(readdirSync(paths.dir).sort()).toEqual(['run.lock', 'run.lock.json']);
    expect(isLocked(paths)).toBe(false);

    const release = lockRun(paths, () => {});
    expect(readOwner(paths)).toMatchObject({ pid: process.pid });
    expect(isLocked(paths)).toBe(true);
    expect(() => lockRun(paths, () => {})).toThrow(/is in use by/);
    release();
    expect(readdirSync(paths.dir)).toEqual([]);
  });
});
