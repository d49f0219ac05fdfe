// Seeded, serialisable randomness for data order, sampling draws and weight init.
// The generator is pure-rand's xoroshiro128plus (pinned exactly, so its sequence is
// stable); it works on 32-bit integer arithmetic only, so results are identical on
// every platform. Its state is four int32s, cheap to put in a checkpoint.
import { createHash } from 'node:crypto';
import { xoroshiro128plus, xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import type { JumpableRandomGenerator } from 'pure-rand/types/JumpableRandomGenerator';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';

export const RNG_ALGORITHM = 'xoroshiro128plus';

/** JSON-serialisable generator state; `restoreRng` continues the exact sequence. */
export interface RngState {
  algorithm: typeof RNG_ALGORITHM;
  state: [number, number, number, number];
}

/** Anything indexable and writable: plain arrays and typed arrays. */
export interface MutableArrayLike<T> {
  readonly length: number;
  [index: number]: T;
}

export class Rng {
  constructor(private readonly gen: JumpableRandomGenerator) {}

  /** Uniform float in [0, 1), 53 random bits. */
  next(): number {
    return uniformFloat64(this.gen);
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`Rng.int: n must be a positive integer, got ${n}`);
    return uniformInt(this.gen, 0, n - 1);
  }

  /** Standard normal draw (Box–Muller; no cached spare, so the state stays the generator's alone). */
  normal(): number {
    const u = 1 - this.next(); // in (0, 1]: log stays finite
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** Fisher–Yates shuffle in place; returns the same array. */
  shuffle<A extends MutableArrayLike<unknown>>(array: A): A {
    for (let i = array.length - 1; i > 0; i--) {
      const j = uniformInt(this.gen, 0, i);
      const t = array[i];
      array[i] = array[j];
      array[j] = t;
    }
    return array;
  }

  state(): RngState {
    const [a, b, c, d] = this.gen.getState();
    return { algorithm: RNG_ALGORITHM, state: [a, b, c, d] };
  }
}

function checkSeed(seed: number, what: string): void {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`${what}: seed must be an integer, got ${seed}`);
}

/** First 16 bytes of SHA-256 over the key, as four int32s. */
function hashWords(key: string): [number, number, number, number] {
  const h = createHash('sha256').update(key).digest();
  return [h.readInt32BE(0), h.readInt32BE(4), h.readInt32BE(8), h.readInt32BE(12)];
}

/**
 * A generator for `seed`. The state comes from hashing the seed: pure-rand's own
 * `xoroshiro128plus(seed)` starts from a state whose first output is ~seed, so nearby
 * seeds (1, 2, 3…) would begin with nearly the same draws.
 */
export function createRng(seed: number): Rng {
  checkSeed(seed, 'createRng');
  const state = hashWords(`pxl-rng:${seed}`);
  // An all-zero state would emit zeros forever; SHA-256 will not give it, but fall back safely.
  if (state.every((w) => w === 0)) return new Rng(xoroshiro128plus(seed));
  return new Rng(xoroshiro128plusFromState(state));
}

export function restoreRng(state: RngState): Rng {
  const s = state?.state;
  const valid =
    state?.algorithm === RNG_ALGORITHM &&
    Array.isArray(s) &&
    s.length === 4 &&
    s.every((w) => Number.isInteger(w) && w >= -0x80000000 && w <= 0x7fffffff);
  if (!valid) throw new Error(`restoreRng: not a ${RNG_ALGORITHM} state: ${JSON.stringify(state)}`);
  return new Rng(xoroshiro128plusFromState(s));
}

/**
 * An independent seed for a named purpose, e.g. `deriveSeed(seed, 'epoch', 3)` or
 * `deriveSeed(seed, 'init')`, so that streams never overlap and each is reproducible
 * on its own (a resumed run re-derives the same epoch order). Returns a uint32.
 */
export function deriveSeed(seed: number, ...keys: (string | number)[]): number {
  checkSeed(seed, 'deriveSeed');
  return hashWords(JSON.stringify(['pxl-derive', seed, ...keys]))[0] >>> 0;
}

/**
 * Dropout's mask, scaled: element i is 1 / (1 - rate) when kept and 0 when dropped, dropped
 * when a hash of (key, i) falls below rate × 2^32. The hash is counter-based (Chris Wellons'
 * triple32, a bijection of 32-bit integers with full avalanche), so each element's draw
 * depends on the key and its index alone: the same key gives the same mask on every backend,
 * in any order, with nothing to store.
 */
export function dropoutMask(key: number, count: number, rate: number): Float32Array {
  if (!(rate >= 0 && rate < 1)) throw new RangeError(`dropoutMask: rate must be in [0, 1), got ${rate}`);
  checkSeed(key, 'dropoutMask');
  const threshold = Math.floor(rate * 2 ** 32);
  const scale = Math.fround(1 / (1 - rate));
  const k = key | 0;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    let x = Math.imul(i, 0x9e3779b9) ^ k;
    x ^= x >>> 17;
    x = Math.imul(x, 0xed5ad4bb);
    x ^= x >>> 11;
    x = Math.imul(x, 0xac4c1b51);
    x ^= x >>> 15;
    x = Math.imul(x, 0x31848bab);
    x ^= x >>> 14;
    out[i] = x >>> 0 < threshold ? 0 : scale;
  }
  return out;
}
