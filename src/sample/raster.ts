// The raster-order loop every sampler shares: at each position the method's logits, one draw
// per image and channel from one seeded stream, then the drawn pixels join the input. A method
// only says how it gets the logits at a position and what it does with the drawn pixels.
import type { PixelCNN } from '../model/pixelcnn.js';
import { createRng } from '../util/random.js';
import { drawClasses } from './draw.js';
import type { SampleOptions } from './sampler.js';

export interface RasterMethod {
  /** Logits [N * C, L] at position p (row-major over height x width). */
  logitsAt(p: number): Promise<Float32Array>;
  /** The classes [N, C] drawn at position p, to feed the next positions. */
  setPixel(p: number, drawn: Int32Array): void;
}

/** Sampled classes [N, H, W, C], drawn position by position in raster order. */
export async function drawRaster(model: PixelCNN, opts: SampleOptions, method: RasterMethod): Promise<Int32Array> {
  const { height: H, width: W, channels: C } = model.image;
  const L = model.config.color_levels;
  const N = opts.count;
  const rng = createRng(opts.seed);
  const classes = new Int32Array(N * H * W * C);
  const drawn = new Int32Array(N * C);
  for (let p = 0; p < H * W; p++) {
    const logits = await method.logitsAt(p);
    opts.onLogits?.(p, logits);
    drawClasses(logits, L, opts.temperature, rng, drawn);
    method.setPixel(p, drawn);
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) classes[(n * H * W + p) * C + c] = drawn[n * C + c];
    opts.onProgress?.(p + 1, H * W);
    if (p % 16 === 15) await new Promise(setImmediate); // let signals and the UI through
  }
  return classes;
}
