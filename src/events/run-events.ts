// events/: the run events every subscriber and the trainer share.
//
// The run's typed events: the contract between the trainer, which emits them and knows no
// subscriber, and the subscribers (the dashboard, the plain/json reporters, the run store,
// the MLflow tracker), which each subscribe on their own and know nothing of one another.

/** How a run ended. */
export type RunStatus = 'finished' | 'failed' | 'interrupted';

export interface RunStartEvent {
  type: 'start';
  time: number; // ms since epoch
  runId: string;
  runDir: string;
  experiment: string; // experiment name
  description: string;
  config: Record<string, unknown>; // the resolved experiment, defaults filled in
  params: number; // trainable parameters
  backend: string; // backend in use, e.g. 'wasm'
  backendNote: string; // why it was chosen / what fell back
  device: string; // human-readable device, e.g. 'CPU (2 threads)'
  /** train: the images trained on (without those held out for validation). */
  dataset: { name: string; train: number; test: number; validation?: number; height: number; width: number; channels: number };
  totalSteps: number;
  stepsPerEpoch: number;
  resumedFromStep: number; // 0 for a fresh run
}

export interface StepEvent {
  type: 'step';
  time: number;
  step: number; // 1-based global step just completed
  epoch: number; // 0-based epoch the step belongs to
  epochStep: number; // 1-based step within the epoch
  loss: number; // mean cross-entropy in nats per pixel
  bitsPerDim: number; // loss / ln 2
  imagesPerSecond: number; // smoothed training throughput
  stepsPerSecond: number;
  /** The learning rate the step's update used (train.lr_schedule); absent in runs from before schedules. */
  learningRate?: number;
  /** The global norm of the step's gradients before clipping; present with train.grad_clip or on_nonfinite_gradient: skip. */
  gradNorm?: number;
}

export interface EvalStartEvent {
  type: 'eval-start';
  time: number;
  step: number;
}

/** The images an evaluation ran on: the held-out training images (dataset.validation) or the test set. */
export type EvalSet = 'validation' | 'test';

export interface EvalEvent {
  type: 'eval';
  time: number;
  step: number;
  epoch: number;
  /** validation: a periodic evaluation of a run with a validation set; test: a periodic one without, or a final one with. */
  set: EvalSet;
  /** current: the weights at `step`; best: those of the best checkpoint (of step `bestStep`), evaluated once at the end. */
  weights: 'current' | 'best';
  loss: number; // nats per pixel, inference mode
  bitsPerDim: number;
  /** Lowest bits/dim on the set the best checkpoint is chosen on, and its step, so far. */
  bestBitsPerDim: number;
  bestStep: number;
  images: number; // images evaluated
  /** A class-conditional model: loss is the conditional NLL, -log p(image | label). Absent in runs from before conditioning. */
  conditional?: boolean;
  /** The weights evaluated were the averaged ones (train.ema), not the trained ones. Absent in runs from before averaging. */
  averaged?: boolean;
  seconds: number;
}

export interface SampleStartEvent {
  type: 'sample-start';
  time: number;
  step: number;
  count: number;
  method: string;
}

export interface SampleEvent {
  type: 'sample';
  time: number;
  step: number;
  path: string; // PNG grid written by the run store
  method: string;
  count: number;
  columns: number;
  height: number;
  width: number;
  /** Sampled images as 0..1 intensities, row-major [count, height, width, channels] (channels last, as dataset.channels says). */
  pixels: Float32Array;
  /** A class-conditional model: the label of each grid row (its class id). */
  rowLabels?: string[];
  seconds: number;
  /** The step of the weights drawn from, when not `step`'s own (the final grid from the best checkpoint). */
  weightsStep?: number;
}

export interface CheckpointEvent {
  type: 'checkpoint';
  time: number;
  step: number;
  path: string;
  /** A new best checkpoint (checkpoints/best) rather than a rolling one. */
  best?: boolean;
}

export interface WarningEvent {
  type: 'warning';
  time: number;
  message: string;
}

/** MLflow tracking: off (with how to turn it on), on, or the run's page once it exists. */
export interface TrackingEvent {
  type: 'tracking';
  time: number;
  enabled: boolean;
  /** The tracking server, credentials removed; null when off. */
  uri: string | null;
  /** The run's page in the MLflow UI, once the run was created. */
  link: string | null;
  message: string;
}

export interface EndEvent {
  type: 'end';
  time: number;
  status: RunStatus;
  message: string; // e.g. the reason for a failure
  summary: RunSummary;
}

/** Contents of summary.json. */
export interface RunSummary {
  status: RunStatus | 'running';
  run_id: string;
  experiment: string;
  steps: number;
  epochs: number;
  train_bits_per_dim: number | null;
  /** Test bits/dim of the last weights (the last evaluation's without a validation set). */
  test_bits_per_dim: number | null;
  /** Test bits/dim of the best checkpoint: with a validation set the best on it, without one the lowest test bits/dim. */
  best_test_bits_per_dim: number | null;
  /** The same number, named for what it is; absent in summaries of pxl before validation sets. */
  test_bits_per_dim_best_checkpoint?: number | null;
  /** What the best checkpoint was chosen on; test means its test bits/dim is not an unbiased estimate. */
  best_chosen_on?: EvalSet;
  best_step?: number | null;
  validation_bits_per_dim?: number | null;
  best_validation_bits_per_dim?: number | null;
  /**
   * Which NLL test_bits_per_dim is: conditional (-log p(image | label), a class-conditional
   * model) or unconditional. Absent in runs from before conditioning, which are unconditional.
   */
  test_nll?: 'conditional' | 'unconditional';
  /** The weights every evaluation used: averaged (train.ema) or trained. Absent in runs from before averaging (trained). */
  evaluated_weights?: 'averaged' | 'trained';
  /** Steps whose update was skipped for a non-finite loss or gradient (train.on_nonfinite_gradient: skip). */
  skipped_steps?: number;
  params: number;
  backend: string;
  /** What it ran on, as the start event says, e.g. 'GPU: NVIDIA H100 80GB HBM3 (driver 550.54.15), TensorFlow 2.15.1'. */
  device: string;
  wall_seconds: number;
  images_per_second: number | null;
  started_at: string;
  ended_at: string | null;
  message: string;
}

export type RunEvent =
  | RunStartEvent
  | StepEvent
  | EvalStartEvent
  | EvalEvent
  | SampleStartEvent
  | SampleEvent
  | CheckpointEvent
  | WarningEvent
  | TrackingEvent
  | EndEvent;

export type RunListener = (event: RunEvent) => void | Promise<void>;

/** An event as one JSON line (metrics.jsonl, `--reporter json`): big pixel arrays stay in the PNG files. */
export function eventLine(e: RunEvent): string {
  return JSON.stringify(e, (key, value) => (key === 'pixels' || key === 'config' ? undefined : value));
}
