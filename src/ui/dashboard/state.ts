// The dashboard's whole state and the one pure reducer that builds it from the trainer's
// events. Components only read it; nothing else keeps state about the run.
import type { EndEvent, EvalSet, RunEvent, RunStartEvent, SampleEvent } from '../../events/run-events.js';

/** What the run is doing now, as the status line says it. */
export type Phase = 'waiting' | 'starting' | 'training' | 'evaluating' | 'sampling' | 'stopping' | EndEvent['status'];

/** A link shown under the panels, e.g. the MLflow run page filled in by a tracker. */
export interface Link {
  label: string;
  url: string;
}

/** Actions beyond the trainer's events: a stop asked for by the user, a link from a tracker. */
export type DashboardAction =
  | RunEvent
  | { type: 'stop-requested'; source: string }
  | { type: 'link'; label: string; url: string };

/**
 * Train bits/dim over steps in at most MAX_POINTS buckets: bucket i holds the mean of steps
 * start + i*every + 1 ... start + (i+1)*every. When full, neighbours merge and `every` doubles,
 * so memory and per-step work stay bounded however long the run.
 */
export interface LossSeries {
  start: number;
  every: number;
  points: readonly number[];
  pending: { sum: number; n: number };
}

export const MAX_POINTS = 512;

export interface DashboardState {
  phase: Phase;
  run: Omit<RunStartEvent, 'type' | 'config' | 'description'> | null;
  /** `learningRate`: the rate of the last step's update (train.lr_schedule), when the run reports it. */
  progress: { step: number; epoch: number; epochStep: number; stepsPerSecond: number; imagesPerSecond: number; time: number; learningRate?: number } | null;
  train: { bitsPerDim: number; loss: number } | null;
  loss: LossSeries;
  /** The periodic evaluations: on the validation set when the run has one, else on the test set. `conditional`: a class-conditional model's NLL, -log p(image | label). `averaged`: of the averaged weights (train.ema). */
  test: { set: EvalSet; step: number; bitsPerDim: number; best: number; bestStep: number; conditional: boolean; averaged: boolean } | null;
  /** With a validation set, the test bits/dim evaluated at the end: of the last weights and of the best checkpoint. */
  finalTest: { last: number | null; best: number | null; bestStep: number } | null;
  sampling: { step: number; count: number; method: string } | null;
  sample: Omit<SampleEvent, 'type' | 'time'> | null;
  checkpoint: { step: number; path: string } | null;
  links: readonly Link[];
  warnings: readonly string[];
  stopSource: string | null;
  end: Omit<EndEvent, 'type'> | null;
}

export const initialState: DashboardState = {
  phase: 'waiting',
  run: null,
  progress: null,
  train: null,
  loss: { start: 0, every: 1, points: [], pending: { sum: 0, n: 0 } },
  test: null,
  finalTest: null,
  sampling: null,
  sample: null,
  checkpoint: null,
  links: [],
  warnings: [],
  stopSource: null,
  end: null,
};

const KEPT_WARNINGS = 5;

/** The phase to return to once an evaluation or sampling is over. */
const busy = (s: DashboardState): Phase => (s.stopSource ? 'stopping' : 'training');

export function reduce(s: DashboardState, a: DashboardAction): DashboardState {
  switch (a.type) {
    case 'start': {
      const { type: _t, config: _c, description: _d, ...run } = a;
      return { ...initialState, links: s.links, stopSource: s.stopSource, phase: s.stopSource ? 'stopping' : 'starting', run, loss: { ...initialState.loss, start: a.resumedFromStep } };
    }
    case 'step':
      return {
        ...s,
        phase: s.phase === 'starting' ? 'training' : s.phase,
        progress: {
          step: a.step, epoch: a.epoch, epochStep: a.epochStep, stepsPerSecond: a.stepsPerSecond, imagesPerSecond: a.imagesPerSecond, time: a.time,
          ...(a.learningRate !== undefined ? { learningRate: a.learningRate } : {}),
        },
        train: { bitsPerDim: a.bitsPerDim, loss: a.loss },
        loss: addPoint(s.loss, a.bitsPerDim),
      };
    case 'eval-start':
      return { ...s, phase: 'evaluating' };
    case 'eval': {
      // A run with a validation set ends with test evaluations of its last weights and its best checkpoint.
      if (a.set === 'test' && s.test?.set === 'validation') {
        const finalTest = { ...(s.finalTest ?? { last: null, best: null, bestStep: a.bestStep }), [a.weights === 'best' ? 'best' : 'last']: a.bitsPerDim };
        return { ...s, phase: busy(s), finalTest };
      }
      return { ...s, phase: busy(s), test: { set: a.set, step: a.step, bitsPerDim: a.bitsPerDim, best: a.bestBitsPerDim, bestStep: a.bestStep, conditional: a.conditional ?? false, averaged: a.averaged ?? false } };
    }
    case 'sample-start':
      return { ...s, phase: 'sampling', sampling: { step: a.step, count: a.count, method: a.method } };
    case 'sample': {
      const { type: _t, time: _time, ...sample } = a;
      return { ...s, phase: busy(s), sampling: null, sample };
    }
    case 'checkpoint':
      return { ...s, checkpoint: { step: a.step, path: a.path } };
    case 'warning':
      return { ...s, warnings: [...s.warnings, a.message].slice(-KEPT_WARNINGS) };
    case 'end': {
      const { type: _t, ...end } = a;
      return { ...s, phase: a.status, sampling: null, end };
    }
    case 'stop-requested':
      // An evaluation or sampling under way finishes first; `busy` then says 'stopping'.
      return { ...s, stopSource: a.source, phase: ['waiting', 'starting', 'training'].includes(s.phase) ? 'stopping' : s.phase };
    case 'link':
      return withLink(s, a.label, a.url);
    case 'tracking':
      // The run's MLflow page once it exists; until then (or when tracking is off) what the tracker says.
      return withLink(s, 'MLflow', a.link ?? a.message.replace(/^MLflow /, ''));
    default:
      return s; // events added to the trainer later are ignored until the dashboard shows them
  }
}

const withLink = (s: DashboardState, label: string, url: string): DashboardState => ({
  ...s,
  links: [...s.links.filter((l) => l.label !== label), { label, url }],
});

export function addPoint(series: LossSeries, value: number): LossSeries {
  const pending = { sum: series.pending.sum + value, n: series.pending.n + 1 };
  if (pending.n < series.every) return { ...series, pending };
  const points = [...series.points, pending.sum / pending.n];
  const empty = { sum: 0, n: 0 };
  if (points.length < MAX_POINTS) return { ...series, points, pending: empty };
  const merged = Array.from({ length: points.length / 2 }, (_, i) => (points[2 * i] + points[2 * i + 1]) / 2);
  return { ...series, every: series.every * 2, points: merged, pending: empty };
}

/** The series as (step, value) pairs, the bucket still filling included. */
export function lossPoints(series: LossSeries): { steps: number[]; values: number[] } {
  const steps = series.points.map((_, i) => series.start + (i + 1) * series.every);
  const values = [...series.points];
  if (series.pending.n > 0) {
    steps.push(series.start + series.points.length * series.every + series.pending.n);
    values.push(series.pending.sum / series.pending.n);
  }
  return { steps, values };
}
