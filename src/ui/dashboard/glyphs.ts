// Sampled images as text: each character cell shades two vertically stacked pixels (cells are
// about twice as tall as wide), so a 28x28 digit takes 28 columns by 14 rows at scale 1.
// Grey images are drawn in shade characters: they read the same without colour, in tmux
// captures and under NO_COLOR. Colour images are drawn as upper half blocks (▀) whose
// foreground is the top pixel and background the bottom one, in 24-bit colour where the
// terminal has it, else in the 256-colour palette; in a terminal with fewer colours they fall
// back to the shades of their mean intensity.

const SHADES = [' ', '░', '▒', '▓', '█'];
export const GAP = 2; // columns between images

/** How colour images are drawn: from the terminal's colour depth (see paletteFor). */
export type Palette = 'truecolor' | '256' | 'shades';

/** 24-bit colour at depth 24, the 256-colour cube at depth 8, shades below. */
export const paletteFor = (colorDepth: number): Palette => (colorDepth >= 24 ? 'truecolor' : colorDepth >= 8 ? '256' : 'shades');

/**
 * The terminal's colour depth: Node's tty getColorDepth (NO_COLOR, FORCE_COLOR, TERM, CI…),
 * except that COLORTERM=truecolor or 24bit is believed inside tmux too, where Node says 256
 * whatever the terminal declares (tmux passes 24-bit colour on to terminals that have it).
 */
export function colorDepth(stream: { getColorDepth?: (env?: object) => number }, env: NodeJS.ProcessEnv = process.env): number {
  const depth = stream.getColorDepth?.(env) ?? 1;
  const declared = /^(truecolor|24bit)$/i.test(env.COLORTERM ?? '');
  return depth > 1 && declared && env.FORCE_COLOR === undefined ? 24 : depth;
}

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
 * left of its image (a digit's corner is background). Colour images (true-colour or 256-colour
 * half blocks) carry no label: their cells are escape sequences, not characters to overwrite.
 */
export function imagesText(images: Images, shown: number, scale: number, palette: Palette = 'shades'): string[] {
  const colour = palette !== 'shades' && channelsOf(images) === 3;
  const drawn = previewImages(images, shown).map(({ index, label }) =>
    colour ? colourImageText(images, index, scale, palette) : withLabel(imageText(images, index, scale), label));
  if (drawn.length === 0) return [];
  return drawn[0].map((_, row) => drawn.map((lines) => lines[row]).join(' '.repeat(GAP)));
}

const channelsOf = (images: Images): number => Math.max(1, Math.round(images.pixels.length / (images.count * images.height * images.width)));

function withLabel(lines: string[], label: string | null): string[] {
  if (!label || !lines.length) return lines;
  const first = lines[0];
  return [label.slice(0, first.length) + first.slice(label.length), ...lines.slice(1)];
}

export function imageText(images: Images, index: number, scale: number): string[] {
  const { height, width } = images;
  const channels = channelsOf(images);
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

/** Mean colour (0..1 per channel) of the rectangle [y0, y1) x [x0, x1) of an RGB image; black outside it. */
function meanColour(images: Images, index: number, y0: number, y1: number, x0: number, x1: number): [number, number, number] {
  const { height, width, pixels } = images;
  const base = index * height * width * 3;
  const sum = [0, 0, 0];
  let n = 0;
  for (let y = y0; y < Math.min(y1, height); y++)
    for (let x = x0; x < Math.min(x1, width); x++, n++) for (let c = 0; c < 3; c++) sum[c] += pixels[base + (y * width + x) * 3 + c];
  return n ? [sum[0] / n, sum[1] / n, sum[2] / n] : [0, 0, 0];
}

const byte = (v: number) => Math.max(0, Math.min(255, Math.round(v * 255)));
/** The nearest colour of the 256-colour palette's 6x6x6 cube (indices 16..231). */
const cube = ([r, g, b]: number[]) => 16 + 36 * Math.round(Math.max(0, Math.min(1, r)) * 5) + 6 * Math.round(Math.max(0, Math.min(1, g)) * 5) + Math.round(Math.max(0, Math.min(1, b)) * 5);

/** SGR codes setting the foreground (38) or background (48) colour. */
function sgr(layer: 38 | 48, rgb: [number, number, number], palette: Palette): string {
  return palette === 'truecolor' ? `${layer};2;${rgb.map(byte).join(';')}` : `${layer};5;${cube(rgb)}`;
}

/** One RGB image as rows of ▀: top pixel in the foreground, bottom in the background; each row ends with a reset. */
export function colourImageText(images: Images, index: number, scale: number, palette: Palette): string[] {
  const { rows, columns } = glyphSize(images.height, images.width, scale);
  return Array.from({ length: rows }, (_, r) => {
    const cells = Array.from({ length: columns }, (_, c) => {
      const [x0, x1] = [scale * c, scale * (c + 1)];
      const top = meanColour(images, index, 2 * scale * r, 2 * scale * r + scale, x0, x1);
      const bottom = meanColour(images, index, 2 * scale * r + scale, 2 * scale * (r + 1), x0, x1);
      return `\x1b[${sgr(38, top, palette)};${sgr(48, bottom, palette)}m▀`;
    });
    return `${cells.join('')}\x1b[0m`;
  });
}
