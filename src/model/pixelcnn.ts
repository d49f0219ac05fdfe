// model/: the PixelCNN itself (layers, masks, network, loss): what it computes, not how a backend speeds it up.
//
// Compiles the model section of an experiment into a PixelCNN: a masked input conv,
// residual blocks around a masked kxk conv, and a head of 1x1 convs ending in
// `color_levels` logits per pixel and channel. A class-conditional model (conditioning.ts)
// adds each image's class bias inside every block.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../config/types.js';
import { createRng, deriveSeed } from '../util/random.js';
import { recomputedInBackward } from '../backend/frugal-backprop.js';
import { layerOps } from '../backend/layer-ops.js';
import { addClassBias, classBias, conditioningClasses, type ClassBias } from './conditioning.js';
import { BatchNorm, Conv2D, newScope, relu, type ConvSpec } from './layers.js';

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
  readonly input: { conv: Conv2D; bn: BatchNorm | null };
  readonly blocks: ResidualBlock[];
  readonly head: { convs: Conv2D[]; out: Conv2D };

  constructor(config: ModelConfig, image: ImageShape, seed: number) {
    this.config = config;
    this.image = image;
    const rng = createRng(deriveSeed(seed, 'init'));
    const scope = newScope();
    const h = config.hidden;
    const bn = (name: string, c: number) => (config.batch_norm ? new BatchNorm(name, c, scope) : null);
    const conv = (spec: ConvSpec) => new Conv2D(spec, rng, scope);
    // A stream of its own: a conditional model starts from the same conv weights as the unconditional one.
    const classRng = createRng(deriveSeed(seed, 'conditioning'));
    const bias = (name: string, c: number) => classBias(config, name, c, classRng, scope);
    this.input = {
      conv: conv({ name: 'input.conv', kernel: config.input.kernel_size, in: image.channels, out: 2 * h, mask: config.input.mask }),
      bn: bn('input.bn', 2 * h),
    };
    this.blocks = Array.from({ length: config.blocks.count }, (_, i) => this.residualBlock(`blocks.${i}`, conv, bn, bias));
    const convs: Conv2D[] = [];
    for (let i = 0; i < config.head.convs; i++) {
      convs.push(conv({ name: `head.conv${i + 1}`, kernel: 1, in: i === 0 ? 2 * h : h, out: h, mask: config.head.mask }));
    }
    const outIn = config.head.convs > 0 ? h : 2 * h;
    this.head = { convs, out: conv({ name: 'head.out', kernel: 1, in: outIn, out: image.channels * config.color_levels, mask: null }) };
  }

  private residualBlock(
    name: string,
    conv: (spec: ConvSpec) => Conv2D,
    bn: (name: string, c: number) => BatchNorm | null,
    bias: (name: string, c: number) => ClassBias | null,
  ): ResidualBlock {
    const h = this.config.hidden;
    const { kernel_size: k, mask } = this.config.blocks;
    return {
      conv1: conv({ name: `${name}.conv1`, kernel: 1, in: 2 * h, out: h, mask: null }),
      bn1: bn(`${name}.bn1`, h),
      conv2: conv({ name: `${name}.conv2`, kernel: k, in: h, out: h, mask }),
      bn2: bn(`${name}.bn2`, h),
      conv3: conv({ name: `${name}.conv3`, kernel: 1, in: h, out: 2 * h, mask: null }),
      bn3: bn(`${name}.bn3`, 2 * h),
      classBias: bias(name, h),
    };
  }

  /**
   * Logits [batch, height, width, channels * color_levels] for inputs [batch, height, width, channels]
   * in [0, 1]. `training` selects batch statistics (and updates the running ones) in batch norm.
   * `recompute` keeps only each block's input for the backward pass and recomputes the block
   * there: the same gradients for about a third more arithmetic and a fraction of the memory.
   * `labels`: one-hot class labels [batch, classes] (oneHotLabels), for a conditional model only.
   * `imageGradient`: the gradient with respect to the image is wanted (the receptive field);
   * training needs none, so the input conv skips it by default.
   */
  forward(x: tf.Tensor4D, training: boolean, recompute = false, labels: tf.Tensor2D | null = null, imageGradient = false): tf.Tensor4D {
    this.checkLabels(x, labels);
    let h = this.convNorm(this.input.conv, this.input.bn, x, training, true, imageGradient);
    for (const b of this.blocks) {
      if (recompute && training) h = this.recomputedBlock(b, labels)(h);
      else if (training) h = this.block(b, h, labels, true);
      // Inference keeps no tape: free each block's intermediates as soon as it is done.
      else h = tf.tidy(() => this.block(b, h, labels, false));
    }
    h = relu(h);
    for (const c of this.head.convs) h = relu(c.apply(h));
    return this.head.out.apply(h);
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

  private block(b: ResidualBlock, h: tf.Tensor4D, labels: tf.Tensor2D | null, training: boolean, updateStats = true): tf.Tensor4D {
    let y = this.convNorm(b.conv1, b.bn1, relu(h), training, updateStats);
    y = addClassBias(this.convNorm(b.conv2, b.bn2, relu(y), training, updateStats), b.classBias, labels);
    y = this.convNorm(b.conv3, b.bn3, relu(y), training, updateStats);
    return tf.add(h, y);
  }

  /** A conv and the batch norm after it, if any. */
  private convNorm(conv: Conv2D, bn: BatchNorm | null, x: tf.Tensor4D, training: boolean, updateStats: boolean, inputGradient = true): tf.Tensor4D {
    if (!bn) return conv.apply(x, inputGradient);
    return layerOps.maskedConvBatchNorm(x, conv, bn, { training, updateStats }, inputGradient);
  }

  /** A block whose backward pass recomputes it from its input; the rerun leaves the batch-norm statistics alone. */
  private recomputedBlock(b: ResidualBlock, labels: tf.Tensor2D | null): (h: tf.Tensor4D) => tf.Tensor4D {
    return recomputedInBackward((h) => this.block(b, h, labels, true), (h) => this.block(b, h, labels, true, false), this.blockVariables(b));
  }

  private blockVariables(b: ResidualBlock): tf.Variable[] {
    return [b.conv1, b.bn1, b.conv2, b.bn2, b.conv3, b.bn3, b.classBias].flatMap((l) => l?.variables() ?? []);
  }

  classBiases(): ClassBias[] {
    return this.blocks.flatMap((b) => (b.classBias ? [b.classBias] : []));
  }

  convs(): Conv2D[] {
    return [this.input.conv, ...this.blocks.flatMap((b) => [b.conv1, b.conv2, b.conv3]), ...this.head.convs, this.head.out];
  }

  norms(): BatchNorm[] {
    const all = [this.input.bn, ...this.blocks.flatMap((b) => [b.bn1, b.bn2, b.bn3])];
    return all.filter((b): b is BatchNorm => b !== null);
  }

  /** Trainable variables, in a fixed order. */
  trainable(): tf.Variable[] {
    // Class biases last, so an unconditional model's variables keep their order and names.
    return [...this.convs().flatMap((c) => c.variables()), ...this.norms().flatMap((b) => b.variables()), ...this.classBiases().flatMap((c) => c.variables())];
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
    return this.convs().reduce((n, c) => n + c.spec.kernel ** 2 * c.spec.in * c.spec.out * H * W, 0);
  }

  layerTable(): LayerRow[] {
    const { height: H, width: W } = this.image;
    const conv = (c: Conv2D, depth: number): LayerRow => ({
      name: c.spec.name,
      type: c.mask ? `masked conv ${c.spec.kernel}x${c.spec.kernel} (${c.spec.mask})` : `conv ${c.spec.kernel}x${c.spec.kernel}${c.spec.mask ? ` (${c.spec.mask})` : ''}`,
      outputShape: [H, W, c.spec.out],
      params: c.params(),
      depth,
    });
    const norm = (b: BatchNorm | null, c: number, depth: number): LayerRow[] =>
      b ? [{ name: b.name, type: 'batch norm', outputShape: [H, W, c], params: b.params(), depth }] : [];
    const rows: LayerRow[] = [conv(this.input.conv, 0), ...norm(this.input.bn, this.input.conv.spec.out, 0)];
    this.blocks.forEach((b, i) => {
      const inner = [
        conv(b.conv1, 1), ...norm(b.bn1, b.conv1.spec.out, 1),
        conv(b.conv2, 1), ...norm(b.bn2, b.conv2.spec.out, 1),
        conv(b.conv3, 1), ...norm(b.bn3, b.conv3.spec.out, 1),
        ...(b.classBias ? [{ name: b.classBias.name, type: `class bias (${b.classBias.classes} classes)`, outputShape: [H, W, b.classBias.channels], params: b.classBias.params(), depth: 1 }] : []),
      ];
      const params = inner.reduce((n, r) => n + r.params, 0);
      rows.push({ name: `blocks.${i}`, type: 'residual block', outputShape: [H, W, b.conv3.spec.out], params, depth: 0 }, ...inner);
    });
    for (const c of this.head.convs) rows.push(conv(c, 0));
    rows.push(conv(this.head.out, 0));
    return rows;
  }

  dispose(): void {
    for (const c of this.convs()) c.dispose();
    for (const b of this.norms()) b.dispose();
    for (const c of this.classBiases()) c.dispose();
  }
}
