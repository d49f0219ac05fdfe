// dataset `images`: a folder of PNG and JPEG files of one size and mode.
//
// Layouts: the files themselves, or train/ and test/ subfolders; in each, either the image files
// or one subfolder per class (class ids are the sorted folder names, kept in Dataset.classes).
// Without train/ and test/, dataset.test_fraction of the files (default 0.1, at least one) are
// held out for testing: the first of the sorted paths shuffled by a fixed seed, so the test
// images do not change with the experiment's seed and runs stay comparable. Files with other
// extensions and hidden files are skipped. File order (what train_limit keeps) is by class,
// then by name.
import { readdir, readFile } from 'node:fs/promises';
import { extname, isAbsolute, join, relative } from 'node:path';
import { createRng, deriveSeed } from '../util/random.js';
import { decodeImage, IMAGE_EXTENSIONS, type DecodedImage } from './decode-image.js';
import { DatasetError } from './files.js';
import type { ImageSet } from './datasets.js';

interface Entry {
  file: string;
  label: number | null;
}

export interface FolderSplits {
  dir: string;
  train: Entry[];
  test: Entry[];
  classes: string[] | null;
}

export const DEFAULT_TEST_FRACTION = 0.1;
/** The held-out test files' shuffle: fixed, see the header. */
const TEST_SPLIT_SEED = deriveSeed(0, 'images-test-split');

async function list(dir: string): Promise<{ files: string[]; dirs: string[] }> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DatasetError(`images: dataset directory not found: ${dir}`);
    if (code === 'ENOTDIR') throw new DatasetError(`images: dataset path is not a directory: ${dir}`);
    throw new DatasetError(`images: cannot list ${dir}: ${(err as Error).message}`);
  }
  const visible = entries.filter((e) => !e.name.startsWith('.'));
  const files = visible.filter((e) => e.isFile() && IMAGE_EXTENSIONS.includes(extname(e.name).toLowerCase())).map((e) => e.name).sort();
  const dirs = visible.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  return { files, dirs };
}

/** One split's images: the files in `dir`, or one subfolder per class. */
async function splitEntries(dir: string): Promise<{ entries: { file: string; cls: string | null }[]; classes: string[] | null }> {
  const { files, dirs } = await list(dir);
  if (files.length > 0 && dirs.length > 0) {
    throw new DatasetError(`images: ${dir} holds both image files (${files[0]}) and folders (${dirs[0]}): expected either the images or one folder of images per class`, true);
  }
  if (dirs.length === 0) return { entries: files.map((f) => ({ file: join(dir, f), cls: null })), classes: null };
  const entries = [];
  for (const cls of dirs) {
    const inner = await list(join(dir, cls));
    if (inner.dirs.length > 0) throw new DatasetError(`images: ${join(dir, cls, inner.dirs[0])}: class folders hold image files, not further folders`, true);
    entries.push(...inner.files.map((f) => ({ file: join(dir, cls, f), cls })));
  }
  return { entries, classes: dirs };
}

function labelled(entries: { file: string; cls: string | null }[], classes: string[] | null, dir: string): Entry[] {
  return entries.map(({ file, cls }) => {
    if (cls === null) return { file, label: null };
    const label = classes!.indexOf(cls);
    if (label < 0) throw new DatasetError(`images: ${join(dir, cls)}: class "${cls}" has no folder in train/, so it has no class id (classes: ${classes!.join(', ')})`, true);
    return { file, label };
  });
}

/** The files of both splits and their class ids, from the folder's layout. */
export async function findImageFiles(dir: string, testFraction = DEFAULT_TEST_FRACTION): Promise<FolderSplits> {
  if (!isAbsolute(dir)) throw new DatasetError(`dataset directory must be an absolute path, got "${dir}"`);
  const top = await list(dir);
  if (top.dirs.includes('train') && top.dirs.includes('test')) {
    const [train, test] = await Promise.all([splitEntries(join(dir, 'train')), splitEntries(join(dir, 'test'))]);
    if ((train.classes === null) !== (test.classes === null)) {
      const [withClasses, without] = train.classes ? ['train', 'test'] : ['test', 'train'];
      throw new DatasetError(`images: ${join(dir, withClasses)} has class folders but ${join(dir, without)} does not: both or neither`, true);
    }
    const classes = train.classes;
    checkClassCount(dir, classes);
    return { dir, classes, train: labelled(train.entries, classes, join(dir, 'train')), test: labelled(test.entries, classes, join(dir, 'test')) };
  }
  const lone = ['train', 'test'].find((d) => top.dirs.includes(d));
  if (lone) {
    // Read as a class folder it would silently mix the splits up.
    const other = lone === 'train' ? 'test' : 'train';
    throw new DatasetError(`images: ${join(dir, lone)} has no ${other}/ next to it: give both train/ and test/, or neither (dataset.test_fraction then holds test images out)`, true);
  }
  const all = await splitEntries(dir);
  checkClassCount(dir, all.classes);
  const entries = labelled(all.entries, all.classes, dir);
  if (entries.length < 2) throw new DatasetError(`images: ${dir} holds ${entries.length} PNG or JPEG file(s); training and testing need at least one each`, true);
  const held = Math.min(entries.length - 1, Math.max(1, Math.round(testFraction * entries.length)));
  const order = Uint32Array.from({ length: entries.length }, (_, i) => i);
  createRng(TEST_SPLIT_SEED).shuffle(order);
  const isTest = new Uint8Array(entries.length);
  for (const k of order.subarray(0, held)) isTest[k] = 1;
  return { dir, classes: all.classes, train: entries.filter((_, i) => !isTest[i]), test: entries.filter((_, i) => isTest[i]) };
}

function checkClassCount(dir: string, classes: string[] | null): void {
  if (classes && classes.length > 256) throw new DatasetError(`images: ${dir} has ${classes.length} class folders; pxl keeps class ids in one byte, at most 256`, true);
}

async function decodeFile(file: string): Promise<DecodedImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new DatasetError(`images: ${file}: cannot read: ${(err as Error).message}`);
  }
  return decodeImage(file, bytes);
}

export interface Reference {
  file: string;
  image: DecodedImage;
}

const fmt = (i: DecodedImage) => `${i.width}x${i.height} ${i.mode}`;

/** Same size and number of channels as the first image read, or an error naming both files. */
function checkSame(ref: Reference, file: string, image: DecodedImage, root: string): void {
  const r = ref.image;
  const what = r.height !== image.height || r.width !== image.width ? 'sizes' : r.channels !== image.channels ? 'modes' : null;
  if (what === null) return;
  throw new DatasetError(
    `images: mixed ${what}: ${relative(root, ref.file)} is ${fmt(r)} (${r.channels} channel${r.channels > 1 ? 's' : ''}), ${relative(root, file)} is ${fmt(image)} (${image.channels} channel${image.channels > 1 ? 's' : ''}) in ${root}: every image must have one size and be all grey or all colour`,
    true,
  );
}

/** The first `limit` entries decoded into one NHWC set; `ref` (the first image decoded) fixes the shape. */
export async function loadImageEntries(entries: Entry[], limit: number, root: string, ref: { current: Reference | null }): Promise<ImageSet> {
  const chosen = entries.slice(0, Math.min(limit, entries.length));
  const labels = chosen.length > 0 && chosen[0].label !== null ? Uint8Array.from(chosen, (e) => e.label!) : null;
  let images = new Uint8Array(0);
  for (let i = 0; i < chosen.length; i++) {
    const image = await decodeFile(chosen[i].file);
    if (ref.current === null) ref.current = { file: chosen[i].file, image };
    checkSame(ref.current, chosen[i].file, image, root);
    if (i === 0) images = new Uint8Array(chosen.length * image.pixels.length);
    images.set(image.pixels, i * image.pixels.length);
  }
  return { count: chosen.length, images, labels };
}

/** Shape of the first training image (for `pxl inspect`). */
export async function firstImageShape(dir: string, testFraction?: number): Promise<{ height: number; width: number; channels: number }> {
  const splits = await findImageFiles(dir, testFraction);
  if (splits.train.length === 0) throw new DatasetError(`images: no PNG or JPEG training images in ${dir}`, true);
  const { height, width, channels } = await decodeFile(splits.train[0].file);
  return { height, width, channels };
}
