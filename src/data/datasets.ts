// Loading image datasets into flat byte arrays (NHWC), and reporting which are present.
import { readIdx, readMaybeGzip, parseIdx, readIdxDims, type IdxArray } from './idx.js';
import { DatasetError, findDatasetFiles, type DatasetFiles, type SplitFiles } from './files.js';
import { KNOWN_DATASETS, type KnownDataset, type KnownName, type Role } from './known.js';
import { isVerified, verifySha256 } from './verify.js';
import { CIFAR_CLASSES, CIFAR_SIDE, CIFAR_TEST_FILE, CIFAR_TRAIN_FILES, checkCifarFiles, cifarFolder, loadCifarSplit } from './cifar10.js';
import { findImageFiles, firstImageShape, loadImageEntries, type Reference } from './image-folder.js';
import { tint } from './colored-mnist.js';

export { DatasetError } from './files.js';

export type DatasetName = KnownName | 'idx' | 'cifar10' | 'images' | 'colored-mnist';

/** Datasets read from a folder the user names (dataset.dir). */
export const DIR_DATASETS: readonly DatasetName[] = ['idx', 'cifar10', 'images'];

export interface DatasetSpec {
  name: DatasetName;
  /** Absolute directory; required for 'idx', overrides the default place for known datasets. */
  dir?: string | null;
  /** Keep the first N images in file order; null or 0 keeps all. */
  train_limit?: number | null;
  test_limit?: number | null;
  /** images without train/ and test/ folders: the fraction of files held out for testing. */
  test_fraction?: number;
  /** colored-mnist: the seed of the digits' colours. */
  tint_seed?: number;
}

export interface ImageSet {
  count: number;
  /** count*h*w*c raw bytes, row-major NHWC. */
  images: Uint8Array;
  labels: Uint8Array | null;
  /** The file the labels were read from, for error messages; null or absent when there are none. */
  labelFile?: string | null;
}

export interface Dataset {
  name: string;
  /** The directory the files were read from. */
  source: string;
  height: number;
  width: number;
  channels: number;
  train: ImageSet;
  test: ImageSet;
  /** Class names by label (cifar10, images with class folders); absent where labels are bare numbers. */
  classes?: string[] | null;
}

interface Shape {
  height: number;
  width: number;
  channels: number;
}

interface LoadedSplit extends Shape {
  set: ImageSet;
}

function imageShape(idx: IdxArray): { count: number } & Shape {
  const d = idx.dims;
  if (d.length === 3) return { count: d[0], height: d[1], width: d[2], channels: 1 };
  if (d.length === 4) return { count: d[0], height: d[1], width: d[2], channels: d[3] };
  const magic = `0x00000${(0x800 + d.length).toString(16)}`;
  throw new DatasetError(
    `${idx.file}: wrong magic ${magic} for an image file: expected 0x00000803 (n, h, w) or 0x00000804 (n, h, w, c)` +
      (d.length === 1 ? '; this looks like a label file' : ''),
    true,
  );
}

function checkLabels(idx: IdxArray, images: IdxArray, count: number): Uint8Array {
  if (idx.dims.length !== 1) {
    const magic = `0x00000${(0x800 + idx.dims.length).toString(16)}`;
    throw new DatasetError(`${idx.file}: wrong magic ${magic} for a label file: expected 0x00000801`, true);
  }
  if (idx.dims[0] !== count) {
    throw new DatasetError(
      `${idx.file}: dims mismatch: ${idx.dims[0]} labels for ${count} images in ${images.file}`,
      true,
    );
  }
  return idx.data;
}

/** First `limit` items of a flat array; copied so the full file's buffer can be freed. */
function head(data: Uint8Array, itemSize: number, total: number, limit: number): Uint8Array {
  return limit >= total ? data : data.slice(0, limit * itemSize);
}

function effectiveLimit(limit: number | null | undefined, what: string): number {
  if (limit === null || limit === undefined || limit === 0) return Infinity;
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new DatasetError(`${what} must be a non-negative integer or null, got ${limit}`);
  }
  return limit;
}

type Reader = (file: string, role: Role) => Promise<IdxArray>;

/**
 * Why each split needs an image. A run without test images would end with no test bits/dim,
 * the figure runs are compared on, so an empty test file is refused rather than skipped.
 */
const NEEDS = {
  train: 'training needs at least one image',
  test: 'a run reports its test bits/dim on the test images and needs at least one',
};

async function loadSplit(files: SplitFiles, split: 'train' | 'test', limit: number, read: Reader): Promise<LoadedSplit> {
  const [images, labels] = await Promise.all([
    read(files.images, `${split}-images`),
    files.labels === null ? null : read(files.labels, `${split}-labels`),
  ]);
  const { count: total, ...shape } = imageShape(images);
  if (total === 0) throw new DatasetError(`${files.images}: holds no images (dims [${images.dims.join(', ')}]); ${NEEDS[split]}`, true);
  const count = Math.min(total, limit);
  const pixels = shape.height * shape.width * shape.channels;
  const labelBytes = labels === null ? null : checkLabels(labels, images, total);
  return {
    ...shape,
    set: {
      count,
      images: head(images.data, pixels, total, count),
      labels: labelBytes === null ? null : head(labelBytes, 1, total, count),
      labelFile: files.labels,
    },
  };
}

function sameShape(a: Shape, b: Shape): boolean {
  return a.height === b.height && a.width === b.width && a.channels === b.channels;
}

async function loadFiles(name: string, files: DatasetFiles, spec: DatasetSpec, read: Reader): Promise<Dataset> {
  const trainLimit = effectiveLimit(spec.train_limit, 'train_limit');
  const testLimit = effectiveLimit(spec.test_limit, 'test_limit');
  const [train, test] = await Promise.all([
    loadSplit(files.train, 'train', trainLimit, read),
    loadSplit(files.test, 'test', testLimit, read),
  ]);
  if (!sameShape(train, test)) {
    const fmt = (s: Shape) => `${s.height}x${s.width}x${s.channels}`;
    throw new DatasetError(
      `dims mismatch: train images ${files.train.images} are ${fmt(train)}, test images ${files.test.images} are ${fmt(test)}`,
      true,
    );
  }
  const { height, width, channels } = train;
  return { name, source: files.dir, height, width, channels, train: train.set, test: test.set };
}

async function knownFiles(known: KnownDataset, dir: string | null | undefined): Promise<DatasetFiles> {
  let files: DatasetFiles;
  try {
    files = await findDatasetFiles(dir ?? known.defaultDir());
  } catch (err) {
    if (err instanceof DatasetError && !dir) throw new DatasetError(`${known.name}: ${err.message}. ${known.missingHint}`);
    throw err;
  }
  // Known datasets are checked file by file against their hashes: all four must be there.
  for (const split of [files.train, files.test]) {
    if (split.labels === null) throw new DatasetError(`${known.name}: no label file next to ${split.images}`);
  }
  return files;
}

function checkedReader(known: KnownDataset): Reader {
  return async (file, role) => {
    const bytes = await readMaybeGzip(file);
    await verifySha256(file, bytes, known.sha256[role]);
    return parseIdx(bytes, file);
  };
}

const plainReader: Reader = (file) => readIdx(file);

function needDir(spec: DatasetSpec, what: string): string {
  if (!spec.dir) throw new DatasetError(`dataset '${spec.name}' needs a dir: ${what}`);
  return spec.dir;
}

async function loadCifar(spec: DatasetSpec): Promise<Dataset> {
  const folder = await cifarFolder(needDir(spec, 'the folder holding data_batch_1.bin … test_batch.bin'));
  const trainLimit = effectiveLimit(spec.train_limit, 'train_limit');
  const testLimit = effectiveLimit(spec.test_limit, 'test_limit');
  const [train, test] = await Promise.all([loadCifarSplit(folder, CIFAR_TRAIN_FILES, trainLimit), loadCifarSplit(folder, [CIFAR_TEST_FILE], testLimit)]);
  return { name: 'cifar10', source: folder, height: CIFAR_SIDE, width: CIFAR_SIDE, channels: 3, train, test, classes: CIFAR_CLASSES };
}

async function loadImages(spec: DatasetSpec): Promise<Dataset> {
  const splits = await findImageFiles(needDir(spec, 'the folder holding the PNG or JPEG files'), spec.test_fraction);
  for (const [split, entries] of [['train', splits.train], ['test', splits.test]] as const) {
    if (entries.length === 0) throw new DatasetError(`images: no PNG or JPEG ${split} images in ${splits.dir}; ${NEEDS[split]}`, true);
  }
  const ref: { current: Reference | null } = { current: null };
  // One after the other: the first image decoded sets the size and mode both splits are checked against.
  const train = await loadImageEntries(splits.train, effectiveLimit(spec.train_limit, 'train_limit'), splits.dir, ref);
  const test = await loadImageEntries(splits.test, effectiveLimit(spec.test_limit, 'test_limit'), splits.dir, ref);
  const { height, width, channels } = ref.current!.image;
  return { name: 'images', source: splits.dir, height, width, channels, train, test, classes: splits.classes };
}

async function loadColoredMnist(spec: DatasetSpec): Promise<Dataset> {
  const mnist = await loadDataset({ name: 'mnist', train_limit: spec.train_limit, test_limit: spec.test_limit });
  const pixels = mnist.height * mnist.width;
  const seed = spec.tint_seed ?? 0;
  return { ...mnist, name: 'colored-mnist', channels: 3, train: tint(mnist.train, pixels, seed, 'train'), test: tint(mnist.test, pixels, seed, 'test') };
}

export async function loadDataset(spec: DatasetSpec): Promise<Dataset> {
  if (spec.name === 'idx') {
    return loadFiles('idx', await findDatasetFiles(needDir(spec, 'the directory holding its IDX files')), spec, plainReader);
  }
  if (spec.name === 'cifar10') return loadCifar(spec);
  if (spec.name === 'images') return loadImages(spec);
  if (spec.name === 'colored-mnist') return loadColoredMnist(spec);
  const known = KNOWN_DATASETS[spec.name];
  if (known === undefined) {
    throw new DatasetError(`unknown dataset "${spec.name}": expected one of mnist, fashion-mnist, colored-mnist, cifar10, images, idx`);
  }
  return loadFiles(known.name, await knownFiles(known, spec.dir), spec, checkedReader(known));
}

export interface DatasetStatus {
  name: string;
  available: boolean;
  path: string | null;
  detail: string;
}

async function splitSummary(files: SplitFiles): Promise<string> {
  const dims = await readIdxDims(files.images);
  const shape = dims.slice(1).join('x');
  return `${dims[0]} ${shape}${files.labels ? ' labelled' : ''}`;
}

async function statusOf(known: KnownDataset): Promise<DatasetStatus> {
  let files: DatasetFiles;
  try {
    files = await findDatasetFiles(known.defaultDir());
  } catch (err) {
    return { name: known.name, available: false, path: null, detail: `${(err as Error).message}. ${known.missingHint}` };
  }
  try {
    const [train, test] = await Promise.all([splitSummary(files.train), splitSummary(files.test)]);
    const all = [files.train.images, files.train.labels, files.test.images, files.test.labels];
    const roles: Role[] = ['train-images', 'train-labels', 'test-images', 'test-labels'];
    const checks = await Promise.all(all.map((f, i) => (f ? isVerified(f, known.sha256[roles[i]]) : false)));
    const verified = checks.every(Boolean) ? 'checksums verified' : 'checksums not yet verified (checked on first load)';
    return { name: known.name, available: true, path: files.dir, detail: `train ${train}, test ${test}; ${verified}` };
  } catch (err) {
    return { name: known.name, available: false, path: files.dir, detail: (err as Error).message };
  }
}

/** Presence, place and size of each built-in dataset, for `pxl doctor`. Reads headers only. */
export async function datasetStatus(): Promise<DatasetStatus[]> {
  return Promise.all(Object.values(KNOWN_DATASETS).map(statusOf));
}

/** Image height, width and channels from the training images' header alone (for `pxl inspect`). */
export async function datasetShape(spec: DatasetSpec): Promise<Shape> {
  if (spec.name === 'cifar10') {
    await checkCifarFiles(needDir(spec, 'the folder holding data_batch_1.bin … test_batch.bin'));
    return { height: CIFAR_SIDE, width: CIFAR_SIDE, channels: 3 };
  }
  if (spec.name === 'images') return firstImageShape(needDir(spec, 'the folder holding the PNG or JPEG files'), spec.test_fraction);
  const colored = spec.name === 'colored-mnist';
  let files: DatasetFiles;
  if (spec.name === 'idx') {
    files = await findDatasetFiles(needDir(spec, 'the directory holding its IDX files'));
  } else {
    files = await knownFiles(KNOWN_DATASETS[spec.name === 'colored-mnist' ? 'mnist' : spec.name], colored ? null : spec.dir);
  }
  const dims = await readIdxDims(files.train.images);
  const { height, width, channels } = imageShape({ file: files.train.images, dims, data: new Uint8Array(0) });
  return { height, width, channels: colored ? 3 : channels };
}
