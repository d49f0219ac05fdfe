// Whether the native-backend (tfjs-node) tests run. PXL_NATIVE=0 skips them on a machine
// that cannot build the backend; in CI, which installs it (CI set, or PXL_REQUIRE_NATIVE=1
// as .ci/run sets), they always run, so a missing backend fails them instead of hiding.
type Env = Record<string, string | undefined>;

/** CI=true (or 1, or any value but false/0), or PXL_REQUIRE_NATIVE=1. */
export function nativeRequired(env: Env = process.env): boolean {
  const ci = (env.CI ?? '').trim().toLowerCase();
  return (ci !== '' && ci !== 'false' && ci !== '0') || env.PXL_REQUIRE_NATIVE === '1';
}

export function skipNative(env: Env = process.env): boolean {
  return env.PXL_NATIVE === '0' && !nativeRequired(env);
}

/** What a native test says when tfjs-node is missing, in and out of CI. */
export function nativeMissingAdvice(env: Env = process.env): string {
  return nativeRequired(env)
    ? 'CI installs the native backend (npm run setup:native), so its tests must run here'
    : 'set it up with `npm run setup:native` (docs/native-backend.md), or set PXL_NATIVE=0 to skip these tests';
}

/** TensorFlow tensors alive in tfjs-node's binding (the native position ops make them outside tfjs's count), given tf.backend(); 0 on other backends. */
export function liveNativeTensors(backend: unknown): number {
  return (backend as { getNumOfTFTensors?: () => number }).getNumOfTFTensors?.() ?? 0;
}
