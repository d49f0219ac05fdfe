// Checks a schema cannot express: each would silently break the autoregressive
// property, the shapes, or the meaning of a run.
import type { Diagnostic } from './diagnostics.js';
import { locate } from './compose.js';
import type { SourceFile } from './source.js';
import type { Experiment } from './types.js';
import { channelGroupProblem, DATASET_CHANNELS } from './widths.js';

interface Finding {
  path: string[];
  part?: 'key' | 'value';
  message: string;
}

type Rule = (e: Experiment) => Finding[];

/** The datasets read from a folder the user names, and what that folder holds. */
const NEEDS_DIR: Record<string, string> = {
  idx: 'the folder holding train-images-idx3-ubyte and t10k-images-idx3-ubyte',
  cifar10: 'the folder holding the binary version (data_batch_1.bin … data_batch_5.bin, test_batch.bin)',
  images: 'the folder holding the PNG or JPEG files (or train/ and test/ subfolders)',
};

/** A 1x1 mask-A kernel: the mask hides its only tap, so the conv has no weights left. */
const hidesEveryTap = (kernel: number, mask: string | null): boolean => kernel === 1 && mask === 'A';

const oddKernel =
  (section: 'input' | 'blocks'): Rule =>
  (e) => {
    const k = e.model[section].kernel_size;
    return k % 2 === 1
      ? []
      : [{ path: ['model', section, 'kernel_size'], message: `expected an odd kernel size, so the kernel has a centre pixel for the mask to split around; found ${k}` }];
  };

/** What only gated blocks have, refused on residual ones; what gated blocks cannot do. */
const gatedRules: Rule[] = [
  (e) =>
    e.model.blocks.type !== 'gated' && e.model.blocks.dilations !== null
      ? [{ path: ['model', 'blocks', 'dilations'], part: 'key', message: 'dilations apply to gated blocks only (model.blocks.type: gated); residual blocks have undilated masked convs' }]
      : [],
  (e) =>
    e.model.blocks.type !== 'gated' && e.model.blocks.skip_connections
      ? [{ path: ['model', 'blocks', 'skip_connections'], part: 'key', message: 'skip connections apply to gated blocks only (model.blocks.type: gated)' }]
      : [],
  (e) => {
    const { type, dilations, count } = e.model.blocks;
    return type === 'gated' && dilations !== null && dilations.length !== count
      ? [{ path: ['model', 'blocks', 'dilations'], message: `expected one dilation per block (model.blocks.count is ${count}); found ${dilations.length}` }]
      : [];
  },
  (e) =>
    e.model.blocks.type === 'gated' && e.model.blocks.count > 0 && e.model.blocks.kernel_size === 1
      ? [{ path: ['model', 'blocks', 'kernel_size'], message: 'gated blocks need a kernel of 3 or more: with 1 the vertical stack never widens and the horizontal one never reaches left, so each pixel would see only the column above it and its input layer\'s few pixels to the left' }]
      : [],
  (e) =>
    e.model.blocks.type === 'gated' && e.model.blocks.skip_connections && e.model.blocks.count === 0
      ? [{ path: ['model', 'blocks', 'skip_connections'], message: 'skip connections need at least one block: each block sends one to the head, and with model.blocks.count 0 there is none' }]
      : [],
  (e) =>
    e.model.blocks.type === 'gated' && e.train.recompute === 'always'
      ? [{ path: ['train', 'recompute'], message: 'gated blocks are not recomputed in the backward pass (only residual blocks are); use auto or never' }]
      : [],
];

const RULES: Rule[] = [
  ...gatedRules,
  oddKernel('input'),
  oddKernel('blocks'),
  (e) =>
    e.model.input.mask === 'A'
      ? []
      : [{
          path: ['model', 'input', 'mask'],
          message: 'the first layer must use mask A: with mask B each pixel sees its own value, the model learns to copy its input (loss near 0) and its samples are meaningless',
        }],
  (e) =>
    hidesEveryTap(e.model.input.kernel_size, e.model.input.mask)
      ? [{ path: ['model', 'input', 'kernel_size'], message: 'a 1x1 mask-A conv has no weights left (the mask hides its only tap), so the model would never see the image; use a kernel of 3 or more' }]
      : [],
  (e) =>
    e.model.blocks.count > 0 && hidesEveryTap(e.model.blocks.kernel_size, e.model.blocks.mask)
      ? [{ path: ['model', 'blocks', 'mask'], message: 'a 1x1 mask-A conv has no weights left (the mask hides its only tap), so every block would output a constant; use mask B' }]
      : [],
  (e) =>
    e.model.head.convs > 0 && hidesEveryTap(1, e.model.head.mask)
      ? [{ path: ['model', 'head', 'mask'], message: "the head's convs are 1x1: with mask A they have no weights left and the output would not depend on the image; use mask B" }]
      : [],
  (e) =>
    e.sample.columns > e.sample.count && !isConditional(e)
      ? [{ path: ['sample', 'columns'], message: `expected at most sample.count (${e.sample.count}) columns; found ${e.sample.columns}` }]
      : [],
  (e) =>
    e.dataset.name in NEEDS_DIR && !e.dataset.dir
      ? [{ path: ['dataset', 'name'], message: `dataset ${e.dataset.name} needs dataset.dir: ${NEEDS_DIR[e.dataset.name]}` }]
      : [],
  (e) =>
    !(e.dataset.name in NEEDS_DIR) && e.dataset.dir
      ? [{ path: ['dataset', 'dir'], part: 'key', message: `dataset.dir only applies to datasets idx, cifar10 and images; ${e.dataset.name} is found by pxl itself` }]
      : [],
  (e) =>
    typeof e.dataset.validation === 'number' && e.dataset.train_limit != null && e.dataset.validation >= e.dataset.train_limit
      ? [{ path: ['dataset', 'validation'], message: `expected fewer validation images than dataset.train_limit (${e.dataset.train_limit}), so that some are left to train on; found ${e.dataset.validation}` }]
      : [],
  ...conditioningRules(),
  ...outputRules(),
  ...recipeRules(),
  (e) => {
    const channels = DATASET_CHANNELS[e.dataset.name];
    const problem = channels ? channelGroupProblem(e.model.hidden, channels, e.model.blocks.type) : null;
    return problem ? [{ path: ['model', 'hidden'], message: problem }] : [];
  },
];

/** The largest grid, in images: sample.count's maximum in the schema. */
const MAX_SAMPLES = 4096;

const isConditional = (e: Experiment): boolean => e.model.conditioning?.type === 'class';

/** Class conditioning and the classes sampled. */
function conditioningRules(): Rule[] {
  return [
    (e) =>
      isConditional(e) && e.model.conditioning.classes == null
        ? [{ path: ['model', 'conditioning', 'type'], message: 'class conditioning needs model.conditioning.classes: the number of classes (10 for mnist and fashion-mnist)' }]
        : [],
    (e) =>
      !isConditional(e) && e.model.conditioning?.classes != null
        ? [{ path: ['model', 'conditioning', 'classes'], part: 'key', message: 'classes applies only to model.conditioning.type class; the model is unconditional (type none)' }]
        : [],
    (e) =>
      isConditional(e) && e.model.blocks.count === 0
        ? [{ path: ['model', 'conditioning', 'type'], message: 'the class bias is added inside the blocks, and model.blocks.count is 0: the label would reach nothing; use at least one block' }]
        : [],
    (e) =>
      !isConditional(e) && e.sample.classes != null
        ? [{ path: ['sample', 'classes'], part: 'key', message: 'sample.classes needs a class-conditional model (model.conditioning.type class); this model is unconditional' }]
        : [],
    (e) => {
      const n = e.model.conditioning?.classes;
      if (!isConditional(e) || n == null || !Array.isArray(e.sample.classes)) return [];
      return e.sample.classes.flatMap((k, i) =>
        k >= n ? [{ path: ['sample', 'classes', String(i)], message: `expected a class id from 0 to ${n - 1} (model.conditioning.classes ${n}); found ${k}` }] : []);
    },
    (e) => {
      const n = e.model.conditioning?.classes;
      if (!isConditional(e) || n == null) return [];
      const rows = Array.isArray(e.sample.classes) ? e.sample.classes.length : n;
      return rows * e.sample.columns > MAX_SAMPLES
        ? [{ path: ['sample', 'classes'], message: `${rows} rows of sample.columns ${e.sample.columns} images make ${rows * e.sample.columns}; a grid holds at most ${MAX_SAMPLES}: draw fewer classes or columns` }]
        : [];
    },
  ];
}

const isMixture = (e: Experiment): boolean => e.model.output?.type === 'logistic_mixture';

/** The model's output: a mixture needs its number of components, the softmax has none. */
function outputRules(): Rule[] {
  return [
    (e) =>
      isMixture(e) && e.model.output.components == null
        ? [{ path: ['model', 'output', 'type'], message: 'a logistic mixture needs model.output.components: the number of mixture components (PixelCNN++ uses 10)' }]
        : [],
    (e) =>
      !isMixture(e) && e.model.output?.components != null
        ? [{ path: ['model', 'output', 'components'], part: 'key', message: 'components applies only to model.output.type logistic_mixture; this output is a softmax' }]
        : [],
  ];
}

/** The learning-rate schedule and the optimiser's extras: what makes no sense together. */
function recipeRules(): Rule[] {
  const schedule = (e: Experiment) => e.train.lr_schedule;
  return [
    (e) =>
      schedule(e).name === 'step' && schedule(e).every === null
        ? [{ path: ['train', 'lr_schedule', 'name'], message: 'the step schedule needs train.lr_schedule.every: how often to multiply the rate by gamma (e.g. "500 steps" or "2 epochs")' }]
        : [],
    (e) =>
      schedule(e).name !== 'step' && schedule(e).every !== null
        ? [{ path: ['train', 'lr_schedule', 'every'], part: 'key', message: `every applies only to the step schedule (train.lr_schedule.name: step); this one is ${schedule(e).name}` }]
        : [],
    (e) =>
      e.train.steps != null && e.train.steps >= 1 && schedule(e).warmup > 0 && schedule(e).warmup >= e.train.steps
        ? [{ path: ['train', 'lr_schedule', 'warmup'], message: `expected a warmup shorter than the run (train.steps ${e.train.steps}); found ${schedule(e).warmup}` }]
        : [],
    (e) =>
      schedule(e).name === 'cosine' && schedule(e).min_lr >= e.train.optimizer.learning_rate
        ? [{ path: ['train', 'lr_schedule', 'min_lr'], message: `expected a floor below train.optimizer.learning_rate (${e.train.optimizer.learning_rate}), which the cosine starts from; found ${schedule(e).min_lr}` }]
        : [],
    (e) =>
      e.train.optimizer.weight_decay * e.train.optimizer.learning_rate >= 1
        ? [{ path: ['train', 'optimizer', 'weight_decay'], message: `learning_rate x weight_decay must stay below 1 (each step multiplies the weights by 1 minus it); found ${e.train.optimizer.learning_rate} x ${e.train.optimizer.weight_decay}` }]
        : [],
  ];
}

/** Warnings: legal but almost certainly unintended. */
const WARNINGS: Rule[] = [
  (e) =>
    e.model.blocks.count > 0 && e.model.blocks.mask === 'A' && e.model.blocks.kernel_size > 1
      ? [{ path: ['model', 'blocks', 'mask'], message: 'mask A inside the blocks drops each position\'s own features at every block; the model stays autoregressive but loses information (PixelCNN uses B here)' }]
      : [],
];

/** A rule that meets a value of the wrong type (already reported by the schema) finds nothing. */
const safely = (r: Rule, e: Experiment): Finding[] => {
  try {
    return r(e);
  } catch {
    return [];
  }
};

const toDiagnostics = (rules: Rule[], e: Experiment, sources: readonly SourceFile[]): Diagnostic[] =>
  rules.flatMap((r) => safely(r, e)).map((f) => ({ location: locate(sources, f.path, f.part ?? 'value'), path: f.path.join('.'), message: f.message }));

export const checkRules = (e: Experiment, sources: readonly SourceFile[]): Diagnostic[] => toDiagnostics(RULES, e, sources);
export const checkWarnings = (e: Experiment, sources: readonly SourceFile[]): Diagnostic[] => toDiagnostics(WARNINGS, e, sources);

/** Parses an interval setting into steps, given the steps per epoch; 0 means only at the end. */
export function intervalSteps(interval: number | string, stepsPerEpoch: number): number {
  if (typeof interval === 'number') return interval;
  const [n, unit] = interval.split(' ');
  return unit.startsWith('epoch') ? Number(n) * stepsPerEpoch : Number(n);
}
