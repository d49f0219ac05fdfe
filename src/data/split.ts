// A validation set held out of the training images: a seeded, fixed split.
//
// The held-out images are drawn from the training set as dataset.train_limit leaves it, by a
// shuffle seeded by (seed, "validation"); the rest, in file order, is what training sees. The
// two are disjoint by construction: training only ever indexes the rest.
import { createHash } from 'node:crypto';
import { createRng, deriveSeed } from '../util/random.js';
import { DatasetError } from './files.js';
import type { Dataset, ImageSet } from './datasets.js';

/** Which training images were held out, as the run store writes it (validation.json). */
export interface ValidationSplit {
  /** Images held out. */
  count: number;
  seed: number;
  /** Training images before the split (after dataset.train_limit), and those left to train on. */
  of: number;
  train: number;
  /** Indices into the training images (file order, after train_limit) held out, ascending. */
  indices: number[];
  /** SHA-256 of the held-out images' bytes, in index order. */
  sha256: string;
  derivation: string;
}

/** The training set without the held-out images, the held-out images, and which they were. */
export interface SplitDataset extends Dataset {
  validation: ImageSet | null;
  split: ValidationSplit | null;
}

/** The indices (ascending) of `count` of `total` images, drawn by a shuffle seeded by (seed, "validation"). */
export function validationIndices(total: number, count: number, seed: number): Uint32Array {
  const order = Uint32Array.from({ length: total }, (_, i) => i);
  createRng(deriveSeed(seed, 'validation')).shuffle(order);
  return order.slice(0, count).sort();
}

function subset(set: ImageSet, indices: ArrayLike<number>): ImageSet {
  const pixels = set.images.length / set.count;
  const images = new Uint8Array(indices.length * pixels);
  const labels = set.labels ? new Uint8Array(indices.length) : null;
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i];
    images.set(set.images.subarray(k * pixels, (k + 1) * pixels), i * pixels);
    if (labels) labels[i] = set.labels![k];
  }
  return { count: indices.length, images, labels };
}

/**
 * Holds `validation` training images out (none: the dataset as it is). A validation set that
 * leaves no image to train on is bad input, named by its setting.
 */
export function splitValidation(data: Dataset, validation: number | string, seed: number): SplitDataset {
  if (validation === 'none') return { ...data, validation: null, split: null };
  const count = Number(validation);
  const total = data.train.count;
  if (count >= total) {
    throw new DatasetError(`dataset.validation: ${count} validation images leave none of the ${total} training images to train on; hold out fewer than ${total}`, true);
  }
  const held = validationIndices(total, count, seed);
  const isHeld = new Uint8Array(total);
  for (const k of held) isHeld[k] = 1;
  const rest = Uint32Array.from({ length: total - count }, () => 0);
  for (let k = 0, j = 0; k < total; k++) if (!isHeld[k]) rest[j++] = k;
  const validationSet = subset(data.train, held);
  return {
    ...data,
    train: subset(data.train, rest),
    validation: validationSet,
    split: {
      count, seed, of: total, train: total - count, indices: Array.from(held),
      sha256: createHash('sha256').update(validationSet.images).digest('hex'),
      derivation: 'the first dataset.validation indices of a shuffle of 0..N-1 by createRng(deriveSeed(seed, "validation")), sorted',
    },
  };
}
