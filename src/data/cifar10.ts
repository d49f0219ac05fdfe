// CIFAR-10 in its official binary version (cifar-10-binary.tar.gz, extracted): data_batch_1.bin …
// data_batch_5.bin for training, test_batch.bin for testing. Each file is a run of 3073-byte
// records: one label byte (0..9), then the 32x32 image as three 1024-byte planes, R, G, B, each
// row-major. pxl keeps images NHWC, so the planes are interleaved on load.
import { readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { DatasetError } from './files.js';
import type { ImageSet } from './datasets.js';

export const CIFAR_SIDE = 32;
const PLANE = CIFAR_SIDE * CIFAR_SIDE;
export const CIFAR_RECORD = 1 + 3 * PLANE;
export const CIFAR_TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
export const CIFAR_TEST_FILE = 'test_batch.bin';
/** The class names of labels 0..9, as batches.meta.txt lists them. */
export const CIFAR_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
/** The folder the binary archive extracts to; accepted inside dataset.dir too. */
const BIN_FOLDER = 'cifar-10-batches-bin';
const GET_BINARY = 'pxl reads the binary version: download cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and extract it (tar xzf), then point dataset.dir at its cifar-10-batches-bin folder';

async function entries(dir: string): Promise<Set<string>> {
  if (!isAbsolute(dir)) throw new DatasetError(`dataset directory must be an absolute path, got "${dir}"`);
  try {
    return new Set(await readdir(dir));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DatasetError(`cifar10: dataset directory not found: ${dir}. ${GET_BINARY}`);
    if (code === 'ENOTDIR') throw new DatasetError(`cifar10: dataset path is not a directory: ${dir}`);
    throw new DatasetError(`cifar10: cannot list dataset directory ${dir}: ${(err as Error).message}`);
  }
}

/** The folder holding the .bin files: `dir` itself, or the archive's folder inside it. */
export async function cifarFolder(dir: string): Promise<string> {
  const names = await entries(dir);
  if (names.has(CIFAR_TEST_FILE) || names.has('data_batch_1.bin')) return dir;
  if (names.has(BIN_FOLDER)) return cifarFolder(join(dir, BIN_FOLDER));
  // The Python version: pickled batches without the .bin suffix, in cifar-10-batches-py.
  if (names.has('data_batch_1') || names.has('test_batch') || names.has('cifar-10-batches-py')) {
    const found = names.has('cifar-10-batches-py') ? join(dir, 'cifar-10-batches-py') : join(dir, names.has('data_batch_1') ? 'data_batch_1' : 'test_batch');
    throw new DatasetError(`cifar10: ${found} is the Python (pickle) version of CIFAR-10. ${GET_BINARY}`, true);
  }
  if (names.has('cifar-10-binary.tar.gz') || names.has('cifar-10-python.tar.gz')) {
    const archive = names.has('cifar-10-binary.tar.gz') ? 'cifar-10-binary.tar.gz' : 'cifar-10-python.tar.gz';
    throw new DatasetError(`cifar10: ${join(dir, archive)} is an archive, not the extracted files. ${GET_BINARY}`, true);
  }
  throw new DatasetError(`cifar10: no ${CIFAR_TEST_FILE} or data_batch_1.bin in ${dir}. ${GET_BINARY}`);
}

/** Records in a file, from its size; a size that is not a whole number of records is another format or a cut-off copy. */
async function recordCount(file: string): Promise<number> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new DatasetError(`cifar10: ${file}: file not found; CIFAR-10 needs ${[...CIFAR_TRAIN_FILES, CIFAR_TEST_FILE].join(', ')}`);
    throw new DatasetError(`cifar10: ${file}: cannot read: ${(err as Error).message}`);
  }
  if (size === 0) throw new DatasetError(`cifar10: ${file}: empty file, expected records of ${CIFAR_RECORD} bytes`, true);
  if (size % CIFAR_RECORD !== 0) {
    throw new DatasetError(
      `cifar10: ${file}: ${size} bytes is not a whole number of ${CIFAR_RECORD}-byte records (1 label byte + 3072 image bytes): ` +
        `the file is truncated or in another format (${Math.floor(size / CIFAR_RECORD)} whole records and ${size % CIFAR_RECORD} bytes over)`,
      true,
    );
  }
  return size / CIFAR_RECORD;
}

async function readRecords(file: string, count: number): Promise<Uint8Array> {
  try {
    const bytes = await readFile(file);
    return bytes.subarray(0, count * CIFAR_RECORD);
  } catch (err) {
    throw new DatasetError(`cifar10: ${file}: cannot read: ${(err as Error).message}`);
  }
}

/** Copies `count` records into `out` from image `at` on: labels checked, planes interleaved to NHWC. */
function convert(file: string, records: Uint8Array, count: number, out: ImageSet, at: number): void {
  const labels = out.labels!;
  for (let i = 0; i < count; i++) {
    const rec = i * CIFAR_RECORD;
    const label = records[rec];
    if (label > 9) {
      throw new DatasetError(`cifar10: ${file}: record ${i} has label ${label}, expected 0..9: not a CIFAR-10 binary file (CIFAR-100's binary version has two label bytes per record)`, true);
    }
    labels[at + i] = label;
    const dst = (at + i) * 3 * PLANE;
    for (let p = 0; p < PLANE; p++) {
      out.images[dst + 3 * p] = records[rec + 1 + p];
      out.images[dst + 3 * p + 1] = records[rec + 1 + PLANE + p];
      out.images[dst + 3 * p + 2] = records[rec + 1 + 2 * PLANE + p];
    }
  }
}

/**
 * The first `limit` images of the files in order (Infinity: all). Every file's size is checked
 * first, so a truncated fifth batch is found before the first four are read.
 */
export async function loadCifarSplit(folder: string, names: string[], limit: number): Promise<ImageSet> {
  const files = names.map((n) => join(folder, n));
  const counts = await Promise.all(files.map(recordCount));
  const total = Math.min(limit, counts.reduce((a, b) => a + b, 0));
  const set: ImageSet = { count: total, images: new Uint8Array(total * 3 * PLANE), labels: new Uint8Array(total) };
  let at = 0;
  for (let f = 0; f < files.length && at < total; f++) {
    const take = Math.min(counts[f], total - at);
    convert(files[f], await readRecords(files[f], take), take, set, at);
    at += take;
  }
  return set;
}

/** Checks the folder and every file's size, without reading images (for `pxl inspect`). */
export async function checkCifarFiles(dir: string): Promise<void> {
  const folder = await cifarFolder(dir);
  await Promise.all([...CIFAR_TRAIN_FILES, CIFAR_TEST_FILE].map((n) => recordCount(join(folder, n))));
}
