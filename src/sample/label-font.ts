// Row labels of sample grids: class ids drawn with a 3x5 pixel font of the ten digits. Hand
// written because no font is needed beyond these ten glyphs, which a font library and a
// rasteriser would bring in for 30 lines of bitmaps.
const DIGITS: Record<string, string[]> = {
  '0': ['###', '#.#', '#.#', '#.#', '###'],
  '1': ['.#.', '##.', '.#.', '.#.', '###'],
  '2': ['###', '..#', '###', '#..', '###'],
  '3': ['###', '..#', '.##', '..#', '###'],
  '4': ['#.#', '#.#', '###', '..#', '..#'],
  '5': ['###', '#..', '###', '..#', '###'],
  '6': ['###', '#..', '###', '#.#', '###'],
  '7': ['###', '..#', '.#.', '.#.', '.#.'],
  '8': ['###', '#.#', '###', '#.#', '###'],
  '9': ['###', '#.#', '###', '..#', '###'],
};

export const GLYPH_WIDTH = 3;
export const GLYPH_HEIGHT = 5;

/** Width in font pixels of `text` (one blank column between glyphs). */
export const textWidth = (text: string): number => (text.length ? text.length * (GLYPH_WIDTH + 1) - 1 : 0);

/** The font pixels of `text` that are ink, as (x, y) from its top left; digits only. */
export function textPixels(text: string): { x: number; y: number }[] {
  const out: { x: number; y: number }[] = [];
  [...text].forEach((ch, i) => {
    const glyph = DIGITS[ch];
    if (!glyph) throw new RangeError(`row labels are class ids: no glyph for ${JSON.stringify(ch)}`);
    glyph.forEach((row, y) => [...row].forEach((p, x) => p === '#' && out.push({ x: i * (GLYPH_WIDTH + 1) + x, y })));
  });
  return out;
}
