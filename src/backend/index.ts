// The compute-backend layer: pick and start a tfjs backend, report on all of them,
// and fill the gradient-kernel gaps of the wasm and cpu backends.
export { initBackend } from './select.js';
export { formatProbes, probeBackends } from './probe.js';
export { installKernels, uninstallKernels } from './kernels.js';
export {
  BACKEND_ORDER, type BackendFallback, type BackendInfo, type BackendName, type BackendOptions, type BackendProbe,
  type BackendRequest,
  BackendUnavailableError,
} from './types.js';
