// A PixelCNN's size from its config alone: the layers, their parameters, the arithmetic of a
// forward pass and the memory of a training step, without allocating a single weight. This is
// what lets `pxl inspect` describe a model of any size and `pxl run` refuse one that cannot fit
// before it tries. It mirrors the layout PixelCNN builds (pixelcnn.ts); a test checks the two agree.
import type { ModelConfig } from '../config/types.js';
import { groupsOf } from './channel-groups.js';
import { conditioningClasses } from './conditioning.js';
import { stackWindow, type StackConvSpec } from './layers.js';
import { outputsPerPixel } from './output.js';
import { dropoutType, stackConvType, type ImageShape, type LayerRow } from './pixelcnn.js';

/** float32 everywhere. */
export const BYTES_PER_FLOAT = 4;

interface ConvLayer {
  kind: 'conv';
  name: string;
  kernel: number;
  in: number;
  out: number;
  mask: 'A' | 'B' | null;
  /** Masked by channel group at the centre tap (colour images). */
  ordered: boolean;
  depth: number;
}

interface NormLayer {
  kind: 'norm';
  name: string;
  channels: number;
  depth: number;
}

/** A gated model's vertical or horizontal conv: a rows x cols kernel, the horizontal one masked by channel group when ordered. */
interface StackLayer {
  kind: 'stack';
  spec: StackConvSpec;
  rows: number;
  cols: number;
  ordered: boolean;
  depth: number;
}

/** The gates of a gated block: no parameters, shown in the table. */
interface GateLayer {
  kind: 'gates';
  name: string;
  channels: number;
  depth: number;
}

/** A block's learned bias per class (conditioning.ts). */
interface BiasLayer {
  kind: 'bias';
  name: string;
  classes: number;
  channels: number;
  depth: number;
}

/** Dropout on a block's features (model.dropout): no parameters; its mask is kept for the backward pass. */
interface DropoutLayer {
  kind: 'dropout';
  name: string;
  rate: number;
  channels: number;
  depth: number;
}

type Layer = ConvLayer | NormLayer | StackLayer | GateLayer | BiasLayer | DropoutLayer;

interface Block {
  name: string;
  type: 'residual block' | 'gated block';
  layers: Layer[];
}

interface Layout {
  input: Layer[];
  blocks: Block[];
  head: Layer[];
}

/** The layers PixelCNN's constructor creates, in the same order and with the same names. */
function layout(config: ModelConfig, image: ImageShape): Layout {
  const h = config.hidden;
  const ordered = groupsOf(image.channels).ordered;
  const conv = (name: string, kernel: number, cin: number, out: number, mask: 'A' | 'B' | null, depth: number): ConvLayer => ({ kind: 'conv', name, kernel, in: cin, out, mask, ordered, depth });
  const norm = (name: string, channels: number, depth: number): NormLayer[] => (config.batch_norm ? [{ kind: 'norm', name, channels, depth }] : []);
  const drop = (block: string, channels: number): DropoutLayer[] => (config.dropout > 0 ? [{ kind: 'dropout', name: `${block}.dropout`, rate: config.dropout, channels, depth: 1 }] : []);
  // Colour images mask the 1x1 convs by channel group too (mask B), except a gated block's link (PixelCNN).
  const pointwise = ordered ? 'B' : null;
  if (config.blocks.type === 'gated') return gatedLayout(config, image, conv, norm, drop, pointwise);
  const input = [conv('input.conv', config.input.kernel_size, image.channels, 2 * h, config.input.mask, 0), ...norm('input.bn', 2 * h, 0)];
  const { kernel_size: k, mask } = config.blocks;
  const classes = conditioningClasses(config);
  const bias = (name: string, channels: number): BiasLayer[] => (classes ? [{ kind: 'bias', name: `${name}.class_bias`, classes, channels, depth: 1 }] : []);
  const blocks = Array.from({ length: config.blocks.count }, (_, i): Block => {
    const n = `blocks.${i}`;
    return {
      name: n,
      type: 'residual block',
      layers: [
        conv(`${n}.conv1`, 1, 2 * h, h, pointwise, 1), ...norm(`${n}.bn1`, h, 1),
        conv(`${n}.conv2`, k, h, h, mask, 1), ...norm(`${n}.bn2`, h, 1),
        ...drop(n, h),
        conv(`${n}.conv3`, 1, h, 2 * h, pointwise, 1), ...norm(`${n}.bn3`, 2 * h, 1),
        ...bias(n, h),
      ],
    };
  });
  return { input, blocks, head: headLayers(config, image, 2 * h, conv, pointwise) };
}

type ConvFn = (name: string, kernel: number, cin: number, out: number, mask: 'A' | 'B' | null, depth: number) => ConvLayer;
type NormFn = (name: string, channels: number, depth: number) => NormLayer[];
type DropFn = (block: string, channels: number) => DropoutLayer[];

/** The head's 1x1 convs from the `stream` channels the blocks leave, and the output conv (its outputs per pixel: output.ts). */
function headLayers(config: ModelConfig, image: ImageShape, stream: number, conv: ConvFn, pointwise: 'B' | null): Layer[] {
  const h = config.hidden;
  const head: Layer[] = [];
  for (let i = 0; i < config.head.convs; i++) head.push(conv(`head.conv${i + 1}`, 1, i === 0 ? stream : h, h, config.head.mask, 0));
  head.push(conv('head.out', 1, config.head.convs > 0 ? h : stream, outputsPerPixel(config, image.channels), pointwise, 0));
  return head;
}

/** PixelCNN.gatedLayers: the stacks' first layer, the gated blocks, the head over h channels. */
function gatedLayout(config: ModelConfig, image: ImageShape, conv: ConvFn, norm: NormFn, drop: DropFn, pointwise: 'B' | null): Layout {
  const h = config.hidden;
  const g = groupsOf(image.channels);
  const stack = (spec: StackConvSpec, depth: number): StackLayer => ({ kind: 'stack', spec, ...stackWindow(spec), ordered: g.ordered, depth });
  const k0 = config.input.kernel_size;
  const C = image.channels;
  const input: Layer[] = [
    stack({ name: 'input.vertical', stack: 'vertical', kernel: k0, dilation: 1, mask: null, in: C, out: h }, 0), ...norm('input.vbn', h, 0),
    stack({ name: 'input.horizontal', stack: 'horizontal', kernel: k0, dilation: 1, mask: config.input.mask, in: C, out: h, groups: g(1, 1) }, 0), ...norm('input.hbn', h, 0),
  ];
  const { kernel_size: k, mask, dilations, skip_connections: skips } = config.blocks;
  const classes = conditioningClasses(config);
  const bias = (name: string, channels: number): BiasLayer[] => (classes ? [{ kind: 'bias', name: `${name}.class_bias`, classes, channels, depth: 1 }] : []);
  const blocks = Array.from({ length: config.blocks.count }, (_, i): Block => {
    const n = `blocks.${i}`;
    const dilation = dilations?.[i] ?? 1;
    return {
      name: n,
      type: 'gated block',
      layers: [
        stack({ name: `${n}.vertical`, stack: 'vertical', kernel: k, dilation, mask: null, in: h, out: 2 * h }, 1), ...norm(`${n}.vbn`, 2 * h, 1),
        stack({ name: `${n}.horizontal`, stack: 'horizontal', kernel: k, dilation, mask, in: h, out: 2 * h, groups: g(1, 2) }, 1), ...norm(`${n}.hbn`, 2 * h, 1),
        conv(`${n}.link`, 1, 2 * h, 2 * h, null, 1),
        { kind: 'gates', name: `${n}.gates`, channels: h, depth: 1 },
        ...drop(n, h),
        conv(`${n}.out`, 1, h, h, pointwise, 1), ...norm(`${n}.obn`, h, 1),
        ...(skips ? [conv(`${n}.skip`, 1, h, h, pointwise, 1)] : []),
        ...bias(`${n}.vertical`, 2 * h), ...bias(`${n}.horizontal`, 2 * h),
      ],
    };
  });
  return { input, blocks, head: headLayers(config, image, h, conv, pointwise) };
}

/** Taps x in x out of a conv's kernel (masked taps included). */
const kernelSize = (l: ConvLayer | StackLayer): number =>
  l.kind === 'conv' ? l.kernel * l.kernel * l.in * l.out : l.rows * l.cols * l.spec.in * l.spec.out;

/** Trainable parameters: a conv's kernel and bias, a batch norm's gamma and beta, a class bias's table. */
function params(l: Layer): number {
  if (l.kind === 'conv') return kernelSize(l) + l.out;
  if (l.kind === 'stack') return kernelSize(l) + l.spec.out;
  if (l.kind === 'bias') return l.classes * l.channels;
  return l.kind === 'norm' ? 2 * l.channels : 0;
}

/** A 1x1 mask-B conv of one channel group masks nothing, so PixelCNN keeps no mask for it (layers.ts). */
const hasMask = (l: ConvLayer): boolean => l.mask !== null && !(l.kernel === 1 && l.mask === 'B' && !l.ordered);

const channelsOut = (l: Layer): number => (l.kind === 'conv' ? l.out : l.kind === 'stack' ? l.spec.out : l.channels);

function row(l: Layer, image: ImageShape): LayerRow {
  const outputShape = [image.height, image.width, channelsOut(l)];
  if (l.kind === 'norm') return { name: l.name, type: 'batch norm', outputShape, params: params(l), depth: l.depth };
  if (l.kind === 'gates') return { name: l.name, type: 'gates tanh x sigmoid', outputShape, params: 0, depth: l.depth };
  if (l.kind === 'dropout') return { name: l.name, type: dropoutType(l.rate), outputShape, params: 0, depth: l.depth };
  if (l.kind === 'stack') return { name: l.spec.name, type: stackConvType(l.spec, l.rows, l.cols), outputShape, params: params(l), depth: l.depth };
  if (l.kind === 'bias') return { name: l.name, type: `class bias (${l.classes} classes)`, outputShape, params: params(l), depth: l.depth };
  const k = `${l.kernel}x${l.kernel}`;
  const type = hasMask(l) ? `masked conv ${k} (${l.mask})` : `conv ${k}${l.mask ? ` (${l.mask})` : ''}`;
  return { name: l.name, type, outputShape, params: params(l), depth: l.depth };
}

const allLayers = (m: Layout): Layer[] => [...m.input, ...m.blocks.flatMap((b) => b.layers), ...m.head];
const convLayers = (m: Layout): ConvLayer[] => allLayers(m).filter((l): l is ConvLayer => l.kind === 'conv');
const kernelLayers = (m: Layout): (ConvLayer | StackLayer)[] => allLayers(m).filter((l): l is ConvLayer | StackLayer => l.kind === 'conv' || l.kind === 'stack');
const normLayers = (m: Layout): NormLayer[] => allLayers(m).filter((l): l is NormLayer => l.kind === 'norm');

/** The rows of `pxl inspect`, the same as PixelCNN.layerTable(). */
export function layerTable(config: ModelConfig, image: ImageShape): LayerRow[] {
  const m = layout(config, image);
  const rows = m.input.map((l) => row(l, image));
  for (const b of m.blocks) {
    const inner = b.layers.map((l) => row(l, image));
    // What the block hands on: the residual stream (its last conv's channels), or the horizontal stack (its output conv's).
    const last = b.type === 'gated block' ? b.layers.find((l) => l.kind === 'conv' && l.name.endsWith('.out'))! : b.layers.filter((l) => l.kind === 'conv').at(-1)!;
    rows.push({ name: b.name, type: b.type, outputShape: [image.height, image.width, channelsOut(last)], params: inner.reduce((n, r) => n + r.params, 0), depth: 0 }, ...inner);
  }
  rows.push(...m.head.map((l) => row(l, image)));
  return rows;
}

/** Trainable parameters, the same as PixelCNN.paramCount(). */
export function paramCount(config: ModelConfig, image: ImageShape): number {
  return allLayers(layout(config, image)).reduce((n, l) => n + params(l), 0);
}

/** Multiply-adds of one forward pass per image, masked taps included: PixelCNN.macsPerImage(). */
export function macsPerImage(config: ModelConfig, image: ImageShape): number {
  return kernelLayers(layout(config, image)).reduce((n, c) => n + kernelSize(c) * image.height * image.width, 0);
}

/** Extra values an optimizer keeps per parameter: Adam's two moments, RMSProp's two accumulators, momentum's one. */
export function optimizerSlots(o: { name: string; momentum?: number }): number {
  if (o.name === 'adam' || o.name === 'rmsprop') return 2;
  return o.name === 'sgd' && (o.momentum ?? 0) > 0 ? 1 : 0;
}

/** Bytes of a training step that must exist at once, as a floor: what the arithmetic forces. */
export interface StepFloor {
  params: number;
  /** Weights, their gradients, the optimizer's slots, the masks and batch-norm running statistics. */
  fixedBytes: number;
  /** Activations kept for the backward pass, per image in the batch. */
  perImageBytes: number;
}

/**
 * A lower bound on a training step's memory. Fixed: each parameter with its gradient and
 * optimizer slots, each mask, the batch-norm running mean and variance. Per image: every
 * conv and batch-norm output the backward pass needs, plus the logits' softmax; recomputing
 * blocks keeps only each block's input and one block's activations at a time. Temporaries,
 * relu outputs and allocator slack come on top, so the real step needs more (memory.ts measures it).
 */
export function trainingStepFloor(config: ModelConfig, image: ImageShape, slots: number, recompute: boolean): StepFloor {
  const m = layout(config, image);
  const p = allLayers(m).reduce((n, l) => n + params(l), 0);
  const stackMasks = kernelLayers(m).filter((l) => l.kind === 'stack' && l.spec.stack === 'horizontal' && l.ordered).reduce((n, l) => n + kernelSize(l), 0);
  const masks = convLayers(m).filter(hasMask).reduce((n, c) => n + c.kernel ** 2 * c.in * c.out, 0) + stackMasks;
  const bnStats = normLayers(m).reduce((n, b) => n + 2 * b.channels, 0);
  const pixels = image.height * image.width;
  const outputs = (ls: Layer[]): number => ls.reduce((n, l) => n + pixels * channelsOut(l), 0);
  const logits = pixels * outputsPerPixel(config, image.channels);
  const blockActs = m.blocks.map((b) => outputs(b.layers));
  // Only residual blocks are recomputed (PixelCNN.forward).
  const blocks = recompute && m.blocks.length > 0 && config.blocks.type === 'residual'
    ? m.blocks.length * pixels * 2 * config.hidden + Math.max(...blockActs)
    : blockActs.reduce((a, b) => a + b, 0);
  const perImage = outputs(m.input) + blocks + outputs(m.head) + logits;
  return {
    params: p,
    fixedBytes: BYTES_PER_FLOAT * (p * (2 + slots) + masks + bnStats),
    perImageBytes: BYTES_PER_FLOAT * perImage,
  };
}
