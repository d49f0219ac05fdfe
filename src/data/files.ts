// Finding a dataset's IDX files in a directory. Names follow the MNIST convention
// in both spellings seen in the wild, optionally gzipped:
//   train-images-idx3-ubyte, train-images.idx3-ubyte(.gz), t10k-labels-idx1-ubyte, test-…
import { readdir } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';

export type Split = 'train' | 'test';
export type Kind = 'images' | 'labels';

export interface SplitFiles {
  images: string;
  labels: string | null;
}

export interface DatasetFiles {
  dir: string;
  train: SplitFiles;
  test: SplitFiles;
}

/**
 * `badInput`: the files are there but their content is wrong (wrong magic, truncated,
 * mismatched sizes, no images): a mistake in the input, exit 2. Otherwise (a folder or
 * package that is missing, a file that cannot be read) an environment problem, exit 1.
 */
export class DatasetError extends Error {
  readonly badInput: boolean;

  constructor(message: string, badInput = false) {
    super(message);
    this.name = 'DatasetError';
    this.badInput = badInput;
  }
}

const PREFIXES: Record<Split, string[]> = { train: ['train'], test: ['t10k', 'test'] };
// Images are 3-dim (n, h, w) or 4-dim (n, h, w, c); labels 1-dim.
const NDIMS: Record<Kind, number[]> = { images: [3, 4], labels: [1] };

/** Accepted file names for one split and kind, most preferred first (plain before .gz). */
export function candidateNames(split: Split, kind: Kind): string[] {
  const names: string[] = [];
  for (const gz of ['', '.gz'])
    for (const prefix of PREFIXES[split])
      for (const n of NDIMS[kind])
        for (const sep of ['-', '.']) names.push(`${prefix}-${kind}${sep}idx${n}-ubyte${gz}`);
  return names;
}

async function listDir(dir: string): Promise<Set<string>> {
  if (!isAbsolute(dir)) throw new DatasetError(`dataset directory must be an absolute path, got "${dir}"`);
  try {
    return new Set(await readdir(dir));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DatasetError(`dataset directory not found: ${dir}`);
    if (code === 'ENOTDIR') throw new DatasetError(`dataset path is not a directory: ${dir}`);
    throw new DatasetError(`cannot list dataset directory ${dir}: ${(err as Error).message}`);
  }
}

function pick(entries: Set<string>, dir: string, split: Split, kind: Kind): string | null {
  const name = candidateNames(split, kind).find((n) => entries.has(n));
  return name === undefined ? null : join(dir, name);
}

/** The files of both splits; image files are required, label files optional. */
export async function findDatasetFiles(dir: string): Promise<DatasetFiles> {
  const entries = await listDir(dir);
  const split = (s: Split): SplitFiles => {
    const images = pick(entries, dir, s, 'images');
    if (images === null) {
      const tried = candidateNames(s, 'images').filter((n) => !n.endsWith('.gz'));
      throw new DatasetError(
        `no ${s} image file in ${dir}: expected one of ${tried.join(', ')} (optionally .gz)`,
      );
    }
    return { images, labels: pick(entries, dir, s, 'labels') };
  };
  return { dir, train: split('train'), test: split('test') };
}
