// The model rewritten for one position at a time: every conv becomes one matrix over the
// taps its mask keeps, with inference-mode batch norm (an affine map per channel) folded
// into that matrix and its bias. The cached sampler runs these instead of the graph.
import * as tf from '@tensorflow/tfjs';
import type { MaskType } from '../config/types.js';
import { BatchNorm, byGroup, stackWindow, type Conv2D, type StackConv } from '../model/layers.js';
import { spatialMask } from '../model/masks.js';
import type { PixelCNN } from '../model/pixelcnn.js';

/** A kernel tap as an offset from the output position; causal: dr < 0, or dr = 0 and dc <= 0. */
export interface Tap {
  dr: number;
  dc: number;
}

/** One conv at one position: output [N, out] = concat(input at each tap) [N, taps * in] × weight + bias. */
export interface PositionConv {
  name: string;
  taps: Tap[];
  weight: tf.Tensor2D;
  bias: tf.Tensor1D;
}

/** C: how each conv is held (the tfjs tensors of the fold, or the position ops' copies of them). */
export interface FoldedBlock<C = PositionConv> {
  conv1: C;
  conv2: C;
  conv3: C;
}

export interface FoldedModel<C = PositionConv> {
  input: C;
  blocks: FoldedBlock<C>[];
  head: C[];
  out: C;
}

/** The same model with `fn` applied to each conv. */
export function mapFolded<C, D>(f: FoldedModel<C>, fn: (c: C) => D): FoldedModel<D> {
  return {
    input: fn(f.input),
    blocks: f.blocks.map((b) => ({ conv1: fn(b.conv1), conv2: fn(b.conv2), conv3: fn(b.conv3) })),
    head: f.head.map(fn),
    out: fn(f.out),
  };
}

/** Every conv of the model, input first. */
export function foldedConvs<C>(f: FoldedModel<C>): C[] {
  return [f.input, ...f.blocks.flatMap((b) => [b.conv1, b.conv2, b.conv3]), ...f.head, f.out];
}

/** A gated block at one position: each stack's conv (batch norm folded in), the link, the output and skip convs. */
export interface FoldedGatedBlock {
  vertical: PositionConv;
  horizontal: PositionConv;
  link: PositionConv;
  out: PositionConv;
  skip: PositionConv | null;
}

export interface FoldedGatedModel {
  input: { vertical: PositionConv; horizontal: PositionConv };
  blocks: FoldedGatedBlock[];
  head: PositionConv[];
  out: PositionConv;
}

/** Folds every conv (and the batch norm after it) of a residual `model`; the caller disposes the result. */
export function foldModel(model: PixelCNN): FoldedModel {
  if (!model.input) throw new Error('foldModel folds residual models; a gated model is folded by foldGatedModel');
  return {
    input: foldConv(model.input.conv, model.input.bn),
    blocks: model.blocks.map((b) => ({ conv1: foldConv(b.conv1, b.bn1), conv2: foldConv(b.conv2, b.bn2), conv3: foldConv(b.conv3, b.bn3) })),
    head: model.head.convs.map((c) => foldConv(c, null)),
    out: foldConv(model.head.out, null),
  };
}

export function disposeFolded(f: FoldedModel): void {
  for (const c of foldedConvs(f)) tf.dispose([c.weight, c.bias]);
}

/** Folds every conv of a gated `model`, as foldModel does; the caller disposes the result. */
export function foldGatedModel(model: PixelCNN): FoldedGatedModel {
  if (!model.gated) throw new Error('foldGatedModel folds gated models');
  const { input, blocks } = model.gated;
  return {
    input: { vertical: foldStackConv(input.vertical, input.vbn), horizontal: foldStackConv(input.horizontal, input.hbn) },
    blocks: blocks.map((b) => ({
      vertical: foldStackConv(b.vertical, b.vbn),
      horizontal: foldStackConv(b.horizontal, b.hbn),
      link: foldConv(b.link, null),
      out: foldConv(b.out, b.obn),
      skip: b.skip ? foldConv(b.skip, null) : null,
    })),
    head: model.head.convs.map((c) => foldConv(c, null)),
    out: foldConv(model.head.out, null),
  };
}

export function disposeFoldedGated(f: FoldedGatedModel): void {
  const convs = [f.input.vertical, f.input.horizontal, ...f.blocks.flatMap((b) => [b.vertical, b.horizontal, b.link, b.out, ...(b.skip ? [b.skip] : [])]), ...f.head, f.out];
  for (const c of convs) tf.dispose([c.weight, c.bias]);
}

/** A stack conv's taps: every tap of its kernel, `dilation` apart, placed by its anchor; row-major like its weight. */
export function stackTaps(conv: StackConv): Tap[] {
  const { rows, cols, anchorRow, anchorCol } = stackWindow(conv.spec);
  const d = conv.spec.dilation;
  const taps: Tap[] = [];
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) taps.push({ dr: d * (r - anchorRow), dc: d * (c - anchorCol) });
  return taps;
}

function foldStackConv(conv: StackConv, bn: BatchNorm | null): PositionConv {
  const taps = stackTaps(conv);
  const { in: cin, out: cout } = conv.spec;
  const [weight, bias] = tf.tidy(() => foldNorm(tf.reshape(conv.kernel(), [taps.length * cin, cout]) as tf.Tensor2D, conv.bias, bn));
  return { name: conv.spec.name, taps, weight, bias };
}

/** weight [taps * in, out] and bias with an inference-mode batch norm after them folded in. */
function foldNorm(w: tf.Tensor2D, bias: tf.Tensor, bn: BatchNorm | null): [tf.Tensor2D, tf.Tensor1D] {
  // A copy of the bias, so that disposing the fold leaves the model's variable intact.
  if (!bn) return [tf.clone(w), tf.clone(bias) as tf.Tensor1D];
  // bn(x) = (x - mean) * scale + beta, scale = gamma / sqrt(var + eps), as BatchNorm computes it.
  const scale = tf.mul(bn.gamma, tf.rsqrt(tf.add(bn.runningVar, BatchNorm.epsilon)));
  const b = tf.add(tf.mul(tf.sub(bias, bn.runningMean), scale), bn.beta) as tf.Tensor1D;
  return [tf.mul(w, scale) as tf.Tensor2D, b];
}

/**
 * The taps a kxk conv reads, in raster order. A 1x1 conv reads the current position
 * whatever its mask: a mask-A 1x1 kernel is all zeros and the product is then its bias.
 * With channel groups (`ordered`) mask A keeps the centre too: later channels read earlier ones there.
 */
export function keptTaps(k: number, mask: MaskType | null, name: string, ordered = false): Tap[] {
  if (k === 1) return [{ dr: 0, dc: 0 }];
  if (mask === null) throw new Error(`${name}: an unmasked ${k}x${k} conv sees later pixels, so it cannot be sampled pixel by pixel`);
  const m = spatialMask(k, ordered ? 'B' : mask);
  const c = Math.floor(k / 2);
  const taps: Tap[] = [];
  for (let t = 0; t < k * k; t++) if (m[t] === 1) taps.push({ dr: Math.floor(t / k) - c, dc: (t % k) - c });
  return taps;
}

function foldConv(conv: Conv2D, bn: BatchNorm | null): PositionConv {
  const { name, kernel: k, in: cin, out: cout, mask } = conv.spec;
  const taps = keptTaps(k, mask, name, byGroup(conv.spec.groups));
  const c = Math.floor(k / 2);
  const [weight, bias] = tf.tidy(() => {
    const rows = taps.map((t) => (t.dr + c) * k + (t.dc + c));
    const kept = tf.gather(tf.reshape(conv.kernel(), [k * k, cin * cout]), rows);
    return foldNorm(tf.reshape(kept, [taps.length * cin, cout]) as tf.Tensor2D, conv.bias, bn);
  });
  return { name, taps, weight, bias };
}
