// Causal masks for PixelCNN convolutions.
import type { MaskType } from '../config/types.js';

/**
 * The k×k spatial mask in raster order: 1 for the rows above the centre and the taps left of
 * the centre in its row; mask B also keeps the centre itself. Returned row-major [k][k].
 */
export function spatialMask(k: number, type: MaskType): Float32Array {
  const m = new Float32Array(k * k);
  const c = Math.floor(k / 2);
  for (let r = 0; r < k; r++) {
    for (let col = 0; col < k; col++) {
      const before = r < c || (r === c && col < c);
      const centre = r === c && col === c;
      m[r * k + col] = before || (centre && type === 'B') ? 1 : 0;
    }
  }
  return m;
}

/** The mask broadcast to a conv kernel's shape [k, k, inChannels, outChannels]. */
export function kernelMask(k: number, type: MaskType, cin: number, cout: number): Float32Array {
  const spatial = spatialMask(k, type);
  const out = new Float32Array(k * k * cin * cout);
  const per = cin * cout;
  for (let t = 0; t < k * k; t++) if (spatial[t] === 1) out.fill(1, t * per, (t + 1) * per);
  return out;
}
