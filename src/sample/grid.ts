// Sample grids as PNG files, through pngjs.
import { PNG } from 'pngjs';
import { dequantize } from '../data/batches.js';
import { markPng } from '../util/png-mark.js';
import { GLYPH_HEIGHT, textPixels, textWidth } from './label-font.js';

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
  /** A label per grid row (a class id), drawn in white in a margin left of the row. */
  rowLabels?: string[];
}

/** Font pixels per label pixel: labels about a third of an image's height, at least 1. */
const labelZoom = (o: GridOptions): number => Math.max(1, Math.floor(o.height / (3 * GLYPH_HEIGHT)));

/** Width of the label margin (0 without labels): the widest label and a gap either side. */
function labelMargin(o: GridOptions): number {
  if (!o.rowLabels?.length) return 0;
  const pad = o.padding ?? 2;
  return Math.max(...o.rowLabels.map(textWidth)) * labelZoom(o) + 2 * pad;
}

/** The grid's size in pixels, scale included. */
export function gridSize(o: GridOptions): { width: number; height: number } {
  const pad = o.padding ?? 2;
  const rows = Math.ceil(o.count / o.columns);
  const scale = o.scale ?? 1;
  return { width: (labelMargin(o) + o.columns * o.width + (o.columns + 1) * pad) * scale, height: (rows * o.height + (rows + 1) * pad) * scale };
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
  const margin = labelMargin(o);
  const gw = margin + o.columns * o.width + (o.columns + 1) * pad;
  const gh = rows * o.height + (rows + 1) * pad;
  const png = new PNG({ width: gw, height: gh, colorType: 6 });
  png.data.fill(128);
  drawRowLabels(png, o, rows);
  const bytes = dequantize(classes, o.levels);
  for (let n = 0; n < o.count; n++) {
    const x0 = margin + pad + (n % o.columns) * (o.width + pad);
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

/** Each row's label, white, right-aligned in the margin and centred on the row. */
function drawRowLabels(png: PNG, o: GridOptions, rows: number): void {
  if (!o.rowLabels?.length) return;
  const pad = o.padding ?? 2;
  const zoom = labelZoom(o);
  const right = labelMargin(o) - pad;
  for (let r = 0; r < Math.min(rows, o.rowLabels.length); r++) {
    const label = o.rowLabels[r];
    const x0 = right - textWidth(label) * zoom;
    const y0 = pad + r * (o.height + pad) + Math.floor((o.height - GLYPH_HEIGHT * zoom) / 2);
    for (const { x, y } of textPixels(label)) {
      for (let dy = 0; dy < zoom; dy++) {
        for (let dx = 0; dx < zoom; dx++) png.data.fill(255, ((y0 + y * zoom + dy) * png.width + x0 + x * zoom + dx) * 4, ((y0 + y * zoom + dy) * png.width + x0 + x * zoom + dx) * 4 + 3);
      }
    }
  }
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
