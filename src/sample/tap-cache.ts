// What a masked conv reads when the image is generated one position at a time: the
// activations of its input at the kept taps, from rows computed earlier and from the
// current row up to the current position. Only the rows the taps can still reach are kept.
import type { PositionOps } from '../backend/position-ops.js';
import type { Tap } from './folded.js';

/** T: a matrix of `ops`. */
export class TapCache<T> {
  /** Row index -> one [N, channels] matrix per column computed so far. */
  private readonly rows = new Map<number, T[]>();
  private readonly zeros: T;
  private readonly reach: number;
  private readonly passThrough: boolean;

  constructor(
    private readonly ops: PositionOps<T>,
    private readonly taps: Tap[],
    private readonly width: number,
    count: number,
    channels: number,
  ) {
    this.reach = Math.max(0, ...taps.map((t) => -t.dr));
    this.passThrough = taps.length === 1 && taps[0].dr === 0 && taps[0].dc === 0;
    // 'same' padding: taps outside the image read zeros.
    this.zeros = ops.keep(ops.matrix(new Float32Array(count * channels), count, channels));
  }

  /**
   * Records `current`, the input at (i, j), and returns the conv's input there as
   * [N, taps * channels], taps in the order of the folded weight's rows. Positions
   * must come in raster order (the same position again replaces what it recorded). Call inside the ops' tidy: the returned matrix is the caller's.
   */
  gather(i: number, j: number, current: T): T {
    if (this.passThrough) return current; // a 1x1 conv needs nothing from other positions
    this.store(i, j, current);
    return this.ops.concat(this.taps.map((t) => this.at(i + t.dr, j + t.dc)));
  }

  dispose(): void {
    for (const row of this.rows.values()) this.ops.dispose(row);
    this.rows.clear();
    this.ops.dispose(this.zeros);
  }

  private store(i: number, j: number, current: T): void {
    let row = this.rows.get(i);
    if (!row) {
      this.evictAbove(i - this.reach);
      row = [];
      this.rows.set(i, row);
    }
    // A colour model computes a position again for each channel drawn there: the latest wins.
    if (row.length === j + 1) this.ops.dispose([row.pop()!]);
    if (row.length !== j) throw new Error(`TapCache: position (${i}, ${j}) out of raster order`);
    row.push(this.ops.keep(current));
  }

  private evictAbove(first: number): void {
    for (const [r, row] of this.rows) {
      if (r >= first) continue;
      this.ops.dispose(row);
      this.rows.delete(r);
    }
  }

  private at(i: number, j: number): T {
    if (i < 0 || j < 0 || j >= this.width) return this.zeros;
    const t = this.rows.get(i)?.[j];
    if (!t) throw new Error(`TapCache: position (${i}, ${j}) is read before it was computed (a tap that is not causal)`);
    return t;
  }
}
