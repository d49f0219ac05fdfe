// A gated PixelCNN one position at a time. Its horizontal stack reads the vertical stack's
// features one row down (PixelCNN.gatedBlock), and the vertical stack at row i reads only
// rows up to i: so when a row is finished the vertical stack of every block is computed for
// that whole row at once, and the horizontal stack then steps through the next row position
// by position, as the residual model does, reading the link from the row above.
import * as tf from '@tensorflow/tfjs';
import { tfjsPositionOps } from '../backend/position-ops.js';
import type { PixelCNN } from '../model/pixelcnn.js';
import { disposeFoldedGated, foldGatedModel, type FoldedGatedModel, type PositionConv } from './folded.js';
import { affine, DrawnImage } from './position.js';
import { TapCache } from './tap-cache.js';

export class GatedStepper {
  private readonly folded: FoldedGatedModel;
  private readonly drawn: DrawnImage;
  /** Per block: the rows of its vertical conv's input computed so far, [N, W, h] each. */
  private readonly verticalInputs: Map<number, tf.Tensor3D>[];
  /** Per block, per column: the link into the horizontal stack at the current row, [N, 2h]. */
  private links: tf.Tensor2D[][] = [];
  /** Per block: the input of its horizontal conv. */
  private readonly caches: TapCache<tf.Tensor>[];
  private row = -1;
  /** Per block of a conditional model: each image's class bias [N, 2h] for the vertical and the horizontal stack. */
  private readonly classBiases: { v: tf.Tensor2D; h: tf.Tensor2D }[] | null;

  constructor(
    private readonly model: PixelCNN,
    private readonly count: number,
    labels: tf.Tensor2D | null,
  ) {
    const blocks = model.gated!.blocks;
    this.classBiases = labels && blocks.every((b) => b.vClassBias && b.hClassBias)
      ? blocks.map((b) => ({ v: tf.keep(b.vClassBias!.rows(labels)), h: tf.keep(b.hClassBias!.rows(labels)) }))
      : null;
    labels?.dispose();
    this.folded = foldGatedModel(model);
    this.drawn = new DrawnImage(model.image, count, model.config.color_levels);
    this.verticalInputs = this.folded.blocks.map(() => new Map());
    this.caches = this.folded.blocks.map((b) => new TapCache(tfjsPositionOps, b.horizontal.taps, model.image.width, count, model.config.hidden));
  }

  async logitsAt(i: number, j: number): Promise<Float32Array> {
    if (i !== this.row) this.startRow(i);
    const out = tf.tidy(() => this.forwardAt(i, j));
    try {
      return (await out.data()) as Float32Array;
    } finally {
      out.dispose();
    }
  }

  setPixel(p: number, drawn: Int32Array): void {
    this.drawn.set(p, drawn);
  }

  dispose(): void {
    for (const c of this.caches) c.dispose();
    for (const rows of this.verticalInputs) tf.dispose([...rows.values()]);
    tf.dispose(this.links.flat());
    tf.dispose(this.classBiases?.flatMap((b) => [b.v, b.h]) ?? []);
    disposeFoldedGated(this.folded);
  }

  /**
   * Row i begins: the vertical stack of every block over row i - 1, now fully drawn, and its
   * features through each block's link (at row 0 the link reads zeros: its bias).
   */
  private startRow(i: number): void {
    const { width: W } = this.model.image;
    const N = this.count;
    const f = this.folded;
    tf.dispose(this.links.flat());
    this.row = i;
    const rows = tf.tidy(() => {
      const r = i - 1;
      if (r < 0) return f.blocks.map((b) => rowAffine(tf.zeros([N, W, b.link.weight.shape[0]]), b.link));
      const image = this.drawn.row(r);
      const imageRows = (row: number) => (row === r ? image : row >= 0 ? this.drawn.row(row) : null);
      let v = rowAffine(rowPatch(f.input.vertical, r, imageRows, image.shape), f.input.vertical);
      return f.blocks.map((b, k) => {
        this.remember(k, r, v);
        const rows = (row: number) => this.verticalInputs[k].get(row) ?? null;
        const features = rowAffine(rowPatch(b.vertical, r, rows, v.shape), b.vertical);
        // As in PixelCNN.gatedBlock: the class bias after the link has read the features, before the gate.
        const bias = this.classBiases?.[k].v;
        v = gate(bias ? (tf.add(features, tf.expandDims(bias, 1)) as tf.Tensor3D) : features);
        return rowAffine(features, b.link);
      });
    });
    // One tensor per column, split once per row rather than sliced at every position.
    this.links = rows.map((row) => tf.unstack(row, 1) as tf.Tensor2D[]);
    tf.dispose(rows);
  }

  /** Keeps row r of block k's vertical input, and drops the rows its taps can no longer reach. */
  private remember(k: number, r: number, v: tf.Tensor3D): void {
    const rows = this.verticalInputs[k];
    rows.set(r, tf.keep(v));
    const reach = Math.max(...this.folded.blocks[k].vertical.taps.map((t) => -t.dr));
    for (const [row, t] of rows) {
      if (row >= r - reach) continue;
      t.dispose();
      rows.delete(row);
    }
  }

  // Mirrors PixelCNN.gatedStacks and gatedBlock at one position, batch norm folded into each conv.
  private forwardAt(i: number, j: number): tf.Tensor2D {
    const f = this.folded;
    let h = affine(this.drawn.patch(f.input.horizontal.taps, i, j), f.input.horizontal, 'linear');
    let skips: tf.Tensor2D | null = null;
    for (const [k, b] of f.blocks.entries()) {
      const features = tf.add(affine(this.caches[k].gather(i, j, h) as tf.Tensor2D, b.horizontal, 'linear'), this.links[k][j]) as tf.Tensor2D;
      // As in PixelCNN.gatedBlock: the class bias before the gate.
      const bias = this.classBiases?.[k].h;
      const gated = gate(bias ? (tf.add(features, bias) as tf.Tensor2D) : features);
      h = tf.add(h, affine(gated, b.out, 'linear'));
      if (b.skip) {
        const skip = affine(gated, b.skip, 'linear');
        skips = skips ? (tf.add(skips, skip) as tf.Tensor2D) : skip;
      }
    }
    let x = tf.relu(skips ? (tf.add(h, skips) as tf.Tensor2D) : h);
    for (const c of f.head) x = affine(x, c, 'relu');
    return affine(x, f.out, 'linear'); // [N, C * L]: the same layout as [N * C, L]
  }
}

/** tanh(a) ⊙ sigmoid(b) over the two halves of the last axis. */
function gate<T extends tf.Tensor>(x: T): T {
  const [a, b] = tf.split(x, 2, x.rank - 1);
  return tf.mul(tf.tanh(a), tf.sigmoid(b));
}

/** A folded conv over a whole row: x [N, W, taps * in] -> [N, W, out]. */
function rowAffine(x: tf.Tensor3D, conv: PositionConv): tf.Tensor3D {
  const [N, W] = x.shape;
  return tf.reshape(affine(tf.reshape(x, [N * W, -1]) as tf.Tensor2D, conv, 'linear'), [N, W, -1]);
}

/**
 * The vertical conv's patch for every position of row r, [N, W, taps * in]: for each tap
 * (dr, dc), row r + dr of its input moved dc columns, zeros outside the image.
 */
function rowPatch(conv: PositionConv, r: number, rows: (row: number) => tf.Tensor3D | null, shape: number[]): tf.Tensor3D {
  const [N, W, C] = shape;
  const parts = conv.taps.map((t) => {
    const source = r + t.dr >= 0 ? rows(r + t.dr) : null;
    if (!source) return tf.zeros([N, W, C]) as tf.Tensor3D;
    if (t.dc === 0) return source;
    if (Math.abs(t.dc) >= W) return tf.zeros([N, W, C]) as tf.Tensor3D;
    // Output column j reads column j + dc.
    return t.dc > 0
      ? tf.pad(tf.slice(source, [0, t.dc, 0], [N, W - t.dc, C]), [[0, 0], [0, t.dc], [0, 0]])
      : tf.pad(tf.slice(source, [0, 0, 0], [N, W + t.dc, C]), [[0, 0], [-t.dc, 0], [0, 0]]);
  });
  return tf.concat(parts, 2);
}
