// Adam over all variables at once. tf.train.adam updates each variable on its own with
// about a dozen small ops (a seed-model step: 190 variables, about 2,500 ops, most of them
// on tensors of a few hundred numbers, where the cost per op is all overhead). This one
// keeps both moments as one flat vector each and updates every variable with about a dozen
// ops in all, plus a reshape, a concat and a split per step for the variables.
//
// The arithmetic is tf.train.adam's, op for op and in the same order (epsilon added to the
// square root), so the updates agree with it to float rounding; test/train/adam.test.ts
// checks that. One deliberate difference: the bias-correction powers beta^t are computed
// from the step count t at every step (float32 of beta^t), where tf.train.adam keeps a
// running float32 product during training but restores it with a power: the two differ
// in the last bit at some steps (beta2 = 0.999: t = 3, 6, 19, ...), so a run resumed
// there took another path than the uninterrupted one. A power of t at every step makes
// training and restoring one computation, and resuming from any step exact.
//
// getWeights/setWeights read and write tf.train.adam's layout (the iteration count, then
// each variable's first moment `name/m`, then each second moment `name/v`), so checkpoints
// are interchangeable: the iteration count is all the powers need.
import * as tf from '@tensorflow/tfjs';

/** tfjs's { name, tensor } pair for optimizer weights (not exported by @tensorflow/tfjs). */
type NamedTensor = { name: string; tensor: tf.Tensor };

export class FusedAdam extends tf.Optimizer {
  /** The class name checkpoints record: the same as tf.train.adam's, as the state is the same. */
  static get className(): string {
    return 'Adam';
  }

  /** Variable names in update order, their shapes and sizes; fixed at the first update or by setWeights. */
  private names: string[] | null = null;
  /** Set by setWeights until the next update, which matches the state to the variables by position. */
  private restored = false;
  private shapes: number[][] = [];
  private sizes: number[] = [];
  private m: tf.Variable | null = null;
  private v: tf.Variable | null = null;
  /** The tensors getWeights handed out (the iteration count, per-variable moments), freed at the next call. */
  private views: tf.Tensor[] = [];

  constructor(
    /** The next update's rate: the trainer sets it at every step from the schedule. */
    public learningRate: number,
    readonly beta1: number,
    readonly beta2: number,
    readonly epsilon: number,
    /** Decoupled weight decay (AdamW): each update first multiplies the weights by 1 - learningRate * weightDecay. */
    readonly weightDecay = 0,
  ) {
    super();
  }

  applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const entries: [string, tf.Tensor][] = Array.isArray(variableGradients)
      ? variableGradients.map((g) => [g.name, g.tensor])
      : Object.entries(variableGradients);
    const names = entries.map(([name]) => name);
    const vars = names.map(variable);
    if (this.names == null) this.layout(names, vars.map((v) => v.shape));
    else if (this.restored) {
      // State from setWeights belongs to the variables by position, as in tf.train.adam
      // (a resumed model's variables have new global names): check the shapes.
      const same = vars.length === this.shapes.length && vars.every((v, i) => v.shape.join('x') === this.shapes[i].join('x'));
      if (!same) throw new Error(`FusedAdam: the restored state holds ${this.shapes.length} variables that do not match the ${vars.length} being trained, in order and shape`);
      this.names = names;
    } else if (names.length !== this.names.length || names.some((n, i) => n !== this.names![i])) {
      throw new Error(`FusedAdam: the gradients name ${names.length} variables, not the ${this.names.length} it was set up for, in the same order`);
    }
    this.restored = false;
    const t = this.iterations + 1; // this update's step number, restored or not
    const oneMinusAcc1 = Math.fround(1 - power(this.beta1, t));
    const oneMinusAcc2 = Math.fround(1 - power(this.beta2, t));
    tf.tidy(() => {
      const g = flat(entries.map(([, grad]) => grad));
      const m = tf.add(tf.mul(this.m!, this.beta1), tf.mul(g, 1 - this.beta1));
      const v = tf.add(tf.mul(this.v!, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
      this.m!.assign(m);
      this.v!.assign(v);
      const mHat = tf.div(m, tf.scalar(oneMinusAcc1));
      const vHat = tf.div(v, tf.scalar(oneMinusAcc2));
      const step = tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), this.epsilon)), -this.learningRate);
      const weights = flat(vars);
      // AdamW's decay acts on the weights alone, never through the moments; 0 leaves Adam's arithmetic as it was.
      const decayed = this.weightDecay > 0 ? tf.mul(weights, Math.fround(1 - this.learningRate * this.weightDecay)) : weights;
      const updated = tf.add(step, decayed);
      const parts = vars.length === 1 ? [updated] : tf.split(updated, this.sizes);
      parts.forEach((p, i) => vars[i].assign(p.rank === this.shapes[i].length ? p : tf.reshape(p, this.shapes[i])));
    });
    this.incrementIterations();
  }

  private layout(names: string[], shapes: number[][]): void {
    this.names = names;
    this.shapes = shapes;
    this.sizes = shapes.map((s) => s.reduce((a, b) => a * b, 1));
    const total = this.sizes.reduce((a, b) => a + b, 0);
    this.m?.dispose();
    this.v?.dispose();
    this.m = tf.variable(tf.zeros([total]), false);
    this.v = tf.variable(tf.zeros([total]), false);
  }

  override dispose(): void {
    super.dispose();
    tf.dispose([...this.views, ...(this.m ? [this.m] : []), ...(this.v ? [this.v] : [])]);
    this.views = [];
    this.m = null;
    this.v = null;
  }

  override async getWeights(): Promise<NamedTensor[]> {
    tf.dispose(this.views);
    this.views = [];
    const iter = await this.saveIterations();
    this.views = [iter.tensor];
    if (this.names == null) return [iter];
    const split = (whole: tf.Tensor, suffix: string) =>
      tf.tidy(() => (this.names!.length === 1 ? [whole.clone()] : tf.split(whole, this.sizes)).map((p, i) => tf.keep(tf.reshape(p, this.shapes[i]))))
        .map((tensor, i) => ({ name: `${this.names![i]}/${suffix}`, tensor }));
    const moments = [...split(this.m!, 'm'), ...split(this.v!, 'v')];
    this.views.push(...moments.map((w) => w.tensor));
    return [iter, ...moments];
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    const count = rest.length / 2;
    if (!Number.isInteger(count)) throw new Error(`FusedAdam.setWeights: expected first and second moments in pairs, got ${rest.length} tensors`);
    const names = rest.slice(0, count).map((w) => w.name.replace(/\/m$/, ''));
    this.layout(names, rest.slice(0, count).map((w) => w.tensor.shape));
    this.restored = true;
    tf.tidy(() => {
      this.m!.assign(flat(rest.slice(0, count).map((w) => w.tensor)));
      this.v!.assign(flat(rest.slice(count).map((w) => w.tensor)));
    });
  }

  getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, weightDecay: this.weightDecay };
  }
}

/**
 * beta^t in float32, a function of t alone: computed in JavaScript (one correctly rounded
 * double power, then float32), so it is the same on every backend and in every session.
 */
export function power(beta: number, t: number): number {
  return Math.fround(Math.pow(Math.fround(beta), t));
}

function variable(name: string): tf.Variable {
  const v = tf.engine().registeredVariables[name];
  if (!v) throw new Error(`FusedAdam: no variable named ${name}`);
  return v;
}

/** The tensors flattened and joined end to end (one reshape per tensor of rank above 1, one concat). */
function flat(tensors: tf.Tensor[]): tf.Tensor1D {
  const rows = tensors.map((t) => (t.rank === 1 ? t : tf.reshape(t, [-1])));
  return (rows.length === 1 ? rows[0] : tf.concat(rows)) as tf.Tensor1D;
}
