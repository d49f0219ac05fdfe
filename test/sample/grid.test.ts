// PNG grids: layout, grey gaps, dequantised pixel values and nearest-neighbour scaling.
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { gridPng } from '../../src/sample/grid.js';

// Three 2x3 images at 4 levels: image n has every pixel at class (n + 1) % 4.
const classes = Array.from({ length: 3 * 2 * 3 }, (_, i) => (Math.floor(i / 6) + 1) % 4);
const base = { count: 3, columns: 2, height: 2, width: 3, channels: 1, levels: 4 };
const grey = (png: PNG, x: number, y: number) => png.data[(y * png.width + x) * 4];

describe('gridPng', () => {
  it('lays images out in rows with grey gaps and dequantised values', () => {
    const png = PNG.sync.read(gridPng(classes, { ...base, padding: 1 }));
    expect([png.width, png.height]).toEqual([2 * 3 + 3, 2 * 2 + 3]);
    expect(grey(png, 0, 0)).toBe(128); // gap
    expect(grey(png, 1, 1)).toBe(85); // image 0, class 1 of 4
    expect(grey(png, 5, 2)).toBe(170); // image 1, class 2
    expect(grey(png, 1, 4)).toBe(255); // image 2, class 3
    expect(grey(png, 5, 4)).toBe(128); // the empty fourth cell stays grey
  });

  it('scales every pixel, gaps included, to a square without smoothing', () => {
    const one = PNG.sync.read(gridPng(classes, { ...base, padding: 1 }));
    const k = 3;
    const big = PNG.sync.read(gridPng(classes, { ...base, padding: 1, scale: k }));
    expect([big.width, big.height]).toEqual([one.width * k, one.height * k]);
    for (let y = 0; y < big.height; y++) for (let x = 0; x < big.width; x++) expect(grey(big, x, y)).toBe(grey(one, Math.floor(x / k), Math.floor(y / k)));
  });

  it('labels each row with its class in a white 3x5 font, left of the row', () => {
    // Images 15 pixels high: labels a third of that, the font at 1:1.
    const count = 2;
    const o = { count, columns: 1, height: 15, width: 4, channels: 1, levels: 4, padding: 1, rowLabels: ['1', '10'] };
    const png = PNG.sync.read(gridPng(new Array(count * 15 * 4).fill(0), o));
    // Margin: the widest label (7 font pixels) and a gap either side.
    expect(png.width).toBe(7 + 2 + 4 + 2);
    const ink = (x0: number, y0: number, w: number) => Array.from({ length: 5 }, (_, y) => Array.from({ length: w }, (_, x) => (grey(png, x0 + x, y0 + y) === 255 ? '#' : '.')).join(''));
    // Row 0 (y 1..15): "1" right-aligned at x 5..7, centred: y 1 + 5.
    expect(ink(5, 6, 3)).toEqual(['.#.', '##.', '.#.', '.#.', '###']);
    // Row 1 (y 17..31): "10" at x 1..7.
    expect(ink(1, 22, 7)).toEqual(['.#..###', '##..#.#', '.#..#.#', '.#..#.#', '###.###']);
    // Without labels the grid has no margin.
    expect(PNG.sync.read(gridPng(new Array(count * 15 * 4).fill(0), { ...o, rowLabels: undefined })).width).toBe(4 + 2);
  });

  it('rejects a scale that is not a positive integer', () => {
    expect(() => gridPng(classes, { ...base, scale: 0 })).toThrow('grid scale must be a positive integer; found 0');
    expect(() => gridPng(classes, { ...base, scale: 1.5 })).toThrow('found 1.5');
  });

  it('draws RGB images as an RGB PNG, each channel in place, NHWC in', () => {
    // Two 2x2 images at 256 levels: pixel p of image n has R, G, B = 10n + p, 100 + 10n + p, 200 + n.
    const rgb = Array.from({ length: 2 * 2 * 2 * 3 }, (_, i) => {
      const [n, p, c] = [Math.floor(i / 12), Math.floor(i / 3) % 4, i % 3];
      return [10 * n + p, 100 + 10 * n + p, 200 + n][c];
    });
    const bytes = gridPng(rgb, { count: 2, columns: 2, height: 2, width: 2, channels: 3, levels: 256, padding: 1 });
    expect(bytes[8 + 8 + 9]).toBe(2); // IHDR colour type: RGB, no alpha
    const png = PNG.sync.read(bytes);
    const at = (x: number, y: number) => Array.from(png.data.subarray((y * png.width + x) * 4, (y * png.width + x) * 4 + 3));
    expect(at(1, 1)).toEqual([0, 100, 200]); // image 0, pixel 0
    expect(at(2, 2)).toEqual([3, 103, 200]); // image 0, pixel 3
    expect(at(4, 1)).toEqual([10, 110, 201]); // image 1, pixel 0
    expect(at(5, 2)).toEqual([13, 113, 201]); // image 1, pixel 3
    expect(at(3, 1)).toEqual([128, 128, 128]); // the gap between them
  });
});
