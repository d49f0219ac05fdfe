// Which widths a colour model can split by channel (the model's masks, src/model/masks.ts),
// here so that validation can refuse the others before a model is built.

/** The image channels of the datasets whose channels the config alone says; others are read first. */
export const DATASET_CHANNELS: Record<string, number> = { mnist: 1, 'fashion-mnist': 1, 'colored-mnist': 3, cifar10: 3 };

/**
 * Why `hidden` cannot be split into one group per image channel, or null when it can. Every
 * width is h or 2h (a gated layer's 2h are two halves of h), so h must divide by the channels.
 */
export function channelGroupProblem(hidden: number, channels: number, blocks: 'residual' | 'gated'): string | null {
  if (channels <= 1 || hidden % channels === 0) return null;
  const what = blocks === 'gated' ? 'each gated layer splits its 2h channels into two halves of h and each half' : 'every layer splits its channels';
  const near = [Math.floor(hidden / channels) * channels, Math.ceil(hidden / channels) * channels].filter((n) => n > 0);
  return `expected a multiple of ${channels} for ${channels}-channel images (${what} into ${channels} groups, one per image channel, so that G sees R and B sees R and G); found ${hidden}; try ${near.join(' or ')}`;
}
