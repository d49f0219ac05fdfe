// Releases each intermediate gradient of a backward pass as soon as it has been used.
//
// tfjs's backward pass (tape.ts, backpropagateGradients) keeps every node's output
// gradient until the whole pass ends, so a training step holds a second copy of the
// network's activations at its peak. Each output gradient is consumed by exactly one
// tape node, and the pass visits nodes one at a time in reverse order: when a node's
// gradient function is called, the gradients handed to the previous one are no longer
// needed. tfjs has no hook for this, so the engine's addTapeNode is wrapped to wrap each
// node's gradient function; tfjs is pinned exactly, and a test compares gradients and
// peak memory with and without this.
import * as tf from '@tensorflow/tfjs';

interface TapeNode {
  gradient?: (dys: (tf.Tensor | null)[]) => unknown;
}

interface EngineInternals {
  addTapeNode: (...args: unknown[]) => void;
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  pxlFrugalBackprop?: { original: (...args: unknown[]) => void };
}

const engine = () => tf.engine() as unknown as EngineInternals;

export function installFrugalBackprop(): void {
  const e = engine();
  if (e.pxlFrugalBackprop) return;
  const original = e.addTapeNode;
  let used: tf.Tensor[] = [];
  e.pxlFrugalBackprop = { original };
  e.addTapeNode = function (this: EngineInternals, ...args: unknown[]) {
    original.apply(this, args);
    const tape = this.state.activeTape;
    const node = tape?.[tape.length - 1];
    const gradient = node?.gradient;
    if (!node || !gradient) return;
    node.gradient = (dys) => {
      for (const t of used) t.dispose(); // the previous node is done with them
      used = [];
      const result = gradient(dys);
      // Only in a plain (first-order) backward pass is the visiting order guaranteed.
      if (e.state.gradientDepth <= 1) used = dys.filter((d): d is tf.Tensor => d !== null);
      return result;
    };
  };
}

/**
 * Runs a nested gradient computation from inside a backward pass (a recomputed block's
 * gradient function). tfjs would start the nested pass on a fresh tape and end it by
 * clearing the active tape, which the outer pass still needs at its own end: keep it aside.
 */
export function withOwnTape<T>(fn: () => T): T {
  const e = engine();
  const outer = e.state.activeTape;
  try {
    return fn();
  } finally {
    e.state.activeTape = outer;
  }
}

/**
 * `f` as one taped op that keeps only its input for the backward pass and runs `again` (f,
 * perhaps without side effects such as batch-norm statistics) there to get the gradients with
 * respect to the input and `vars`: the same gradients for more arithmetic and less memory.
 */
export function recomputedInBackward(
  f: (x: tf.Tensor4D) => tf.Tensor4D,
  again: (x: tf.Tensor4D) => tf.Tensor4D,
  vars: tf.Variable[],
): (x: tf.Tensor4D) => tf.Tensor4D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor4D;
    const save = args[args.length - 1] as tf.GradSaveFunc;
    save([x]);
    return {
      value: f(x),
      gradFunc: (dy: tf.Tensor, [input]: tf.Tensor[]) =>
        withOwnTape(() => tf.grads((xx: tf.Tensor) => tf.sum(tf.mul(again(xx as tf.Tensor4D), dy)))([input, ...vars])),
    };
  }) as (...inputs: tf.Tensor[]) => tf.Tensor4D;
  return (x) => op(x, ...vars);
}

export function uninstallFrugalBackprop(): void {
  const e = engine();
  if (!e.pxlFrugalBackprop) return;
  e.addTapeNode = e.pxlFrugalBackprop.original;
  delete e.pxlFrugalBackprop;
}
