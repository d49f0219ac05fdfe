// Causal masks for PixelCNN convolutions, spatial and, for colour images, by channel group.
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

/**
 * How a layer's channels split into the image's channels (van den Oord et al. 2016a, sec. 3.4):
 * `groups` contiguous groups (R, G, B), in each of `halves` halves alike. A gated layer's 2h
 * channels are a tanh half and a sigmoid half, and the gate multiplies channel i of one with
 * channel i of the other, so both must hold the same group.
 */
export interface ChannelGroups {
  groups: number;
  inHalves: 1 | 2;
  outHalves: 1 | 2;
  /** Every output channel in this one group (the logistic mixture's outputs all read the first group); by default the outputs split like the inputs. */
  outputGroup?: number;
}

/** The group (0 .. groups-1) of channel i of `count` channels. */
export function channelGroup(i: number, count: number, groups: number, halves: 1 | 2 = 1): number {
  const per = count / halves;
  return Math.floor((i % per) / (per / groups));
}

/** Whether channels of `count` split into `groups` equal groups in each of `halves` halves. */
export const splitsIntoGroups = (count: number, groups: number, halves: 1 | 2 = 1): boolean => count % (groups * halves) === 0;

/**
 * The centre tap's mask [in, out]: output group j sees input groups < j (A) or <= j (B). With
 * one group, mask A hides the centre and mask B keeps it, as the spatial mask alone does.
 */
export function centreMask(type: MaskType, cin: number, cout: number, g: ChannelGroups): Float32Array {
  const m = new Float32Array(cin * cout);
  for (let i = 0; i < cin; i++) {
    const gi = channelGroup(i, cin, g.groups, g.inHalves);
    for (let o = 0; o < cout; o++) {
      const go = g.outputGroup ?? channelGroup(o, cout, g.groups, g.outHalves);
      m[i * cout + o] = go > gi || (type === 'B' && go === gi) ? 1 : 0;
    }
  }
  return m;
}

/** The mask broadcast to a conv kernel's shape [k, k, inChannels, outChannels], the centre tap by channel group. */
export function kernelMask(k: number, type: MaskType, cin: number, cout: number, groups: ChannelGroups | null = null): Float32Array {
  const spatial = spatialMask(k, type);
  const out = new Float32Array(k * k * cin * cout);
  const per = cin * cout;
  for (let t = 0; t < k * k; t++) if (spatial[t] === 1) out.fill(1, t * per, (t + 1) * per);
  if (groups && groups.groups > 1) {
    const centre = (k * k) >> 1;
    out.set(centreMask(type, cin, cout, groups), centre * per);
  }
  return out;
}

/** A stack conv's mask [rows, cols, in, out]: every tap kept but the anchor, which is masked by group. */
export function windowMask(rows: number, cols: number, anchor: number, type: MaskType, cin: number, cout: number, groups: ChannelGroups): Float32Array {
  const per = cin * cout;
  const out = new Float32Array(rows * cols * per).fill(1);
  out.set(centreMask(type, cin, cout, groups), anchor * per);
  return out;
}
