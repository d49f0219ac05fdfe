// Channel order within a pixel for colour images (van den Oord et al. 2016a, sec. 3.4): every
// layer's channels split into one group per image channel, R before G before B.
import type { ChannelGroups } from './masks.js';

export { channelGroupProblem } from '../config/widths.js';

/** Channel groups for a layer, by its input and output halves; `ordered`: more than one image channel. */
export interface GroupsFn {
  (inHalves: 1 | 2, outHalves: 1 | 2): ChannelGroups | null;
  readonly ordered: boolean;
}

/** The groups of a model of `channels` image channels; null (no channel order) for one channel. */
export function groupsOf(channels: number): GroupsFn {
  const fn = (inHalves: 1 | 2, outHalves: 1 | 2): ChannelGroups | null => (channels > 1 ? { groups: channels, inHalves, outHalves } : null);
  return Object.assign(fn, { ordered: channels > 1 });
}
