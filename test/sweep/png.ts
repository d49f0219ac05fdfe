// What a PNG holds, to tell a real figure from a blank or tiny one.
import { readFileSync } from 'node:fs';
import { PNG } from 'pngjs';

export function pngStats(file: string): { width: number; height: number; colours: number; ink: number } {
  const png = PNG.sync.read(readFileSync(file));
  const colours = new Set<number>();
  let dark = 0;
  for (let i = 0; i < png.data.length; i += 4) {
    const [r, g, b] = [png.data[i], png.data[i + 1], png.data[i + 2]];
    colours.add((r << 16) | (g << 8) | b);
    if (r + g + b < 600) dark++;
  }
  return { width: png.width, height: png.height, colours: colours.size, ink: dark / (png.width * png.height) };
}
