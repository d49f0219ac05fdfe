import { describe, expect, it } from 'vitest';
import { createRng, deriveSeed, restoreRng } from '../../src/util/random.js';

describe('random', () => {
  it('gives the same sequence for the same seed, on every platform', () => {
    const a = createRng(42);
    const b = createRng(42);
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    // Pinned values: a change here means saved runs would no longer replay.
    expect(xs.map((x) => x.toFixed(12))).toEqual([
      '0.829418258816',
      '0.046893192033',
      '0.865796453398',
      '0.094870786454',
      '0.963105405809',
    ]);
    expect(Array.from({ length: 6 }, () => a.int(1000))).toEqual([380, 138, 597, 538, 347, 715]);
    expect(Array.from({ length: 8 }, () => createRng(7).int(1000))).toEqual(Array(8).fill(createRng(7).int(1000)));
  });

  it('decorrelates nearby seeds', () => {
    const firsts = [1, 2, 3, 4].map((s) => createRng(s).next());
    expect(new Set(firsts).size).toBe(4);
    // pure-rand's own seeding would make these ~identical; hashed seeds spread them out.
    const spread = Math.max(...firsts) - Math.min(...firsts);
    expect(spread).toBeGreaterThan(0.05);
  });

  it('draws floats in [0,1) and ints in [0,n) with the right mean', () => {
    const rng = createRng(3);
    let sum = 0;
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const x = rng.next();
      if (!(x >= 0 && x < 1)) throw new Error(`out of range: ${x}`);
      sum += x;
      counts[rng.int(10)]++;
    }
    expect(sum / 100_000).toBeCloseTo(0.5, 2);
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    expect(() => rng.int(0)).toThrow(/positive integer/);
  });

  it('draws standard normals', () => {
    const rng = createRng(11);
    let s = 0;
    let s2 = 0;
    const n = 50_000;
    for (let i = 0; i < n; i++) {
      const z = rng.normal();
      s += z;
      s2 += z * z;
    }
    expect(s / n).toBeCloseTo(0, 1);
    expect(s2 / n).toBeCloseTo(1, 1);
  });

  it('saves and restores its state through JSON', () => {
    const rng = createRng(5);
    rng.next();
    rng.int(17);
    const saved = JSON.parse(JSON.stringify(rng.state()));
    const expected = [rng.next(), rng.int(1000), rng.next()];
    const restored = restoreRng(saved);
    expect([restored.next(), restored.int(1000), restored.next()]).toEqual(expected);
    expect(() => restoreRng({ algorithm: 'xoroshiro128plus', state: [1, 2, 3] } as never)).toThrow(/not a xoroshiro128plus state/);
  });

  it('shuffles in place into a permutation, reproducibly', () => {
    const a = Array.from({ length: 100 }, (_, i) => i);
    const same = createRng(9).shuffle(a);
    expect(same).toBe(a);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(a).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
    const t = createRng(9).shuffle(Uint32Array.from({ length: 100 }, (_, i) => i));
    expect(Array.from(t)).toEqual(a);
  });

  it('shuffles uniformly: each element lands in each slot equally often', () => {
    const rng = createRng(1);
    const hits = Array.from({ length: 4 }, () => new Array(4).fill(0));
    for (let k = 0; k < 40_000; k++) {
      const p = rng.shuffle([0, 1, 2, 3]);
      p.forEach((v, slot) => hits[v][slot]++);
    }
    for (const row of hits) for (const h of row) expect(Math.abs(h - 10_000)).toBeLessThan(400);
  });

  it('derives distinct, stable seeds per purpose', () => {
    expect(deriveSeed(1, 'epoch', 0)).toBe(deriveSeed(1, 'epoch', 0));
    const seeds = new Set([deriveSeed(1, 'epoch', 0), deriveSeed(1, 'epoch', 1), deriveSeed(2, 'epoch', 0), deriveSeed(1, 'init')]);
    expect(seeds.size).toBe(4);
    for (const s of seeds) expect(Number.isInteger(s) && s >= 0 && s < 2 ** 32).toBe(true);
    expect(() => createRng(1.5)).toThrow(/integer/);
  });
});
