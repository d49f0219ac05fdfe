// The resolved experiment: every setting present, defaults filled in.
// Generated from schemas/experiment.schema.json by scripts/gen-config-types.mjs (npm run build,
// npm test); do not edit by hand: change the schema and run `npm run gen:types`.
/**
 * Compute backend. auto picks the best available: tensorflow-gpu (CUDA), tensorflow (native CPU), wasm, cpu (pure JavaScript, slow).
 */
export type BackendRequest = 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
/**
 * A causal mask: A hides the centre pixel and everything after it in raster order; B keeps the centre.
 */
export type MaskType = 'A' | 'B';
/**
 * A number of steps, or "N steps" / "N epochs"; 0 means only at the end.
 */
export type Interval = number | string;

/**
 * One PixelCNN experiment: the data, the model, how to train it, how to sample from it and where to track it.
 */
export interface Experiment {
  /**
   * Experiment name, used for the run folder runs/<name>/ and as the MLflow experiment by default. Defaults to the file name without its extension.
   */
  name: string;
  /**
   * Free text shown in the dashboard and logged as the MLflow run note.
   */
  description: string;
  /**
   * Seed for weight initialisation and data order. The same seed gives the same run.
   */
  seed: number;
  backend: BackendRequest;
  dataset: DatasetConfig;
  model: ModelConfig;
  train: TrainConfig;
  sample: SampleConfig;
  tracking: TrackingConfig;
}
/**
 * The images to model.
 */
export interface DatasetConfig {
  /**
   * mnist (bundled with pxl), fashion-mnist (Debian package dataset-fashion-mnist), colored-mnist (MNIST digits tinted with seeded colours, 28x28 RGB, see dataset.tint_seed), cifar10 (the official binary version in dataset.dir, 32x32 RGB, labels kept), images (a folder of PNG or JPEG files of one size in dataset.dir: grey or RGB, optionally train/ and test/ subfolders and one subfolder per class) or idx (IDX files in dataset.dir).
   */
  name: 'mnist' | 'fashion-mnist' | 'colored-mnist' | 'cifar10' | 'images' | 'idx';
  /**
   * The folder the images are read from, relative to this file; for idx, cifar10 and images only. idx: the folder holding train-images-idx3-ubyte and t10k-images-idx3-ubyte (gzipped or not). cifar10: the extracted cifar-10-batches-bin folder (data_batch_1.bin … data_batch_5.bin, test_batch.bin) or the folder holding it. images: the folder of PNG/JPEG files, or of train/ and test/ subfolders; in each, the files or one subfolder per class (class ids follow the sorted folder names).
   */
  dir: string | null;
  /**
   * Use only the first N training images; null uses all.
   */
  train_limit: number | null;
  /**
   * Evaluate on only the first N test images; null uses all.
   */
  test_limit: number | null;
  /**
   * For name: images without train/ and test/ subfolders: the fraction of the files held out as test images (at least one, and one left to train on): the first of the sorted file paths shuffled with a fixed seed, so the test images are the same for every run on the same folder, whatever its seed.
   */
  test_fraction: number;
  /**
   * For name: colored-mnist: the seed of the digits' colours. Each image's colour is a hue drawn uniformly by a generator seeded by (tint_seed, split), one draw per image in file order, at full saturation; the background stays black.
   */
  tint_seed: number;
  /**
   * Training images held out to choose the best checkpoint on: N images drawn by a shuffle seeded by `seed` from the training set as dataset.train_limit leaves it (the same images for the same seed and dataset), never trained on. train.eval_every then evaluates them, the best checkpoint is the one with the lowest validation bits/dim, and test bits/dim is evaluated once, at the end, for the best checkpoint and for the last weights. none: no validation set; evaluations and the best checkpoint use the test set, and the run says so.
   */
  validation: number | string;
}
/**
 * The PixelCNN: a masked input conv, a stack of blocks (residual, or gated with a vertical and a horizontal stack), and a head of 1x1 convs ending in the output (model.output): a softmax over colour levels per pixel and channel, or a discretised logistic mixture per pixel.
 */
export interface ModelConfig {
  /**
   * Number of intensity levels each pixel is quantised to; the softmax output has this many classes per pixel and channel, the logistic mixture discretises over this many levels.
   */
  color_levels: number;
  /**
   * The width h. Residual blocks: the residual stream has 2h channels, the convs inside each block and the head have h. Gated blocks: each stack has h channels, the convs before the gates 2h (a tanh half and a sigmoid half).
   */
  hidden: number;
  /**
   * Batch normalisation after the input conv and after each conv inside the blocks (gated blocks: after the vertical, horizontal and output convs; not after the 1x1 link or the skip convs).
   */
  batch_norm: boolean;
  /**
   * Dropout inside the blocks, with this probability of dropping a unit (kept units are scaled by 1 / (1 - p)): in a residual block on the features after the relu before its last 1x1 conv, in a gated block on the gated horizontal features before its output (and skip) 1x1 convs, as PixelCNN++ places it. Training only: evaluation and sampling use every unit. The masks are a function of the run's seed, the step and the layer, so a resumed run draws the same ones. 0: no dropout.
   */
  dropout: number;
  /**
   * The first layer: a masked conv from the image to the 2h-channel residual stream. With gated blocks: a vertical conv over the rows up to this one (k/2+1 x k) and a horizontal mask-A conv over the pixels to the left (1 x k/2), each from the image to h channels, with no gate.
   */
  input: {
    /**
     * Kernel height and width (gated blocks: the width k of the vertical and horizontal convs); must be odd.
     */
    kernel_size: number;
    mask: MaskType;
  };
  /**
   * The stack of blocks between the input conv and the head.
   */
  blocks: {
    /**
     * Block type. residual: relu, 1x1 conv 2h->h, relu, masked kxk conv h->h, relu, 1x1 conv h->2h, each conv followed by batch norm when enabled, added to the block's input. gated: the Gated PixelCNN block (van den Oord et al. 2016b, arXiv 1606.05328): a vertical stack (a k/2+1 x k conv over the rows up to this one, seen by the horizontal stack one row down, so a row never sees itself) and a horizontal stack (a 1 x k/2+1 conv over the pixels to the left and this one), a 1x1 link from the vertical into the horizontal stack, the gate tanh(a) * sigmoid(b) on each stack, a 1x1 output conv and a residual connection in the horizontal stack. Gated models have no blind spot.
     */
    type: 'residual' | 'gated';
    /**
     * Number of blocks.
     */
    count: number;
    /**
     * Kernel height and width of each block's masked conv (gated blocks: the width k of the vertical and horizontal convs); must be odd.
     */
    kernel_size: number;
    mask: MaskType;
    /**
     * Gated blocks only: the dilation of each block's vertical and horizontal convs, one per block (e.g. [1, 2, 1, 4, 1, 2, 1]); a dilation d spreads the k taps d pixels apart, widening what a block sees at the same cost. null: 1 for every block.
     *
     * @maxItems 256
     */
    dilations: number[] | null;
    /**
     * Gated blocks only: each block also sends its gated horizontal features through a 1x1 conv h->h, summed with the last block's output into what the head reads (van den Oord et al. 2016b's skip connections, as in WaveNet).
     */
    skip_connections: boolean;
  };
  conditioning: ConditioningConfig;
  /**
   * After a relu, 1x1 convs (the stream's channels (2h, or h for gated blocks) ->h, then h->h, each followed by relu) and a final 1x1 conv h->the output's values per pixel (model.output: color_levels per channel for the softmax).
   */
  head: {
    /**
     * Number of 1x1 convs before the output conv.
     */
    convs: number;
    mask: MaskType;
  };
  output: OutputConfig;
}
/**
 * What the model is conditioned on besides the earlier pixels. Unconditional by default (type none): the model is p(image). With type class it is p(image | class): a learned bias per class and block is added inside every block, training and evaluation read the dataset's labels, and test bits/dim is the conditional NLL (reported as such).
 */
export interface ConditioningConfig {
  /**
   * none: an unconditional model. class: a class-conditional one; needs model.conditioning.classes and a dataset with labels (mnist, fashion-mnist, or idx with label files).
   */
  type: 'none' | 'class';
  /**
   * With type class: the number of classes N; every label of the dataset must lie in 0..N-1 (10 for mnist and fashion-mnist). null when the model is unconditional.
   */
  classes: number | null;
}
/**
 * What the head's last 1x1 conv emits per pixel and how the pixel's probability is read from it. softmax (the default): color_levels logits per channel, a softmax over the levels. logistic_mixture: the discretised mixture of logistics of PixelCNN++ (Salimans et al. 2017, arXiv 1701.05517): per pixel K mixture logits and, per channel, K means and K log-scales, and for 3 channels K coefficients each of G on R, B on R and B on G; one component is shared by the pixel's channels. All of it comes from the pixels before the pixel (the output conv reads the first channel group's features), and G and B depend on the pixel's R (and G) through the coefficients. The data is rescaled to [-1, 1] over color_levels levels; bits/dim stay the exact NLL over the levels.
 */
export interface OutputConfig {
  /**
   * softmax: a softmax over color_levels per channel. logistic_mixture: a mixture of model.output.components discretised logistics per pixel.
   */
  type: 'softmax' | 'logistic_mixture';
  /**
   * With type logistic_mixture: the number of mixture components K (PixelCNN++ uses 10). The output conv then has K * (1 + 2C) + K * C(C-1)/2 outputs per pixel for C channels: 3K for one channel, 10K for three. null with softmax.
   */
  components: number | null;
}
/**
 * How the model is trained.
 */
export interface TrainConfig {
  /**
   * Passes over the training set. Ignored when train.steps is set.
   */
  epochs: number;
  /**
   * Total optimiser steps; when set, it decides the run's length instead of train.epochs.
   */
  steps: number | null;
  /**
   * Images per optimiser step. An incomplete last batch of an epoch is dropped.
   */
  batch_size: number;
  /**
   * Memory for speed: always keeps only each block's input for the backward pass and recomputes the block there (same gradients, about a third more arithmetic, a fraction of the memory); never keeps every activation; auto recomputes only when keeping them would not fit the backend's memory.
   */
  recompute: 'auto' | 'always' | 'never';
  optimizer: OptimizerConfig;
  lr_schedule: LrScheduleConfig;
  /**
   * Gradient clipping by global norm: when the norm of all gradients together exceeds this, every gradient is scaled down to it. The norm before clipping is recorded at every step (train/grad_norm). null: no clipping.
   */
  grad_clip: number | null;
  /**
   * What a step whose loss or gradient is NaN or infinite does. stop: the run fails, keeping its last good checkpoint. skip: the update is not applied (the weights, the optimiser's moments and the averaged weights stay as they were; the data and the schedule move on), a warning says so, and summary.json counts skipped_steps. With skip, the gradient's global norm is computed (and recorded) at every step.
   */
  on_nonfinite_gradient: 'stop' | 'skip';
  ema: EmaConfig;
  eval_every: Interval;
  checkpoint_every: Interval;
  /**
   * How many of the newest checkpoints to keep in the run folder; older ones are deleted.
   */
  keep_checkpoints: number;
  sample_every: Interval;
  /**
   * Steps between progress lines of the plain reporter. Every step is recorded in metrics.jsonl regardless.
   */
  log_every: number;
}
/**
 * The optimiser and its settings.
 */
export interface OptimizerConfig {
  /**
   * adam, rmsprop or sgd (with momentum).
   */
  name: 'adam' | 'rmsprop' | 'sgd';
  /**
   * Step size.
   */
  learning_rate: number;
  /**
   * Adam: decay of the first-moment estimate.
   */
  beta1: number;
  /**
   * Adam: decay of the second-moment estimate.
   */
  beta2: number;
  /**
   * Adam and rmsprop: added to the denominator for numerical stability.
   */
  epsilon: number;
  /**
   * sgd and rmsprop: momentum.
   */
  momentum: number;
  /**
   * Decoupled weight decay (AdamW, Loshchilov and Hutter 2019): every step multiplies each trainable weight (biases and batch-norm scales too) by 1 - lr x weight_decay, apart from the gradient and the optimiser's moments. 0: none.
   */
  weight_decay: number;
}
/**
 * How the learning rate (train.optimizer.learning_rate, the peak) changes over the run. The rate in force is recorded at every step (train/lr).
 */
export interface LrScheduleConfig {
  /**
   * constant; step: multiplied by gamma every `every`; exponential: multiplied by decay at every step (as PixelCNN++); cosine: from learning_rate down to min_lr along a half cosine over the run (after the warmup), so it fixes the run's length.
   */
  name: 'constant' | 'step' | 'exponential' | 'cosine';
  /**
   * Steps over which the rate rises linearly from learning_rate/warmup to learning_rate before the schedule starts (its decay is counted from the end of the warmup). 0: none.
   */
  warmup: number;
  /**
   * step schedule: how often the rate is multiplied by gamma, as a number of steps or a string like "500 steps" or "2 epochs". Required by the step schedule, refused by the others.
   */
  every: number | string | null;
  /**
   * step schedule: the factor applied every `every`.
   */
  gamma: number;
  /**
   * exponential schedule: the factor applied at every step (PixelCNN++ uses 0.999995 over hundreds of thousands of steps).
   */
  decay: number;
  /**
   * cosine schedule: the rate the cosine ends at; below train.optimizer.learning_rate.
   */
  min_lr: number;
}
/**
 * Polyak averaging: an exponential moving average of the weights kept beside the trained ones and stored in every checkpoint. When on, evaluations, the best checkpoint's choice and samples use the averaged weights.
 */
export interface EmaConfig {
  /**
   * The average's decay per step (PixelCNN++: 0.9995); at step t the decay used is min(decay, (1 + t) / (10 + t)), so early weights fade quickly in a short run. Batch-norm running statistics are averaged the same way. null: no averaging.
   */
  decay: number | null;
}
/**
 * How image grids are sampled, pixel by pixel in raster order.
 */
export interface SampleConfig {
  /**
   * Images per grid.
   */
  count: number;
  /**
   * Images per row of the grid.
   */
  columns: number;
  /**
   * For a class-conditional model: the classes to draw, as a list of class ids or all (every class, 0 to model.conditioning.classes - 1). The grid then has one row per class, of sample.columns images each, labelled with its class id, and sample.count is not used. null draws all classes for a conditional model; an unconditional model takes none.
   *
   * @minItems 1
   * @maxItems 256
   */
  classes: [number, ...number[]] | string | null;
  /**
   * cached computes each layer once per pixel from cached activations of earlier pixels (about one forward pass per image); naive runs the whole network once per pixel. Both draw the same images.
   */
  method: 'naive' | 'cached';
  /**
   * Sampling temperature: below 1 sharper, above 1 more random. Softmax: the logits are divided by it. Logistic mixture: the component logits are divided by it and each logistic's scale multiplied by it.
   */
  temperature: number;
  /**
   * Seed of the sampling draws; the same weights and seed give the same images.
   */
  seed: number;
}
/**
 * MLflow tracking. Off unless a URI is set here or in MLFLOW_TRACKING_URI.
 */
export interface TrackingConfig {
  /**
   * MLflow tracking server, e.g. http://127.0.0.1:5000; null reads MLFLOW_TRACKING_URI.
   */
  uri: string | null;
  /**
   * MLflow experiment name; null uses the experiment's name.
   */
  experiment: string | null;
  /**
   * Upload the final checkpoint as an MLflow artifact.
   */
  log_model: boolean;
}
