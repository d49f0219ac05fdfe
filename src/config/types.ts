// The resolved experiment: every setting present, defaults filled in.
// Mirrors schemas/experiment.schema.json, which stays the source of truth (a test checks they agree).

export type MaskType = 'A' | 'B';
export type BackendRequest = 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
/** A number of steps, or "N steps" / "N epochs"; 0 means only at the end. */
export type Interval = number | string;

export interface DatasetConfig {
  name: 'mnist' | 'fashion-mnist' | 'idx';
  dir: string | null;
  train_limit: number | null;
  test_limit: number | null;
}

export interface ModelConfig {
  color_levels: number;
  hidden: number;
  batch_norm: boolean;
  input: { kernel_size: number; mask: MaskType };
  blocks: { type: 'residual'; count: number; kernel_size: number; mask: MaskType };
  head: { convs: number; mask: MaskType };
}

export interface OptimizerConfig {
  name: 'adam' | 'rmsprop' | 'sgd';
  learning_rate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  momentum: number;
}

export interface TrainConfig {
  epochs: number;
  steps: number | null;
  batch_size: number;
  recompute: 'auto' | 'always' | 'never';
  optimizer: OptimizerConfig;
  eval_every: Interval;
  checkpoint_every: Interval;
  keep_checkpoints: number;
  sample_every: Interval;
  log_every: number;
}

export interface SampleConfig {
  count: number;
  columns: number;
  method: 'naive' | 'cached';
  temperature: number;
  seed: number;
}

export interface TrackingConfig {
  uri: string | null;
  experiment: string | null;
  log_model: boolean;
}

export interface Experiment {
  name: string;
  description: string;
  seed: number;
  backend: BackendRequest;
  dataset: DatasetConfig;
  model: ModelConfig;
  train: TrainConfig;
  sample: SampleConfig;
  tracking: TrackingConfig;
}
