// TensorFlow's own fused training ops, for the native backend ('tensorflow': tfjs-node).
//
// tfjs composes a training step from small generic kernels: a relu's gradient is five
// full-size kernels (Step: IsNan, Greater, Fill, Select, then a Multiply), batch norm is
// a dozen, the softmax cross-entropy ten. TensorFlow has one op for each of them
// (ReluGrad, FusedBatchNormV3 and FusedBatchNormGradV3, SparseSoftmaxCrossEntropyWithLogits);
// and pxl's convs call Conv2D and its backprop ops directly, with their own gradient, to
// skip the kernel rows a mask zeroes (native-layer-ops.ts). They are registered here as
// tfjs kernels under pxl's own names, for the 'tensorflow' backend only, so they run
// through the engine like any kernel (scopes, tf.profile, tensor counts); layer-ops.ts
// checks `nativeOps(part)` and keeps the generic maths for every other backend.
// test/backend/native-ops.test.ts compares each with it.
import * as tf from '@tensorflow/tfjs';

/** What tfjs-node's binding to TensorFlow's eager API returns for an op's output. */
export interface EagerTensor {
  id: number;
  shape: number[];
  dtype: number;
}

/** The parts of tfjs-node's NodeJSKernelBackend used here and in native-position-ops.ts. */
export interface NodeBackend {
  binding: {
    TF_ATTR_INT: number; TF_ATTR_FLOAT: number; TF_ATTR_BOOL: number; TF_ATTR_STRING: number; TF_ATTR_TYPE: number; TF_FLOAT: number; TF_INT32: number;
    executeOp(name: string, attrs: OpAttr[], inputs: number[], numOutputs: number): EagerTensor[];
    createTensor(shape: number[], dtype: number, values: Float32Array | Int32Array): number;
    deleteTensor(id: number): void;
    tensorDataSync(id: number): Float32Array | Int32Array | Uint8Array;
  };
  executeSingleOutput(name: string, attrs: OpAttr[], inputs: tf.TensorInfo[]): tf.Tensor;
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: tf.TensorInfo[], numOutputs: number): tf.Tensor[];
}

export interface OpAttr {
  name: string;
  type: number;
  value: boolean | number | string | number[];
}

type Padding = 'SAME' | 'VALID';

const BACKEND = 'tensorflow';

function float(b: NodeBackend, name = 'T'): OpAttr {
  return { name, type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT };
}

function convAttrs(b: NodeBackend, padding: Padding, dilation = 1): OpAttr[] {
  return [
    float(b),
    { name: 'strides', type: b.binding.TF_ATTR_INT, value: [1, 1, 1, 1] },
    { name: 'use_cudnn_on_gpu', type: b.binding.TF_ATTR_BOOL, value: true },
    { name: 'padding', type: b.binding.TF_ATTR_STRING, value: padding },
    { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'dilations', type: b.binding.TF_ATTR_INT, value: [1, dilation, dilation, 1] },
  ];
}

/** `averageFactor`: only for the forward op (its running-statistics momentum); the gradient op has no such attribute. */
function batchNormAttrs(b: NodeBackend, epsilon: number, training: boolean, averageFactor?: number, format = 'NHWC'): OpAttr[] {
  const attrs: OpAttr[] = [
    float(b),
    float(b, 'U'),
    { name: 'epsilon', type: b.binding.TF_ATTR_FLOAT, value: epsilon },
    { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: format },
    { name: 'is_training', type: b.binding.TF_ATTR_BOOL, value: training },
  ];
  if (averageFactor !== undefined) attrs.push({ name: 'exponential_avg_factor', type: b.binding.TF_ATTR_FLOAT, value: averageFactor });
  return attrs;
}

/** Runs `op` with `shape` as the int32 tensor TensorFlow's backprop ops take it as. */
function withSizes(shape: number[], op: (sizes: tf.Tensor) => tf.Tensor): tf.Tensor {
  const sizes = tf.tensor1d(shape, 'int32');
  try {
    return op(sizes);
  } finally {
    sizes.dispose();
  }
}

/** Kernels: name → (backend, inputs, attrs) → outputs. */
type Inputs = Record<string, tf.TensorInfo>;

const KERNELS: Record<string, (b: NodeBackend, inputs: Inputs, attrs: tf.NamedAttrMap) => tf.Tensor | tf.Tensor[]> = {
  PxlReluGrad: (b, { dy, y }) => b.executeSingleOutput('ReluGrad', [float(b)], [dy, y]),
  PxlConv2D: (b, { x, filter }, { padding, dilation }) => b.executeSingleOutput('Conv2D', convAttrs(b, padding as Padding, dilation as number), [x, filter]),
  PxlConv2DBackpropInput: (b, { dy, filter }, { inputShape, padding, dilation }) =>
    withSizes(inputShape as number[], (sizes) => b.executeSingleOutput('Conv2DBackpropInput', convAttrs(b, padding as Padding, dilation as number), [sizes, filter, dy])),
  PxlConv2DBackpropFilter: (b, { x, dy }, { filterShape, padding, dilation }) =>
    withSizes(filterShape as number[], (sizes) => b.executeSingleOutput('Conv2DBackpropFilter', convAttrs(b, padding as Padding, dilation as number), [x, sizes, dy])),
  // The gate's gradient from its outputs: dy (1 - y^2) and dy y (1 - y), one kernel each.
  PxlTanhGrad: (b, { y, dy }) => b.executeSingleOutput('TanhGrad', [float(b)], [y, dy]),
  PxlSigmoidGrad: (b, { y, dy }) => b.executeSingleOutput('SigmoidGrad', [float(b)], [y, dy]),
  // Outputs: y, updated running mean, updated running variance, and three saved tensors for the gradient.
  // The batch statistics come from TensorFlow's Eigen kernel, not oneDNN's: given a 5-D
  // tensor (NDHWC, depth 1) the eager oneDNN rewrite leaves the op alone. oneDNN sums them
  // less precisely, and a PixelCNN's gradients magnify that about a hundredfold through the
  // batch-norm layers (bench/peer/grad-agreement.ts: 6e-3 against float64 with oneDNN's
  // statistics, 2.6e-3 with Eigen's, 2.9e-3 for tfjs's generic maths), for 5 % of a step.
  PxlBatchNormTraining: (b, { x, scale, offset, mean, variance }, { epsilon, momentum }) => {
    const [n, h, w, c] = x.shape;
    const x5 = tf.reshape(x as tf.Tensor, [n, 1, h, w, c]);
    const out = b.executeMultipleOutputs('FusedBatchNormV3', batchNormAttrs(b, epsilon as number, true, momentum as number, 'NDHWC'), [x5, scale, offset, mean, variance], 6);
    x5.dispose();
    const y = tf.reshape(out[0], x.shape);
    out[0].dispose();
    return [y, ...out.slice(1)];
  },
  // Outputs: dx, dscale, doffset (oneDNN: as precise as the generic maths here, and fast).
  PxlBatchNormGrad: (b, { dy, x, scale, saved1, saved2, saved3 }, { epsilon }) => {
    const out = b.executeMultipleOutputs('FusedBatchNormGradV3', batchNormAttrs(b, epsilon as number, true), [dy, x, scale, saved1, saved2, saved3], 5);
    tf.dispose(out.slice(3));
    return out.slice(0, 3);
  },
  PxlBatchNormInference: (b, { x, scale, offset, mean, variance }, { epsilon }) => {
    const out = b.executeMultipleOutputs('FusedBatchNormV3', batchNormAttrs(b, epsilon as number, false, 1), [x, scale, offset, mean, variance], 6);
    tf.dispose(out.slice(1));
    return out[0];
  },
  // Outputs: the loss per row and its gradient softmax - onehot.
  PxlSparseSoftmaxCrossEntropy: (b, { logits, labels }) =>
    b.executeMultipleOutputs('SparseSoftmaxCrossEntropyWithLogits', [float(b), { name: 'Tlabels', type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_INT32 }], [logits, labels], 2),
};

let registered = false;

function register(): void {
  if (registered) return;
  for (const [kernelName, run] of Object.entries(KERNELS)) {
    if (tf.getKernel(kernelName, BACKEND) != null) continue;
    tf.registerKernel({
      kernelName,
      backendName: BACKEND,
      kernelFunc: ({ inputs, attrs, backend }) => run(backend as unknown as NodeBackend, inputs as Inputs, attrs ?? {}) as tf.TensorInfo | tf.TensorInfo[],
    });
  }
  registered = true;
}

/**
 * Where the native ops are used: relu's gradient, batch norm, convs, the loss, the gated
 * blocks' gate; whether masked convs skip the kernel rows below the centre (convRows; else
 * they run all k rows), and whether a conv followed by batch norm leaves its bias to the
 * batch norm (biasFold); and whether the cached sampler's per-position ops call TensorFlow
 * directly (position, native-position-ops.ts).
 */
export type NativePart = 'relu' | 'batchNorm' | 'conv' | 'convRows' | 'biasFold' | 'loss' | 'gate' | 'position';
const ALL_PARTS: NativePart[] = ['relu', 'batchNorm', 'conv', 'convRows', 'biasFold', 'loss', 'gate', 'position'];
const enabled = new Set<NativePart>(ALL_PARTS);

/** Turns all native ops off (true) or back on: for tests and benchmarks that compare both paths. */
export function disableNativeOps(off: boolean): void {
  setNativeParts(off ? [] : ALL_PARTS);
}

/** Uses the native ops for these parts only (benchmarks measure each one's effect). */
export function setNativeParts(parts: readonly NativePart[]): void {
  enabled.clear();
  for (const p of parts) enabled.add(p);
}

export const nativeParts = (): NativePart[] => ALL_PARTS.filter((p) => enabled.has(p));

/** The fused ops, when the current backend is native TensorFlow (and `part` is on); null otherwise. */
export function nativeOps(part: NativePart): NativeOps | null {
  if (!enabled.has(part) || tf.getBackend() !== BACKEND) return null;
  register();
  return OPS;
}

/** tfjs-node's backend, when it is the current one (and `part` is on); null otherwise. */
export function nativeBackend(part: NativePart): NodeBackend | null {
  if (!enabled.has(part) || tf.getBackend() !== BACKEND) return null;
  return tf.backend() as unknown as NodeBackend;
}

const run = (name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown> = {}) =>
  tf.engine().runKernel(name, inputs as tf.NamedTensorMap, attrs as tf.NamedAttrMap);

export interface BatchNormTraining {
  y: tf.Tensor4D;
  runningMean: tf.Tensor1D;
  runningVar: tf.Tensor1D;
  saved: tf.Tensor[];
}

const OPS = {
  /** dy where y > 0, else 0: the gradient of y = relu(x), from its output. */
  reluGrad: (dy: tf.Tensor, y: tf.Tensor): tf.Tensor => run('PxlReluGrad', { dy, y }) as tf.Tensor,

  /** A stride-1 NHWC conv, 'SAME' or 'VALID', its taps `dilation` apart. */
  conv2d: (x: tf.Tensor4D, filter: tf.Tensor4D, padding: Padding, dilation = 1): tf.Tensor4D => run('PxlConv2D', { x, filter }, { padding, dilation }) as tf.Tensor4D,

  conv2dBackpropInput: (inputShape: number[], dy: tf.Tensor4D, filter: tf.Tensor4D, padding: Padding, dilation = 1): tf.Tensor4D =>
    run('PxlConv2DBackpropInput', { dy, filter }, { inputShape, padding, dilation }) as tf.Tensor4D,

  conv2dBackpropFilter: (x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: number[], padding: Padding, dilation = 1): tf.Tensor4D =>
    run('PxlConv2DBackpropFilter', { x, dy }, { filterShape, padding, dilation }) as tf.Tensor4D,

  /** dy (1 - y^2): the gradient of y = tanh(x), from its output. */
  tanhGrad: (y: tf.Tensor, dy: tf.Tensor): tf.Tensor => run('PxlTanhGrad', { y, dy }) as tf.Tensor,

  /** dy y (1 - y): the gradient of y = sigmoid(x), from its output. */
  sigmoidGrad: (y: tf.Tensor, dy: tf.Tensor): tf.Tensor => run('PxlSigmoidGrad', { y, dy }) as tf.Tensor,

  /**
   * Batch norm with the batch's statistics; the running ones come back updated with
   * `momentum` (PyTorch's convention: new = (1 - m) old + m batch, unbiased variance).
   */
  batchNormTraining(x: tf.Tensor4D, scale: tf.Tensor, offset: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, epsilon: number, momentum: number): BatchNormTraining {
    const [y, runningMean, runningVar, ...saved] = run('PxlBatchNormTraining', { x, scale, offset, mean, variance }, { epsilon, momentum }) as tf.Tensor[];
    return { y: y as tf.Tensor4D, runningMean: runningMean as tf.Tensor1D, runningVar: runningVar as tf.Tensor1D, saved };
  },

  /** [dx, dscale, doffset] from the forward pass's input and saved tensors. */
  batchNormGrad: (dy: tf.Tensor, x: tf.Tensor, scale: tf.Tensor, saved: tf.Tensor[], epsilon: number): tf.Tensor[] =>
    run('PxlBatchNormGrad', { dy, x, scale, saved1: saved[0], saved2: saved[1], saved3: saved[2] }, { epsilon }) as tf.Tensor[],

  batchNormInference: (x: tf.Tensor4D, scale: tf.Tensor, offset: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, epsilon: number): tf.Tensor4D =>
    run('PxlBatchNormInference', { x, scale, offset, mean, variance }, { epsilon }) as tf.Tensor4D,

  /** Per row of logits [n, levels] and int32 labels [n]: [-log softmax[label] (n), softmax - onehot (n, levels)]. */
  sparseSoftmaxCrossEntropy: (logits: tf.Tensor2D, labels: tf.Tensor1D): [tf.Tensor1D, tf.Tensor2D] =>
    run('PxlSparseSoftmaxCrossEntropy', { logits, labels }) as [tf.Tensor1D, tf.Tensor2D],
};

export type NativeOps = typeof OPS;
