// The raster-order loop every sampler shares: at each position and channel the method's output
// (softmax logits, or a logistic mixture's parameters), one draw per image from one seeded
// stream, then the drawn values join the input. A method only says how it gets the output at a
// position and what it does with the drawn pixels.
import type { PixelCNN } from '../model/pixelcnn.js';
import { createRng } from '../util/random.js';
import { drawClasses, drawMixture } from './draw.js';
import type { SampleOptions } from './sampler.js';

export interface RasterMethod {
  /** The output at position p (row-major over height x width): logits [N * C, L], or a mixture's parameters [N, size]. */
  logitsAt(p: number): Promise<Float32Array>;
  /** The classes [N, C] drawn at position p so far (channels not yet drawn are 0), to feed what follows. */
  setPixel(p: number, drawn: Int32Array): void;
}

/**
 * Sampled classes [N, H, W, C], drawn position by position in raster order and, within a
 * position, channel by channel (R, G, B): a colour model's logits for channel c see the
 * channels before it, so the method is asked again after each channel is drawn. One
 * channel draws once per position, as before.
 */
export async function drawRaster(model: PixelCNN, opts: SampleOptions, method: RasterMethod): Promise<Int32Array> {
  const { height: H, width: W, channels: C } = model.image;
  const L = model.config.color_levels;
  const N = opts.count;
  const rng = createRng(opts.seed);
  const classes = new Int32Array(N * H * W * C);
  const drawn = new Int32Array(N * C);
  const rows = new Float32Array(N * L);
  const picked = new Int32Array(N);
  const mixture = model.output.mixture;
  for (let p = 0; p < H * W; p++) {
    drawn.fill(0);
    if (mixture) {
      const params = await method.logitsAt(p);
      opts.onLogits?.(p, params, 0);
      drawMixture(params, mixture, L, opts.temperature, rng, drawn);
      method.setPixel(p, drawn);
    }
    for (let c = 0; c < C && !mixture; c++) {
      const logits = await method.logitsAt(p);
      opts.onLogits?.(p, logits, c);
      if (C === 1) {
        drawClasses(logits, L, opts.temperature, rng, drawn);
      } else {
        for (let n = 0; n < N; n++) rows.set(logits.subarray((n * C + c) * L, (n * C + c + 1) * L), n * L);
        drawClasses(rows, L, opts.temperature, rng, picked);
        for (let n = 0; n < N; n++) drawn[n * C + c] = picked[n];
      }
      method.setPixel(p, drawn);
    }
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) classes[(n * H * W + p) * C + c] = drawn[n * C + c];
    opts.onProgress?.(p + 1, H * W);
    if (p % 16 === 15) await new Promise(setImmediate); // let signals and the UI through
  }
  return classes;
}
