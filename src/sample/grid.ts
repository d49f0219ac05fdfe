// Sample grids as PNG files, through pngjs.
import { PNG } from 'pngjs';
import { dequantize } from '../data/batches.js';
import { markPng } from '../util/png-mark.js';

/** The largest grid drawn: 8192 x 8192 pixels (256 MiB of RGBA while it is encoded). */
export const MAX_GRID_PIXELS = 8192 * 8192;

export interface GridOptions {
  count: number;
  columns: number;
  height: number;
  width: number;
  channels: number;
  levels: number;
  /** Pixels between images; the gap is mid-grey so black-background digits stay apart. */
  padding?: number;
  /** Each pixel drawn as a scale x scale square (gaps too), for viewing 28x28 digits; default 1. */
  scale?: number;
}

/** The grid's size in pixels, scale included. */
export function gridSize(o: GridOptions): { width: number; height: number } {
  const pad = o.padding ?? 2;
  const rows = Math.ceil(o.count / o.columns);
  const scale = o.scale ?? 1;
  return { width: (o.columns * o.width + (o.columns + 1) * pad) * scale, height: (rows * o.height + (rows + 1) * pad) * scale };
}

/**
 * Encodes sampled classes [count, H, W, C] as one PNG grid (greyscale for C=1, RGB for C=3),
 * with pxl's mark (png-mark.ts). At most MAX_GRID_PIXELS.
 */
export function gridPng(classes: ArrayLike<number>, o: GridOptions): Buffer {
  const size = gridSize(o);
  if (size.width * size.height > MAX_GRID_PIXELS) {
    throw new RangeError(`a ${size.width} x ${size.height} grid is larger than the ${MAX_GRID_PIXELS.toLocaleString('en-US')} pixels pxl draws`);
  }
  const pad = o.padding ?? 2;
  const rows = Math.ceil(o.count / o.columns);
  const gw = o.columns * o.width + (o.columns + 1) * pad;
  const gh = rows * o.height + (rows + 1) * pad;
  const png = new PNG({ width: gw, height: gh, colorType: 6 });
  png.data.fill(128);
  const bytes = dequantize(classes, o.levels);
  for (let n = 0; n < o.count; n++) {
    const x0 = pad + (n % o.columns) * (o.width + pad);
    const y0 = pad + Math.floor(n / o.columns) * (o.height + pad);
    for (let y = 0; y < o.height; y++) {
      for (let x = 0; x < o.width; x++) {
        const src = ((n * o.height + y) * o.width + x) * o.channels;
        const dst = ((y0 + y) * gw + x0 + x) * 4;
        for (let c = 0; c < 3; c++) png.data[dst + c] = bytes[src + (o.channels === 1 ? 0 : c)];
        png.data[dst + 3] = 255;
      }
    }
  }
  for (let i = 3; i < png.data.length; i += 4) png.data[i] = 255; // opaque gaps too
  const out = upscale(png, o.scale ?? 1);
  return markPng(PNG.sync.write(out, { colorType: o.channels === 1 ? 0 : 2 }));
}

/** Nearest-neighbour enlargement: every pixel becomes a k x k square, nothing is smoothed. */
function upscale(src: PNG, k: number): PNG {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`grid scale must be a positive integer; found ${k}`);
  if (k === 1) return src;
  const out = new PNG({ width: src.width * k, height: src.height * k, colorType: 6 });
  for (let y = 0; y < out.height; y++) {
    const row = Math.floor(y / k) * src.width;
    for (let x = 0; x < out.width; x++) src.data.copy(out.data, (y * out.width + x) * 4, (row + Math.floor(x / k)) * 4, (row + Math.floor(x / k)) * 4 + 4);
  }
  return out;
}
