// Registers the project's convolution-gradient kernels on a tfjs backend,
// keeping the stock ones so that they can be restored (tests, benchmarks) and
// used for the cases our formulation does not cover.
//
// Not a kernel, but the same kind of gap: tf.batchNorm's gradient throws unless
// both scale and offset are passed, so callers must always pass both.
import * as tf from '@tensorflow/tfjs';
import { backpropInputPads, filterGrad, inputGrad, unsupportedReason } from './conv-grads.js';
import { type Info, KernelCalls } from './kernel-calls.js';

type KernelArgs = Parameters<tf.KernelFunc>[0];
type KernelMaker = (backendName: string, stock: tf.KernelConfig | null) => tf.KernelFunc;

const MAKERS: Record<string, KernelMaker> = {
  Conv2DBackpropFilter: filterKernel,
  Conv2DBackpropInput: inputKernel,
};

/** Which kernels each backend gets: wasm lacks the filter gradient and has a slow input gradient; cpu's filter gradient is pathologically slow. */
export const PROJECT_KERNELS: Readonly<Record<string, readonly string[]>> = {
  wasm: ['Conv2DBackpropFilter', 'Conv2DBackpropInput'],
  cpu: ['Conv2DBackpropFilter'],
};

// `${backend}/${kernel}` → the stock config it replaced (null: there was none).
const replaced = new Map<string, tf.KernelConfig | null>();

/** Installs the project's kernels for a backend (idempotent); returns their names. */
export function installKernels(backendName: string): string[] {
  const names = [...(PROJECT_KERNELS[backendName] ?? [])];
  for (const kernelName of names) {
    const key = `${backendName}/${kernelName}`;
    if (replaced.has(key)) continue;
    const stock = tf.getKernel(kernelName, backendName) ?? null;
    if (stock != null) tf.unregisterKernel(kernelName, backendName);
    tf.registerKernel({ kernelName, backendName, kernelFunc: MAKERS[kernelName](backendName, stock) });
    replaced.set(key, stock);
  }
  return names;
}

/** Puts the stock kernels back (none, where the backend had none). */
export function uninstallKernels(backendName: string): void {
  for (const kernelName of PROJECT_KERNELS[backendName] ?? []) {
    const key = `${backendName}/${kernelName}`;
    if (!replaced.has(key)) continue;
    tf.unregisterKernel(kernelName, backendName);
    const stock = replaced.get(key);
    if (stock != null) restore(stock);
    replaced.delete(key);
  }
}

// A stock wasm kernel binds its C function to the module it was set up with;
// the running backend may be a newer one (e.g. after switching thread counts).
function restore(stock: tf.KernelConfig): void {
  tf.registerKernel(stock);
  const running = tf.engine().registry[stock.backendName];
  if (running != null) stock.setupFunc?.(running);
}

function convInfo(
  xShape: number[],
  filterShape: number[],
  attrs: tf.Conv2DBackpropFilterAttrs | tf.Conv2DBackpropInputAttrs,
): tf.backend_util.Conv2DInfo {
  const format = tf.backend_util.convertConv2DDataFormat(attrs.dataFormat);
  type Shape4 = [number, number, number, number];
  return tf.backend_util.computeConv2DInfo(
    xShape as Shape4, filterShape as Shape4, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, format);
}

function filterKernel(backendName: string, stock: tf.KernelConfig | null): tf.KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs as { x: Info; dy: Info };
    const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    const info = convInfo(x.shape, attrs.filterShape, attrs);
    const why = unsupportedReason(info);
    if (why != null) return fallback('Conv2DBackpropFilter', backendName, stock, why, args);
    return filterGrad(new KernelCalls(backendName, args.backend as tf.KernelBackend), x, dy, info);
  };
}

function inputKernel(backendName: string, stock: tf.KernelConfig | null): tf.KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs as { dy: Info; filter: Info };
    const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
    const info = convInfo(attrs.inputShape, filter.shape, attrs);
    const pads = backpropInputPads(info);
    const why = unsupportedReason(info) ?? (pads == null ? 'padding wider than the kernel' : null);
    if (why != null || pads == null) return fallback('Conv2DBackpropInput', backendName, stock, why ?? '', args);
    return inputGrad(new KernelCalls(backendName, args.backend as tf.KernelBackend), dy, filter, info, pads);
  };
}

// Strided or dilated convolutions go to the stock kernel where there is one.
function fallback(kernelName: string, backendName: string, stock: tf.KernelConfig | null, why: string, args: KernelArgs) {
  if (stock != null) return stock.kernelFunc(args);
  throw new Error(
    `pxl: ${kernelName} on the '${backendName}' backend supports only stride-1, undilated NHWC convolutions ` +
    `('same', 'valid' or explicit padding); this one has ${why}. Use stride 1 in the model, or another backend.`);
}
