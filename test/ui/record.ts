// Real event sequences for the dashboard tests: the tiny experiment trained in this process,
// every event the trainer emitted kept in order.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunEvent } from '../../src/events/run-events.js';
import { runExperiment } from '../../src/app/run.js';
import { ROOT } from '../helpers/cli.js';

export const TINY = join(ROOT, 'test/fixtures/tiny.yaml');

export interface Recording {
  events: RunEvent[];
  /** Events up to and including the first one matching `pred`. */
  until(pred: (e: RunEvent) => boolean): RunEvent[];
}

/** Trains the tiny experiment on wasm; `react` may act on an event (e.g. request a stop). */
export async function record(sets: string[] = [], react: (e: RunEvent, stop: { requested: boolean }) => void = () => {}): Promise<Recording> {
  const events: RunEvent[] = [];
  const stop = { requested: false };
  const runsDir = mkdtempSync(join(tmpdir(), 'pxl-ui-'));
  try {
    await runExperiment({
      file: TINY,
      sets: ['backend=wasm', ...sets],
      runsDir,
      listeners: [(e) => void (events.push(e), react(e, stop))],
      stop,
    });
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
  return {
    events,
    until: (pred) => {
      const i = events.findIndex(pred);
      if (i < 0) throw new Error('no such event in the recording');
      return events.slice(0, i + 1);
    },
  };
}

/**
 * A run that really fails: once training is under way the checkpoints folder is replaced by a
 * file, so writing the step-4 checkpoint throws inside the trainer.
 */
export function recordFailure(): Promise<Recording> {
  let runDir = '';
  return record([], (e) => {
    if (e.type === 'start') runDir = e.runDir;
    if (e.type === 'step' && e.step === 2) {
      rmSync(join(runDir, 'checkpoints'), { recursive: true, force: true });
      writeFileSync(join(runDir, 'checkpoints'), 'not a folder');
    }
  });
}
