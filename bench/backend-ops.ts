// Counts the ops a piece of code runs on the backend. On native TensorFlow ('tensorflow') it
// counts the calls into TensorFlow's eager API (tfjs-node's binding.executeOp) and times them,
// whoever makes them: tfjs's kernels and pxl's direct calls alike; the time outside them is
// JavaScript (tfjs's engine, pxl, the draws). On other backends it counts tfjs's kernels with
// tf.profile.
import * as tf from '@tensorflow/tfjs';

export interface OpCount {
  ops: number;
  /** Milliseconds inside TensorFlow's op calls (native backend only; null elsewhere). */
  opMs: number | null;
  /** Ops by name, most first. */
  byName: [string, number][];
}

interface Binding {
  executeOp(...args: unknown[]): unknown;
}

export async function countBackendOps(fn: () => Promise<unknown>): Promise<OpCount> {
  const backend = tf.backend() as unknown as { binding?: Binding };
  const names = new Map<string, number>();
  const byName = () => [...names].sort((a, b) => b[1] - a[1]);
  if (tf.getBackend() !== 'tensorflow' || !backend.binding) {
    const info = await tf.profile(async () => {
      await fn();
    });
    for (const k of info.kernels) names.set(k.name, (names.get(k.name) ?? 0) + 1);
    return { ops: info.kernels.length, opMs: null, byName: byName() };
  }
  const binding = backend.binding;
  let ops = 0;
  let opMs = 0;
  // The binding's functions are read-only properties of a native object: count through an object that inherits them.
  const counting = Object.create(binding) as Binding;
  Object.defineProperty(counting, 'executeOp', {
    value: (...args: unknown[]) => {
      const t0 = performance.now();
      try {
        return binding.executeOp(...args);
      } finally {
        opMs += performance.now() - t0;
        ops += 1;
        names.set(String(args[0]), (names.get(String(args[0])) ?? 0) + 1);
      }
    },
  });
  backend.binding = counting;
  try {
    await fn();
  } finally {
    backend.binding = binding;
  }
  return { ops, opMs, byName: byName() };
}
