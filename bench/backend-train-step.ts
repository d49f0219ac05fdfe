// A small PixelCNN training step for the backend benchmark: masked 7x7 input
// conv, residual blocks (1x1 down, masked 3x3, 1x1 up), 256-way softmax
// cross-entropy, Adam. Masked convs are kernel*mask, as the model builder does.
import * as tf from '@tensorflow/tfjs';

export interface StepModel {
  step(): number;
  dispose(): void;
  /** Multiply-accumulates of the model's convolutions for one forward pass. */
  forwardMacs: number;
}

/** PixelCNN mask: taps above the centre row, and left of the centre (inclusive for type B). */
function mask(k: number, ci: number, co: number, type: 'A' | 'B'): tf.Tensor4D {
  const values = new Float32Array(k * k * ci * co);
  const c = (k - 1) / 2;
  for (let i = 0; i < k; i++)
    for (let j = 0; j < k; j++) {
      const open = i < c || (i === c && (j < c || (type === 'B' && j === c)));
      if (open) values.fill(1, (i * k + j) * ci * co, (i * k + j + 1) * ci * co);
    }
  return tf.tensor4d(values, [k, k, ci, co]);
}

interface Conv {
  w: tf.Variable;
  b: tf.Variable;
  mask: tf.Tensor4D | null;
  k: number;
}

function conv(k: number, ci: number, co: number, maskType: 'A' | 'B' | null): Conv {
  const w = tf.variable(tf.randomNormal([k, k, ci, co], 0, Math.sqrt(2 / (k * k * ci)), 'float32', 7));
  return { w, b: tf.variable(tf.zeros([co])), mask: maskType ? mask(k, ci, co, maskType) : null, k };
}

function apply(layer: Conv, x: tf.Tensor4D): tf.Tensor4D {
  const filter = (layer.mask ? tf.mul(layer.w, layer.mask) : layer.w) as tf.Tensor4D;
  return tf.add(tf.conv2d(x, filter, 1, 'same'), layer.b);
}

/**
 * 'tf' is tf.losses.softmaxCrossEntropy, which runs exp over all logits three
 * times per step, and wasm's Exp is scalar and slow (about 50 ms for
 * 32x28x28x256 logits); 'fused' runs it once and keeps the softmax for the
 * gradient. (tf.logSumExp would be worse: its max's gradient is a slow Equal.)
 */
export type LossKind = 'tf' | 'fused';

function crossEntropy(kind: LossKind, labels: tf.Tensor2D, logits: tf.Tensor2D): tf.Scalar {
  if (kind === 'tf') return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
  return fusedCrossEntropy(labels)(logits);
}

/** Mean softmax cross-entropy with gradient (softmax - labels) / rows. */
function fusedCrossEntropy(labels: tf.Tensor2D) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [logits, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const shifted = tf.sub(logits, tf.max(logits, 1, true));
    const expd = tf.exp(shifted);
    const total = tf.sum(expd, 1, true);
    const probs = tf.div(expd, total);
    save([probs]);
    const perRow = tf.sub(tf.log(tf.reshape(total, [-1])), tf.sum(tf.mul(labels, shifted), 1));
    return {
      value: tf.mean(perRow) as tf.Scalar,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(tf.sub(saved[0], labels), tf.div(dy, labels.shape[0])),
    };
  }) as (logits: tf.Tensor2D) => tf.Scalar;
}

export function buildStepModel(blocks: number, h: number, batch: number, loss: LossKind, size = 28): StepModel {
  const input = conv(7, 1, 2 * h, 'A');
  const res = Array.from({ length: blocks }, () => [conv(1, 2 * h, h, null), conv(3, h, h, 'B'), conv(1, h, 2 * h, null)]);
  const out = conv(1, 2 * h, 256, null);
  const layers = [input, ...res.flat(), out];
  const optimizer = tf.train.adam(1e-3);
  const pixels = tf.randomUniform([batch, size, size, 1], 0, 256, 'int32', 11);
  const x = tf.div(tf.cast(pixels, 'float32'), 255) as tf.Tensor4D;
  const labels = tf.oneHot(tf.reshape(pixels, [-1]), 256) as tf.Tensor2D;
  const objective = () => {
    let hidden = apply(input, x);
    for (const [down, mid, up] of res) {
      const r = apply(up, tf.relu(apply(mid, tf.relu(apply(down, tf.relu(hidden))))));
      hidden = tf.add(hidden, r);
    }
    return crossEntropy(loss, labels, tf.reshape(apply(out, tf.relu(hidden)), [-1, 256]));
  };
  const pixelsPerBatch = batch * size * size;
  return {
    step: () => tf.tidy(() => optimizer.minimize(objective, true)!.dataSync()[0]),
    dispose: () => {
      tf.dispose([pixels, x, labels, ...layers.flatMap((l) => [l.w, l.b, ...(l.mask ? [l.mask] : [])])]);
      optimizer.dispose();
    },
    forwardMacs: layers.reduce((sum, l) => sum + pixelsPerBatch * l.w.size, 0),
  };
}

/** Median wall and CPU time of a training step after warm-up, in ms. */
export function timeSteps(model: StepModel, warmup: number, steps: number, cpuClock: () => number) {
  const losses: number[] = [];
  for (let i = 0; i < warmup; i++) losses.push(model.step());
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < steps; i++) {
    const [w, c] = [performance.now(), cpuClock()];
    losses.push(model.step());
    wall.push(performance.now() - w);
    cpu.push(cpuClock() - c);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { wallMs: median(wall), cpuMs: median(cpu), firstLoss: losses[0], lastLoss: losses[losses.length - 1] };
}
