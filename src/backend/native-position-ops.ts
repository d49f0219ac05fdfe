// The cached sampler's per-position ops on native TensorFlow, called on TensorFlow's eager
// API through tfjs-node's binding, past tfjs's engine. A position of the seed model is about
// 170 ops on matrices of 64 rows; through tfjs each op cost 25 to 30 us of CPU on top of its
// own few microseconds (kernel lookup, scopes, tensor records), and tf.fused.matMul added three
// reshapes and a nested tidy. Here a conv at one position is BatchMatMulV2, BiasAdd and Relu
// (or, with a residual or class bias to add, BatchMatMulV2 and one AddN), and the matrices
// are TensorFlow tensor ids, freed by the sampler or by tidy.
// (TensorFlow's MatMul, oneDNN's sgemm, spends less CPU per product but took three times the
// wall time on a loaded 2-core machine, and corrupted the heap when run under node --cpu-prof;
// BatchMatMulV2, oneDNN's matmul primitive, as tfjs calls it, does neither.)
import * as tf from '@tensorflow/tfjs';
import type { EagerTensor, NodeBackend, OpAttr } from './native-ops.js';
import type { PositionActivation, PositionAffine, PositionOps } from './position-ops.js';

type Id = number;

export class NativePositionOps implements PositionOps<Id> {
  readonly name = 'tensorflow eager';
  private readonly binding: NodeBackend['binding'];
  /** The ids made inside each open tidy, innermost last. */
  private readonly scopes: Set<Id>[] = [];
  private readonly float: OpAttr;
  private readonly biasAddAttrs: OpAttr[];
  private readonly matMulAttrs: OpAttr[];
  /** ConcatV2's axis: 1, the channels. */
  private axis: Id | null = null;
  /** Biases repeated over the rows, for AddN (which does not broadcast); freed by release(). */
  private readonly biasRows = new Map<string, Id>();

  constructor(backend: NodeBackend) {
    const b = backend.binding;
    this.binding = b;
    this.float = { name: 'T', type: b.TF_ATTR_TYPE, value: b.TF_FLOAT };
    this.matMulAttrs = [this.float, { name: 'adj_x', type: b.TF_ATTR_BOOL, value: false }, { name: 'adj_y', type: b.TF_ATTR_BOOL, value: false }];
    this.biasAddAttrs = [this.float, { name: 'data_format', type: b.TF_ATTR_STRING, value: 'NHWC' }];
  }

  matrix(values: Float32Array, rows: number, cols: number): Id {
    if (values.length !== rows * cols) throw new Error(`position ops: ${values.length} values for a ${rows}x${cols} matrix`);
    return this.made(this.binding.createTensor([rows, cols], this.binding.TF_FLOAT, values));
  }

  constant(t: tf.Tensor): Id {
    // A copy: dataSync may hand back the array the tensor was made from, and the binding lends TensorFlow that memory.
    return this.binding.createTensor(t.shape, this.binding.TF_FLOAT, (t.dataSync() as Float32Array).slice());
  }

  affine(x: Id, conv: PositionAffine<Id>, activation: PositionActivation, addend?: Id): Id {
    const [product] = this.binding.executeOp('BatchMatMulV2', this.matMulAttrs, [x, conv.weight], 1);
    // With an addend, one AddN of the product, the bias as rows and the addend, summed in that order as tfjs sums them.
    const biased = addend === undefined
      ? this.op('BiasAdd', this.biasAddAttrs, [product.id, conv.bias])
      : this.op('AddN', [{ name: 'N', type: this.binding.TF_ATTR_INT, value: 3 }, this.float], [product.id, this.rows(conv.bias, product.shape), addend]);
    this.binding.deleteTensor(product.id);
    if (activation === 'linear') return this.made(biased);
    const y = this.op('Relu', [this.float], [biased]);
    this.binding.deleteTensor(biased);
    return this.made(y);
  }

  relu(x: Id): Id {
    return this.made(this.op('Relu', [this.float], [x]));
  }

  add(a: Id, b: Id): Id {
    return this.made(this.op('AddV2', [this.float], [a, b]));
  }

  concat(parts: Id[]): Id {
    if (parts.length === 1) return this.made(this.op('Identity', [this.float], parts));
    this.axis ??= this.binding.createTensor([], this.binding.TF_INT32, new Int32Array([1]));
    const attrs: OpAttr[] = [
      { name: 'N', type: this.binding.TF_ATTR_INT, value: parts.length },
      this.float,
      { name: 'Tidx', type: this.binding.TF_ATTR_TYPE, value: this.binding.TF_INT32 },
    ];
    return this.made(this.op('ConcatV2', attrs, [...parts, this.axis]));
  }

  async read(x: Id): Promise<Float32Array> {
    return this.binding.tensorDataSync(x) as Float32Array;
  }

  tidy<R extends Id | Id[]>(fn: () => R): R {
    const scope = new Set<Id>();
    this.scopes.push(scope);
    let result: R;
    try {
      result = fn();
    } finally {
      this.scopes.pop();
      const kept = new Set<Id>(typeof result! === 'number' ? [result] : (result! ?? []));
      for (const id of scope) if (!kept.has(id)) this.binding.deleteTensor(id);
      // What fn returns belongs to the enclosing tidy, as in tf.tidy.
      for (const id of kept) if (scope.has(id)) this.scopes.at(-1)?.add(id);
    }
    return result;
  }

  keep(x: Id): Id {
    for (const s of this.scopes) s.delete(x);
    return x;
  }

  dispose(x: Id | Id[]): void {
    for (const id of typeof x === 'number' ? [x] : x) {
      this.keep(id);
      this.binding.deleteTensor(id);
    }
  }

  release(): void {
    if (this.axis !== null) this.binding.deleteTensor(this.axis);
    this.axis = null;
    for (const id of this.biasRows.values()) this.binding.deleteTensor(id);
    this.biasRows.clear();
  }

  /** `bias` [out] repeated into `shape` [N, out], made once per bias and shape. */
  private rows(bias: Id, shape: number[]): Id {
    const key = `${bias} ${shape.join('x')}`;
    let rows = this.biasRows.get(key);
    if (rows === undefined) {
      const dims = this.binding.createTensor([shape.length], this.binding.TF_INT32, Int32Array.from(shape));
      rows = this.op('BroadcastTo', [this.float, { name: 'Tidx', type: this.binding.TF_ATTR_TYPE, value: this.binding.TF_INT32 }], [bias, dims]);
      this.binding.deleteTensor(dims);
      this.biasRows.set(key, rows);
    }
    return rows;
  }

  private op(name: string, attrs: OpAttr[], inputs: Id[]): Id {
    const [out] = this.binding.executeOp(name, attrs, inputs, 1) as EagerTensor[];
    return out.id;
  }

  /** Records a new id in the innermost tidy. */
  private made(id: Id): Id {
    this.scopes.at(-1)?.add(id);
    return id;
  }
}
