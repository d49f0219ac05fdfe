// Runs as comparable records: each run folder's resolved config and results, from
// summary.json or, for a run that has none yet, from its metrics.jsonl.
import type { Experiment } from '../config/types.js';
import { isLocked } from '../store/lock.js';
import { readEvents, readRun, runPaths } from '../store/run-dir.js';
import type { RunSummary } from '../events/run-events.js';

/**
 * A run folder's: its summary's status; without one, running while a process holds the
 * folder, incomplete when none does (killed before it could write one: `pxl run --resume`
 * continues it, from step 0 when it had no checkpoint yet). A sweep member's: its status in
 * the sweep's state.json (pending, running, ...).
 */
export type RecordStatus = RunSummary['status'] | 'incomplete' | 'running' | 'pending';

export interface Results {
  steps: number | null;
  test_bits_per_dim: number | null;
  /** Test bits/dim of the best checkpoint (the lowest test bits/dim when it was chosen on the test set). */
  best_test_bits_per_dim: number | null;
  /** What the best checkpoint was chosen on; null for runs of pxl before validation sets (the test set). */
  best_chosen_on: 'validation' | 'test' | null;
  best_validation_bits_per_dim: number | null;
  train_bits_per_dim: number | null;
  params: number | null;
  images_per_second: number | null;
  wall_seconds: number | null;
  started_at: string | null;
}

export interface RunRecord {
  label: string;
  dir: string | null;
  status: RecordStatus;
  experiment: Experiment;
  results: Results;
}

export interface Curves {
  train: { step: number; value: number }[];
  /** The periodic evaluations, on `evalSet`. */
  test: { step: number; value: number }[];
  evalSet: 'validation' | 'test';
}

/** What a run that has not started has to show. */
export const NO_RESULTS: Results = {
  steps: null, test_bits_per_dim: null, best_test_bits_per_dim: null, best_chosen_on: null, best_validation_bits_per_dim: null, train_bits_per_dim: null,
  params: null, images_per_second: null, wall_seconds: null, started_at: null,
};

/** Reads one run folder; throws RunStoreError when it is not one. */
export function readRecord(dir: string, label?: string): RunRecord {
  const { paths, experiment, summary } = readRun(dir);
  const results = summary ? fromSummary(summary) : fromEvents(readEvents(paths));
  const status = summary?.status ?? (isLocked(paths) ? 'running' : 'incomplete');
  return { label: label ?? experiment.name, dir: paths.dir, status, experiment, results };
}

/** Run folders named on the command line; a name shared by several runs gets the run id added. */
export function recordsFromDirs(dirs: string[]): RunRecord[] {
  const records = dirs.map((d) => readRecord(d));
  const count = new Map<string, number>();
  records.forEach((r) => count.set(r.label, (count.get(r.label) ?? 0) + 1));
  return records.map((r) => (count.get(r.label)! > 1 ? { ...r, label: `${r.label}/${runPaths(r.dir!).id}` } : r));
}

function fromSummary(s: RunSummary): Results {
  return {
    steps: s.steps,
    test_bits_per_dim: s.test_bits_per_dim,
    best_test_bits_per_dim: s.best_test_bits_per_dim,
    best_chosen_on: s.best_chosen_on ?? null,
    best_validation_bits_per_dim: s.best_validation_bits_per_dim ?? null,
    train_bits_per_dim: s.train_bits_per_dim,
    params: s.params,
    images_per_second: s.images_per_second,
    wall_seconds: s.wall_seconds,
    started_at: s.started_at,
  };
}

type Ev = Record<string, unknown>;
const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);

/** What the events of a run without a summary say so far. */
export function fromEvents(events: Ev[]): Results {
  const start = events.find((e) => e.type === 'start');
  const step = events.findLast((e) => e.type === 'step');
  const evalEv = events.findLast((e) => e.type === 'eval' && e.weights !== 'best');
  const last = events[events.length - 1];
  const onValidation = evalEv?.set === 'validation';
  return {
    steps: num(step?.step) ?? 0,
    // Events of pxl before validation sets name their figures testBitsPerDim and bestTestBitsPerDim.
    test_bits_per_dim: onValidation ? null : num(evalEv?.bitsPerDim ?? evalEv?.testBitsPerDim),
    best_test_bits_per_dim: onValidation ? null : num(evalEv?.bestBitsPerDim ?? evalEv?.bestTestBitsPerDim),
    best_chosen_on: evalEv ? (onValidation ? 'validation' : 'test') : null,
    best_validation_bits_per_dim: onValidation ? num(evalEv?.bestBitsPerDim) : null,
    train_bits_per_dim: num(step?.bitsPerDim),
    params: num(start?.params),
    images_per_second: num(step?.imagesPerSecond),
    wall_seconds: start && last ? ((last.time as number) - (start.time as number)) / 1000 : null,
    started_at: start ? new Date(start.time as number).toISOString() : null,
  };
}

/**
 * Train bits/dim at every step and the bits/dim of every periodic evaluation, from
 * metrics.jsonl: on the validation set when the run has one (`evalSet`), else the test set.
 */
export function readCurves(dir: string): Curves {
  const events = readEvents(runPaths(dir));
  const pick = (type: string, key: string, keep: (e: Ev) => boolean = () => true) =>
    events.filter((e) => e.type === type && typeof e[key] === 'number' && keep(e)).map((e) => ({ step: e.step as number, value: e[key] as number }));
  const periodic = (e: Ev) => e.weights !== 'best' && !(e.set === 'test' && events.some((v) => v.type === 'eval' && v.set === 'validation'));
  const evalSet = events.some((e) => e.type === 'eval' && e.set === 'validation') ? 'validation' : 'test';
  const legacy = pick('eval', 'testBitsPerDim');
  return { train: pick('step', 'bitsPerDim'), test: legacy.length ? legacy : pick('eval', 'bitsPerDim', periodic), evalSet };
}
