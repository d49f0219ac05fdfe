// Sampled images as text: each character cell shades two vertically stacked pixels (cells are
// about twice as tall as wide), so a 28x28 digit takes 28 columns by 14 rows at scale 1.
// Shade characters rather than coloured half-blocks: they read the same without colour, in
// tmux captures and under NO_COLOR.

const SHADES = [' ', '░', '▒', '▓', '█'];
export const GAP = 2; // columns between images

export interface Images {
  count: number;
  height: number;
  width: number;
  /** 0..1 intensities, [count, height, width] or [count, height, width, channels]. */
  pixels: Float32Array;
  /** Images per grid row, and a label per row (a class-conditional model's class ids). */
  columns?: number;
  rowLabels?: string[];
}

/** Cells taken by one image drawn at `scale` (scale 2 averages 2x2 blocks of cells). */
export function glyphSize(height: number, width: number, scale: number): { rows: number; columns: number } {
  return { rows: Math.ceil(height / (2 * scale)), columns: Math.ceil(width / scale) };
}

/**
 * The images the preview shows, with their labels: the first `shown` images; for a grid with
 * labelled rows (one row per class), the first image of each row, labelled with the row's class.
 */
export function previewImages(images: Images, shown: number): { index: number; label: string | null }[] {
  const { rowLabels, columns } = images;
  if (rowLabels?.length && columns) {
    return rowLabels.slice(0, shown).map((label, r) => ({ index: r * columns, label })).filter((p) => p.index < images.count);
  }
  return Array.from({ length: Math.min(shown, images.count) }, (_, i) => ({ index: i, label: null }));
}

/**
 * The preview images side by side, one string per text row; a label is written over the top
 * left of its image (a digit's corner is background).
 */
export function imagesText(images: Images, shown: number, scale: number): string[] {
  const drawn = previewImages(images, shown).map(({ index, label }) => withLabel(imageText(images, index, scale), label));
  if (drawn.length === 0) return [];
  return drawn[0].map((_, row) => drawn.map((lines) => lines[row]).join(' '.repeat(GAP)));
}

function withLabel(lines: string[], label: string | null): string[] {
  if (!label || !lines.length) return lines;
  const first = lines[0];
  return [label.slice(0, first.length) + first.slice(label.length), ...lines.slice(1)];
}

export function imageText(images: Images, index: number, scale: number): string[] {
  const { height, width } = images;
  const channels = Math.max(1, Math.round(images.pixels.length / (images.count * height * width)));
  const base = index * height * width * channels;
  // Mean intensity of the image rectangle [y0, y1) x [x0, x1), all channels.
  const mean = (y0: number, y1: number, x0: number, x1: number) => {
    let sum = 0;
    let n = 0;
    for (let y = y0; y < Math.min(y1, height); y++)
      for (let x = x0; x < Math.min(x1, width); x++)
        for (let c = 0; c < channels; c++, n++) sum += images.pixels[base + (y * width + x) * channels + c];
    return n ? sum / n : 0;
  };
  const { rows, columns } = glyphSize(height, width, scale);
  return Array.from({ length: rows }, (_, r) =>
    Array.from({ length: columns }, (_, c) => shade(mean(2 * scale * r, 2 * scale * (r + 1), scale * c, scale * (c + 1)))).join(''),
  );
}

export const shade = (v: number): string => SHADES[Math.max(0, Math.min(SHADES.length - 1, Math.round(v * (SHADES.length - 1))))];
