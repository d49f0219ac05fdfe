// dataset `colored-mnist`: MNIST digits tinted, a colour dataset every clone has.
//
// Each digit gets one colour: a hue drawn uniformly from a generator seeded by
// (dataset.tint_seed, split), one draw per image in file order, at full saturation and value.
// A pixel of intensity v becomes v * colour / 255 in each of R, G, B, so the background stays
// black and the strokes keep MNIST's shading. Image i's colour depends only on the seed, the
// split and i (train_limit keeps a prefix of the same draws).
import { createRng, deriveSeed } from '../util/random.js';
import type { ImageSet } from './datasets.js';

/** Full-saturation, full-value RGB of a hue in [0, 1). */
export function hueToRgb(hue: number): [number, number, number] {
  const h = hue * 6;
  const sector = Math.floor(h) % 6;
  const f = h - Math.floor(h);
  const up = Math.round(255 * f);
  const down = 255 - up;
  const table: [number, number, number][] = [
    [255, up, 0],
    [down, 255, 0],
    [0, 255, up],
    [0, down, 255],
    [up, 0, 255],
    [255, 0, down],
  ];
  return table[sector];
}

/** The colours of the first `count` images of a split. */
export function tintColours(seed: number, split: 'train' | 'test', count: number): Uint8Array {
  const rng = createRng(deriveSeed(seed, 'colored-mnist', split));
  const out = new Uint8Array(3 * count);
  for (let i = 0; i < count; i++) out.set(hueToRgb(rng.next()), 3 * i);
  return out;
}

/** A grey (1-channel) set as RGB, each image tinted by its colour. */
export function tint(grey: ImageSet, pixels: number, seed: number, split: 'train' | 'test'): ImageSet {
  const colours = tintColours(seed, split, grey.count);
  const images = new Uint8Array(grey.count * pixels * 3);
  for (let n = 0; n < grey.count; n++) {
    for (let p = 0; p < pixels; p++) {
      const v = grey.images[n * pixels + p];
      const dst = (n * pixels + p) * 3;
      for (let c = 0; c < 3; c++) images[dst + c] = Math.round((v * colours[3 * n + c]) / 255);
    }
  }
  return { count: grey.count, images, labels: grey.labels };
}
