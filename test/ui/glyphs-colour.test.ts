// Colour samples as text: half blocks with the top pixel's colour in front and the bottom's behind,
// and the palette chosen from the terminal's colour depth.
import { describe, expect, it } from 'vitest';
import { colorDepth, colourImageText, imagesText, paletteFor } from '../../src/ui/dashboard/glyphs.js';

// One 2x2 RGB image: red, green on top; blue, white below.
const image = { count: 1, height: 2, width: 2, pixels: new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1]) };

describe('colour samples as text', () => {
  it('draws each cell as ▀ over two pixels, 24-bit or from the 256-colour cube', () => {
    expect(colourImageText(image, 0, 1, 'truecolor')).toEqual(['\x1b[38;2;255;0;0;48;2;0;0;255m▀\x1b[38;2;0;255;0;48;2;255;255;255m▀\x1b[0m']);
    expect(colourImageText(image, 0, 1, '256')).toEqual(['\x1b[38;5;196;48;5;21m▀\x1b[38;5;46;48;5;231m▀\x1b[0m']);
  });

  it('averages blocks at scale 2 and keeps grey images and the shades palette in shade characters', () => {
    // A cell at scale 2 covers 4 pixel rows: the top half is the whole 2x2 image, the bottom lies below it (black).
    expect(colourImageText(image, 0, 2, 'truecolor')).toEqual(['\x1b[38;2;128;128;128;48;2;0;0;0m▀\x1b[0m']);
    expect(imagesText(image, 1, 1, 'shades')).toEqual(['░▓']); // mean intensities: 1/3 (red over blue), 2/3 (green over white)
    const grey = { count: 1, height: 2, width: 1, pixels: new Float32Array([0, 1]) };
    expect(imagesText(grey, 1, 1, 'truecolor')).toEqual(['▒']);
  });

  it('believes COLORTERM=truecolor where Node says 256 (tmux), but not over NO_COLOR or FORCE_COLOR', () => {
    const stream = (depth: number) => ({ getColorDepth: () => depth });
    expect(colorDepth(stream(8), { COLORTERM: 'truecolor' })).toBe(24);
    expect(colorDepth(stream(8), { COLORTERM: '24bit' })).toBe(24);
    expect(colorDepth(stream(8), {})).toBe(8);
    expect(colorDepth(stream(1), { COLORTERM: 'truecolor' })).toBe(1);
    expect(colorDepth(stream(4), { COLORTERM: 'truecolor', FORCE_COLOR: '1' })).toBe(4);
    expect(colorDepth({}, {})).toBe(1);
    expect([24, 8, 4, 1].map(paletteFor)).toEqual(['truecolor', '256', 'shades', 'shades']);
  });
});
