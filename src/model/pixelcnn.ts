// model/: the PixelCNN itself (layers, masks, network, loss): what it computes, not how a backend speeds it up.
//
// Compiles the model section of an experiment into a PixelCNN: a masked input conv,
// residual blocks around a masked kxk conv (van den Oord et al. 2016a) or gated blocks with a
// vertical and a horizontal stack (2016b), and a head of 1x1 convs ending in the output
// (output.ts): `color_levels` logits per pixel and channel, or the parameters of a discretised
// logistic mixture per pixel. A class-conditional model (conditioning.ts) adds each image's
// class bias inside every block.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../config/types.js';
import { createRng, deriveSeed } from '../util/random.js';
import { recomputedInBackward } from '../backend/frugal-backprop.js';
import { layerOps } from '../backend/layer-ops.js';
import { addClassBias, classBias, conditioningClasses, type ClassBias } from './conditioning.js';
import { BatchNorm, Conv2D, gate, newScope, relu, shiftDown, StackConv, type ConvSpec, type StackConvSpec } from './layers.js';
import { channelGroupProblem, groupsOf, type GroupsFn } from './channel-groups.js';
import { modelOutput, type ModelOutput } from './output.js';

export interface ImageShape {
  height: number;
  width: number;
  channels: number;
}

export interface ResidualBlock {
  conv1: Conv2D;
  bn1: BatchNorm | null;
  conv2: Conv2D;
  bn2: BatchNorm | null;
  conv3: Conv2D;
  bn3: BatchNorm | null;
  /** Added to the masked conv's output (after its batch norm, before the relu); null when unconditional. */
  classBias: ClassBias | null;
}

/** The first layer of a gated model: each stack's conv from the image, no gate. */
export interface GatedInput {
  vertical: StackConv;
  vbn: BatchNorm | null;
  horizontal: StackConv;
  hbn: BatchNorm | null;
}

/** One block of Gated PixelCNN (van den Oord et al. 2016b, figure 2). */
export interface GatedBlock {
  /** h -> 2h over the rows up to this one. */
  vertical: StackConv;
  vbn: BatchNorm | null;
  /** h -> 2h over the pixels to the left (and this one, mask B). */
  horizontal: StackConv;
  hbn: BatchNorm | null;
  /** 2h -> 2h, 1x1: the vertical stack's features, one row down, into the horizontal stack. */
  link: Conv2D;
  /** h -> h, 1x1, after the gate; added to the horizontal stack's input. */
  out: Conv2D;
  obn: BatchNorm | null;
  /** h -> h, 1x1, after the gate, summed into what the head reads (blocks.skip_connections). */
  skip: Conv2D | null;
  /** Added to each stack's features before its gates; null when unconditional. */
  vClassBias: ClassBias | null;
  hClassBias: ClassBias | null;
}

/** The two stacks between layers of a gated model. */
interface Stacks {
  v: tf.Tensor4D;
  h: tf.Tensor4D;
}

/** One row of `pxl inspect`. */
export interface LayerRow {
  name: string;
  type: string;
  outputShape: number[]; // without the batch dimension
  params: number;
  depth: number; // 0: a stage; 1: a layer inside a block
}

export class PixelCNN {
  readonly config: ModelConfig;
  readonly image: ImageShape;
  /** Residual models: the masked input conv (null in a gated model). */
  readonly input: { conv: Conv2D; bn: BatchNorm | null } | null;
  /** Residual models: the residual blocks (none in a gated model). */
  readonly blocks: ResidualBlock[];
  /** Gated models: the stacks' first layer and the gated blocks (null in a residual model). */
  readonly gated: { input: GatedInput; blocks: GatedBlock[] } | null;
  readonly head: { convs: Conv2D[]; out: Conv2D };
  /** Where the dropout masks come from: the masks of a step are a function of it, the step and the layer. */
  private readonly dropoutSeed: number;
  /** What the output conv emits and the likelihood read from it (model.output). */
  readonly output: ModelOutput;

  constructor(config: ModelConfig, image: ImageShape, seed: number) {
    this.config = config;
    this.image = image;
    if (!(config.dropout >= 0 && config.dropout < 1)) throw new Error(`model.dropout: must be at least 0 and below 1, got ${config.dropout}`);
    this.dropoutSeed = deriveSeed(seed, 'dropout');
    const rng = createRng(deriveSeed(seed, 'init'));
    const scope = newScope();
    const h = config.hidden;
    const problem = channelGroupProblem(h, image.channels, config.blocks.type);
    if (problem) throw new Error(`model.hidden: ${problem}`);
    const g = groupsOf(image.channels);
    const bn = (name: string, c: number) => (config.batch_norm ? new BatchNorm(name, c, scope) : null);
    const conv = (spec: ConvSpec) => new Conv2D(spec, rng, scope);
    const stackConv = (spec: StackConvSpec) => new StackConv(spec, rng, scope);
    // A stream of its own: a conditional model starts from the same conv weights as the unconditional one.
    const classRng = createRng(deriveSeed(seed, 'conditioning'));
    const bias = (name: string, c: number) => classBias(config, name, c, classRng, scope);
    const isGated = config.blocks.type === 'gated';
    this.input = isGated ? null : {
      conv: conv({ name: 'input.conv', kernel: config.input.kernel_size, in: image.channels, out: 2 * h, mask: config.input.mask, groups: g(1, 1) }),
      bn: bn('input.bn', 2 * h),
    };
    this.blocks = isGated ? [] : Array.from({ length: config.blocks.count }, (_, i) => this.residualBlock(`blocks.${i}`, conv, bn, bias, g));
    this.gated = isGated ? this.gatedLayers(conv, stackConv, bn, bias, g) : null;
    // What the head reads: the residual stream (2h channels), or the horizontal stack (h; plus the skips, h).
    const stream = isGated ? h : 2 * h;
    const convs: Conv2D[] = [];
    for (let i = 0; i < config.head.convs; i++) {
      convs.push(conv({ name: `head.conv${i + 1}`, kernel: 1, in: i === 0 ? stream : h, out: h, mask: config.head.mask, groups: g(1, 1) }));
    }
    const outIn = config.head.convs > 0 ? h : stream;
    // Softmax: the logits of channel c are the c-th group of outputs, seeing the features of channels <= c.
    // Logistic mixture: every output sees the first group's features only (the pixels before this one).
    this.output = modelOutput(config, image.channels);
    const out = conv({ name: 'head.out', kernel: 1, in: outIn, out: this.output.perPixel, mask: this.output.mask, groups: this.output.groups });
    this.head = { convs, out };
  }

  private residualBlock(
    name: string,
    conv: (spec: ConvSpec) => Conv2D,
    bn: (name: string, c: number) => BatchNorm | null,
    bias: (name: string, c: number) => ClassBias | null,
    g: GroupsFn,
  ): ResidualBlock {
    const h = this.config.hidden;
    const { kernel_size: k, mask } = this.config.blocks;
    // Colour images: the 1x1 convs mix channels, so they are masked by group too (mask B).
    const pointwise = g.ordered ? 'B' : null;
    return {
      conv1: conv({ name: `${name}.conv1`, kernel: 1, in: 2 * h, out: h, mask: pointwise, groups: g(1, 1) }),
      bn1: bn(`${name}.bn1`, h),
      conv2: conv({ name: `${name}.conv2`, kernel: k, in: h, out: h, mask, groups: g(1, 1) }),
      bn2: bn(`${name}.bn2`, h),
      conv3: conv({ name: `${name}.conv3`, kernel: 1, in: h, out: 2 * h, mask: pointwise, groups: g(1, 1) }),
      bn3: bn(`${name}.bn3`, 2 * h),
      classBias: bias(name, h),
    };
  }

  private gatedLayers(
    conv: (spec: ConvSpec) => Conv2D,
    stackConv: (spec: StackConvSpec) => StackConv,
    bn: (name: string, c: number) => BatchNorm | null,
    bias: (name: string, c: number) => ClassBias | null,
    g: GroupsFn,
  ): { input: GatedInput; blocks: GatedBlock[] } {
    const h = this.config.hidden;
    const { kernel_size: k, mask, dilations, skip_connections: skips } = this.config.blocks;
    const k0 = this.config.input.kernel_size;
    const C = this.image.channels;
    const input: GatedInput = {
      vertical: stackConv({ name: 'input.vertical', stack: 'vertical', kernel: k0, dilation: 1, mask: null, in: C, out: h }),
      vbn: bn('input.vbn', h),
      horizontal: stackConv({ name: 'input.horizontal', stack: 'horizontal', kernel: k0, dilation: 1, mask: this.config.input.mask, in: C, out: h, groups: g(1, 1) }),
      hbn: bn('input.hbn', h),
    };
    const blocks = Array.from({ length: this.config.blocks.count }, (_, i): GatedBlock => {
      const n = `blocks.${i}`;
      const dilation = dilations?.[i] ?? 1;
      // Colour images: the horizontal stack's 2h channels are grouped within each gate half, so
      // the gate keeps groups aligned; the vertical stack and the link carry only rows above,
      // which every group may see, so they stay unmasked; the 1x1 convs after the gate are masked B.
      const pointwise = g.ordered ? 'B' : null;
      return {
        vertical: stackConv({ name: `${n}.vertical`, stack: 'vertical', kernel: k, dilation, mask: null, in: h, out: 2 * h }),
        vbn: bn(`${n}.vbn`, 2 * h),
        horizontal: stackConv({ name: `${n}.horizontal`, stack: 'horizontal', kernel: k, dilation, mask, in: h, out: 2 * h, groups: g(1, 2) }),
        hbn: bn(`${n}.hbn`, 2 * h),
        link: conv({ name: `${n}.link`, kernel: 1, in: 2 * h, out: 2 * h, mask: null }),
        out: conv({ name: `${n}.out`, kernel: 1, in: h, out: h, mask: pointwise, groups: g(1, 1) }),
        obn: bn(`${n}.obn`, h),
        skip: skips ? conv({ name: `${n}.skip`, kernel: 1, in: h, out: h, mask: pointwise, groups: g(1, 1) }) : null,
        vClassBias: bias(`${n}.vertical`, 2 * h),
        hClassBias: bias(`${n}.horizontal`, 2 * h),
      };
    });
    return { input, blocks };
  }

  /**
   * The output [batch, height, width, output.perPixel] for inputs [batch, height, width, channels]
   * in [0, 1]: the logits (channels * color_levels) or the mixture's parameters. `training` selects batch statistics (and updates the running ones) in batch norm.
   * `recompute` keeps only each block's input for the backward pass and recomputes the block
   * there: the same gradients for about a third more arithmetic and a fraction of the memory.
   * `labels`: one-hot class labels [batch, classes] (oneHotLabels), for a conditional model only.
   * `imageGradient`: the gradient with respect to the image is wanted (the receptive field);
   * training needs none, so the input conv skips it by default.
   * `step`: the training step (completed steps before this one), which with the model's seed
   * draws the dropout masks (model.dropout); needed in training mode when there is dropout.
   * Inference uses every unit.
   */
  forward(x: tf.Tensor4D, training: boolean, recompute = false, labels: tf.Tensor2D | null = null, imageGradient = false, step: number | null = null): tf.Tensor4D {
    return this.head.out.apply(this.headFeatures(x, training, recompute, labels, imageGradient, step));
  }

  /**
   * Sum over all sub-pixels of -log p(target) in nats (targets int32 [batch × height × width × channels]),
   * as forward's output would give it; for the softmax the output conv and the loss are one layer op.
   */
  crossEntropySum(x: tf.Tensor4D, targets: tf.Tensor1D, training: boolean, recompute = false, labels: tf.Tensor2D | null = null, step: number | null = null): tf.Scalar {
    return this.output.convNllSum(this.headFeatures(x, training, recompute, labels, false, step), this.head.out, targets);
  }

  /** What the output conv reads: the blocks, then relu and the head's 1x1 convs each followed by relu. */
  private headFeatures(x: tf.Tensor4D, training: boolean, recompute: boolean, labels: tf.Tensor2D | null, imageGradient: boolean, step: number | null): tf.Tensor4D {
    this.checkLabels(x, labels);
    const drop = this.dropoutStep(training, step);
    let h = this.gated ? this.gatedStacks(x, training, labels, imageGradient, drop) : this.residualStack(x, training, recompute, labels, imageGradient, drop);
    h = relu(h);
    for (const c of this.head.convs) h = relu(c.apply(h));
    return h;
  }

  /** The step whose dropout masks a forward pass uses, or null when it drops nothing (inference, or no dropout). */
  private dropoutStep(training: boolean, step: number | null): number | null {
    if (!training || this.config.dropout === 0) return null;
    if (step === null || !Number.isSafeInteger(step) || step < 0) {
      throw new Error(`model.dropout is ${this.config.dropout}: a forward pass in training mode needs the training step its masks are drawn for, got ${step}`);
    }
    return step;
  }

  /**
   * Dropout on the features `layer` reads, with the masks of training step `step` (null: none).
   * The mask is a function of the model's seed, the step and the layer, so a resumed run and a
   * block recomputed in the backward pass draw the same one.
   */
  private dropout(x: tf.Tensor4D, layer: string, step: number | null): tf.Tensor4D {
    if (step === null) return x;
    return layerOps.dropout(x, this.config.dropout, deriveSeed(this.dropoutSeed, step, layer));
  }

  private residualStack(x: tf.Tensor4D, training: boolean, recompute: boolean, labels: tf.Tensor2D | null, imageGradient: boolean, drop: number | null): tf.Tensor4D {
    let h = this.convNorm(this.input!.conv, this.input!.bn, x, training, true, imageGradient);
    for (const b of this.blocks) {
      if (recompute && training) h = this.recomputedBlock(b, labels, drop)(h);
      else if (training) h = this.block(b, h, labels, true, true, drop);
      // Inference keeps no tape: free each block's intermediates as soon as it is done.
      else h = tf.tidy(() => this.block(b, h, labels, false));
    }
    return h;
  }

  /**
   * The gated model up to its head: both stacks from the image, then each gated block; what
   * the head reads is the horizontal stack, plus the sum of the blocks' skip outputs when
   * there are skip connections (so every block's output conv, the last one's too, counts).
   * (Gated blocks are not recomputed in the backward pass: train.recompute applies to residual blocks.)
   */
  private gatedStacks(x: tf.Tensor4D, training: boolean, labels: tf.Tensor2D | null, imageGradient: boolean, drop: number | null): tf.Tensor4D {
    const { input, blocks } = this.gated!;
    let s: Stacks = {
      v: this.stackConvNorm(input.vertical, input.vbn, x, training, true, imageGradient),
      h: this.stackConvNorm(input.horizontal, input.hbn, x, training, true, imageGradient),
    };
    let skips: tf.Tensor4D | null = null;
    for (const b of blocks) {
      const next = training ? this.gatedBlock(b, s, labels, true, drop) : this.tidyGatedBlock(b, s, labels);
      s = next.stacks;
      if (next.skip) skips = skips ? (tf.add(skips, next.skip) as tf.Tensor4D) : next.skip;
    }
    return skips ? (tf.add(s.h, skips) as tf.Tensor4D) : s.h;
  }

  /**
   * One gated block: each stack's conv (2h channels: a tanh half and a sigmoid half), the
   * vertical stack's features one row down through the 1x1 link into the horizontal stack,
   * the gates, then the horizontal stack's 1x1 output conv and its residual connection. With
   * dropout, the gated horizontal features are dropped before the output and skip convs (as
   * PixelCNN++ drops before a gated residual block's last conv).
   */
  private gatedBlock(b: GatedBlock, s: Stacks, labels: tf.Tensor2D | null, training: boolean, drop: number | null = null): { stacks: Stacks; skip: tf.Tensor4D | null } {
    const vFeatures = this.stackConvNorm(b.vertical, b.vbn, s.v, training, true);
    const hFeatures = tf.add(this.stackConvNorm(b.horizontal, b.hbn, s.h, training, true), b.link.apply(shiftDown(vFeatures))) as tf.Tensor4D;
    // Each stack's class bias (van den Oord et al. 2016b eq. 4) before its gates; the link above
    // reads the vertical features without it. The cached sampler adds them at the same places.
    const v = gate(addClassBias(vFeatures, b.vClassBias, labels));
    const gated = this.dropout(gate(addClassBias(hFeatures, b.hClassBias, labels)), b.out.name, drop);
    const h = tf.add(s.h, this.convNorm(b.out, b.obn, gated, training, true)) as tf.Tensor4D;
    return { stacks: { v, h }, skip: b.skip ? b.skip.apply(gated) : null };
  }

  /** Inference keeps no tape: a block's intermediates are freed as soon as it is done. */
  private tidyGatedBlock(b: GatedBlock, s: Stacks, labels: tf.Tensor2D | null): { stacks: Stacks; skip: tf.Tensor4D | null } {
    const [v, h, skip] = tf.tidy(() => {
      const r = this.gatedBlock(b, s, labels, false);
      return r.skip ? [r.stacks.v, r.stacks.h, r.skip] : [r.stacks.v, r.stacks.h];
    });
    return { stacks: { v, h }, skip: skip ?? null };
  }

  /** The number of classes of a conditional model, null for an unconditional one. */
  get classes(): number | null {
    return conditioningClasses(this.config);
  }

  private checkLabels(x: tf.Tensor4D, labels: tf.Tensor2D | null): void {
    const classes = this.classes;
    if (classes === null) return;
    if (!labels || labels.shape[0] !== x.shape[0] || labels.shape[1] !== classes) {
      throw new Error(`a model conditioned on ${classes} classes needs one-hot labels [${x.shape[0]}, ${classes}]; got ${labels ? `[${labels.shape.join(', ')}]` : 'none'}`);
    }
  }

  /** A residual block; with dropout, the features the last 1x1 conv reads are dropped (the masks of step `drop`). */
  private block(b: ResidualBlock, h: tf.Tensor4D, labels: tf.Tensor2D | null, training: boolean, updateStats = true, drop: number | null = null): tf.Tensor4D {
    let y = this.convNorm(b.conv1, b.bn1, relu(h), training, updateStats);
    y = addClassBias(this.convNorm(b.conv2, b.bn2, relu(y), training, updateStats), b.classBias, labels);
    y = this.convNorm(b.conv3, b.bn3, this.dropout(relu(y), b.conv3.name, drop), training, updateStats);
    return tf.add(h, y);
  }

  /** A conv and the batch norm after it, if any. */
  private convNorm(conv: Conv2D, bn: BatchNorm | null, x: tf.Tensor4D, training: boolean, updateStats: boolean, inputGradient = true): tf.Tensor4D {
    if (!bn) return conv.apply(x, inputGradient);
    return layerOps.maskedConvBatchNorm(x, conv, bn, { training, updateStats }, inputGradient);
  }

  /** A stack's conv and the batch norm after it, if any. */
  private stackConvNorm(conv: StackConv, bn: BatchNorm | null, x: tf.Tensor4D, training: boolean, updateStats: boolean, inputGradient = true): tf.Tensor4D {
    if (!bn) return conv.apply(x, inputGradient);
    return layerOps.windowConvBatchNorm(x, conv, bn, { training, updateStats }, inputGradient);
  }

  /** A block whose backward pass recomputes it from its input; the rerun leaves the batch-norm statistics alone and draws the same dropout masks. */
  private recomputedBlock(b: ResidualBlock, labels: tf.Tensor2D | null, drop: number | null): (h: tf.Tensor4D) => tf.Tensor4D {
    return recomputedInBackward((h) => this.block(b, h, labels, true, true, drop), (h) => this.block(b, h, labels, true, false, drop), this.blockVariables(b));
  }

  private blockVariables(b: ResidualBlock): tf.Variable[] {
    return [b.conv1, b.bn1, b.conv2, b.bn2, b.conv3, b.bn3, b.classBias].flatMap((l) => l?.variables() ?? []);
  }

  classBiases(): ClassBias[] {
    const gated = this.gated?.blocks.flatMap((b) => [b.vClassBias, b.hClassBias]) ?? [];
    return [...this.blocks.map((b) => b.classBias), ...gated].filter((b): b is ClassBias => b !== null);
  }

  /** The model's square convs (masked or 1x1); a gated model's stack convs are stackConvs(). */
  convs(): Conv2D[] {
    const gated = this.gated?.blocks.flatMap((b) => [b.link, b.out, ...(b.skip ? [b.skip] : [])]) ?? [];
    const input = this.input ? [this.input.conv] : [];
    return [...input, ...this.blocks.flatMap((b) => [b.conv1, b.conv2, b.conv3]), ...gated, ...this.head.convs, this.head.out];
  }

  /** A gated model's vertical and horizontal convs, input first. */
  stackConvs(): StackConv[] {
    if (!this.gated) return [];
    const { input, blocks } = this.gated;
    return [input.vertical, input.horizontal, ...blocks.flatMap((b) => [b.vertical, b.horizontal])];
  }

  norms(): BatchNorm[] {
    const g = this.gated;
    const all = g
      ? [g.input.vbn, g.input.hbn, ...g.blocks.flatMap((b) => [b.vbn, b.hbn, b.obn])]
      : [this.input!.bn, ...this.blocks.flatMap((b) => [b.bn1, b.bn2, b.bn3])];
    return all.filter((b): b is BatchNorm => b !== null);
  }

  /** Trainable variables, in a fixed order. */
  trainable(): tf.Variable[] {
    // Class biases last, so an unconditional model's variables keep their order and names.
    const convs = [...this.stackConvs(), ...this.convs()];
    return [...convs.flatMap((c) => c.variables()), ...this.norms().flatMap((b) => b.variables()), ...this.classBiases().flatMap((c) => c.variables())];
  }

  /** Every variable a checkpoint must hold: trainable ones and batch-norm running statistics. */
  state(): tf.Variable[] {
    return [...this.trainable(), ...this.norms().flatMap((b) => b.buffers())];
  }

  paramCount(): number {
    return this.trainable().reduce((n, v) => n + v.size, 0);
  }

  /** Multiply-adds of one forward pass per image, counting masked taps (they are computed). */
  macsPerImage(): number {
    const { height: H, width: W } = this.image;
    const square = this.convs().reduce((n, c) => n + c.spec.kernel ** 2 * c.spec.in * c.spec.out * H * W, 0);
    return square + this.stackConvs().reduce((n, c) => n + c.weight.size * H * W, 0);
  }

  layerTable(): LayerRow[] {
    if (this.gated) return gatedLayerTable(this.gated, this.head, this.image, this.config.dropout);
    const { height: H, width: W } = this.image;
    const conv = (c: Conv2D, depth: number): LayerRow => ({
      name: c.spec.name,
      type: convType(c),
      outputShape: [H, W, c.spec.out],
      params: c.params(),
      depth,
    });
    const norm = (b: BatchNorm | null, c: number, depth: number): LayerRow[] =>
      b ? [{ name: b.name, type: 'batch norm', outputShape: [H, W, c], params: b.params(), depth }] : [];
    const input = this.input!;
    const rows: LayerRow[] = [conv(input.conv, 0), ...norm(input.bn, input.conv.spec.out, 0)];
    this.blocks.forEach((b, i) => {
      const inner = [
        conv(b.conv1, 1), ...norm(b.bn1, b.conv1.spec.out, 1),
        conv(b.conv2, 1), ...norm(b.bn2, b.conv2.spec.out, 1),
        ...dropoutRows(this.config.dropout, `blocks.${i}`, [H, W, b.conv3.spec.in]),
        conv(b.conv3, 1), ...norm(b.bn3, b.conv3.spec.out, 1),
        ...(b.classBias ? [classBiasRow(b.classBias, H, W)] : []),
      ];
      const params = inner.reduce((n, r) => n + r.params, 0);
      rows.push({ name: `blocks.${i}`, type: 'residual block', outputShape: [H, W, b.conv3.spec.out], params, depth: 0 }, ...inner);
    });
    for (const c of this.head.convs) rows.push(conv(c, 0));
    rows.push(conv(this.head.out, 0));
    return rows;
  }

  dispose(): void {
    for (const c of [...this.stackConvs(), ...this.convs()]) c.dispose();
    for (const b of this.norms()) b.dispose();
    for (const c of this.classBiases()) c.dispose();
  }
}

/** How `pxl inspect` names a conv: masked when it keeps a mask (a 1x1 one too, by channel group). */
const convType = (c: Conv2D): string => {
  const k = `${c.spec.kernel}x${c.spec.kernel}`;
  return c.mask ? `masked conv ${k} (${c.spec.mask})` : `conv ${k}${c.spec.mask ? ` (${c.spec.mask})` : ''}`;
};

/** How `pxl inspect` names a stack conv: its kernel's shape, its mask (horizontal), its dilation. */
export function stackConvType(spec: StackConvSpec, rows: number, cols: number): string {
  const mask = spec.stack === 'horizontal' ? ` (${spec.mask})` : '';
  const dilation = spec.dilation > 1 ? `, dilation ${spec.dilation}` : '';
  return `${spec.stack} conv ${rows}x${cols}${mask}${dilation}`;
}

function gatedLayerTable(gated: NonNullable<PixelCNN['gated']>, head: PixelCNN['head'], image: ImageShape, dropout: number): LayerRow[] {
  const { height: H, width: W } = image;
  const stack = (c: StackConv, depth: number): LayerRow => {
    const [rows, cols] = c.weight.shape;
    return { name: c.spec.name, type: stackConvType(c.spec, rows, cols), outputShape: [H, W, c.spec.out], params: c.params(), depth };
  };
  const conv = (c: Conv2D, depth: number): LayerRow => ({ name: c.spec.name, type: convType(c), outputShape: [H, W, c.spec.out], params: c.params(), depth });
  const norm = (b: BatchNorm | null, c: number, depth: number): LayerRow[] =>
    b ? [{ name: b.name, type: 'batch norm', outputShape: [H, W, c], params: b.params(), depth }] : [];
  const { input } = gated;
  const h = input.vertical.spec.out;
  const rows: LayerRow[] = [stack(input.vertical, 0), ...norm(input.vbn, h, 0), stack(input.horizontal, 0), ...norm(input.hbn, h, 0)];
  gated.blocks.forEach((b, i) => {
    const inner = [
      stack(b.vertical, 1), ...norm(b.vbn, 2 * h, 1),
      stack(b.horizontal, 1), ...norm(b.hbn, 2 * h, 1),
      conv(b.link, 1),
      { name: `blocks.${i}.gates`, type: 'gates tanh x sigmoid', outputShape: [H, W, h], params: 0, depth: 1 },
      ...dropoutRows(dropout, `blocks.${i}`, [H, W, h]),
      conv(b.out, 1), ...norm(b.obn, h, 1),
      ...(b.skip ? [conv(b.skip, 1)] : []),
      ...[b.vClassBias, b.hClassBias].flatMap((c) => (c ? [classBiasRow(c, H, W)] : [])),
    ];
    rows.push({ name: `blocks.${i}`, type: 'gated block', outputShape: [H, W, h], params: inner.reduce((n, r) => n + r.params, 0), depth: 0 }, ...inner);
  });
  for (const c of head.convs) rows.push(conv(c, 0));
  rows.push(conv(head.out, 0));
  return rows;
}

/** How `pxl inspect` names a block's dropout. */
export const dropoutType = (p: number): string => `dropout p=${p} (training only)`;

/** A block's dropout row in `pxl inspect`: none without dropout. */
const dropoutRows = (p: number, block: string, outputShape: number[]): LayerRow[] =>
  p > 0 ? [{ name: `${block}.dropout`, type: dropoutType(p), outputShape, params: 0, depth: 1 }] : [];

/** A class bias's row in `pxl inspect`. */
const classBiasRow = (c: ClassBias, H: number, W: number): LayerRow => ({
  name: c.name, type: `class bias (${c.classes} classes)`, outputShape: [H, W, c.channels], params: c.params(), depth: 1,
});
