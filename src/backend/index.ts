// backend/: the compute backends and the layer ops the model asks for, with their fast paths.
//
// The compute-backend layer: pick and start a tfjs backend, report on all of them,
// fill the gradient-kernel gaps of the wasm and cpu backends, and compute the model's
// layers (layer-ops.ts: the model asks for an op, the backend picks how to run it). One gap it
// cannot fill: tf.batchNorm's gradient throws unless scale and offset are both
// passed, so model code must always pass both.
export { initBackend } from './select.js';
export { formatGpuReport, formatProbes, probeBackends } from './probe.js';
export { installKernels, uninstallKernels } from './kernels.js';
export {
  BACKEND_ORDER, type BackendFallback, type BackendInfo, type BackendName, type BackendOptions, type BackendProbe,
  type BackendRequest,
  BackendUnavailableError, type GpuProbes, type GpuReport,
} from './types.js';
