// The compute-backend layer: pick and start a tfjs backend, report on all of them,
// and fill the gradient-kernel gaps of the wasm and cpu backends. One gap it
// cannot fill: tf.batchNorm's gradient throws unless scale and offset are both
// passed, so model code must always pass both.
export { initBackend } from './select.js';
export { formatProbes, probeBackends } from './probe.js';
export { installKernels, uninstallKernels } from './kernels.js';
export {
  BACKEND_ORDER, type BackendFallback, type BackendInfo, type BackendName, type BackendOptions, type BackendProbe,
  type BackendRequest,
  BackendUnavailableError,
} from './types.js';
