// The colour datasets through the loader API: CIFAR-10 files written here in the official binary
// format, folders of PNG and JPEG files, and tinted MNIST.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetShape, loadDataset, type DatasetSpec } from '../../src/data/datasets.js';
import { DatasetError } from '../../src/data/files.js';
import { removeTempDirs, tempDir } from './helpers.js';

afterAll(removeTempDirs);

/** A CIFAR record: label, then R, G and B planes, each pixel p of plane c holding (seed + 3p + c) % 256. */
function record(label: number, seed: number): Buffer {
  const r = Buffer.alloc(3073);
  r[0] = label;
  for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) r[1 + c * 1024 + p] = (seed + 3 * p + c) % 256;
  return r;
}

function writeCifar(dir: string, perFile = 2): void {
  mkdirSync(dir, { recursive: true });
  for (let f = 1; f <= 5; f++) writeFileSync(join(dir, `data_batch_${f}.bin`), Buffer.concat(Array.from({ length: perFile }, (_, i) => record((f + i) % 10, 10 * f + i))));
  writeFileSync(join(dir, 'test_batch.bin'), Buffer.concat([record(9, 200), record(0, 201)]));
}

async function failure(spec: DatasetSpec): Promise<DatasetError> {
  const err = await loadDataset(spec).then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(DatasetError);
  return err as DatasetError;
}

describe('cifar10', () => {
  it('reads every batch into NHWC bytes with their labels and class names', async () => {
    const dir = tempDir();
    writeCifar(dir);
    const d = await loadDataset({ name: 'cifar10', dir });
    expect(d).toMatchObject({ name: 'cifar10', height: 32, width: 32, channels: 3, source: dir });
    expect(d.train.count).toBe(10);
    expect(d.test.count).toBe(2);
    expect(d.train.images.length).toBe(10 * 3072);
    // Train image 3 is data_batch_2's second record: seed 21, label 3. Pixel p, channel c at 3p + c.
    const img = d.train.images.subarray(3 * 3072, 4 * 3072);
    expect(Array.from(img.subarray(0, 6))).toEqual([21, 22, 23, 24, 25, 26]);
    expect(img[3 * 1023 + 2]).toBe((21 + 3 * 1023 + 2) % 256);
    expect(Array.from(d.train.labels!)).toEqual([1, 2, 2, 3, 3, 4, 4, 5, 5, 6]);
    expect(Array.from(d.test.labels!)).toEqual([9, 0]);
    expect(d.test.images[0]).toBe(200);
    expect(d.classes![3]).toBe('cat');
  });

  it('finds the files inside the extracted cifar-10-batches-bin folder, and keeps the first N', async () => {
    const dir = tempDir();
    writeCifar(join(dir, 'cifar-10-batches-bin'), 3);
    const d = await loadDataset({ name: 'cifar10', dir, train_limit: 4, test_limit: 1 });
    expect(d.train.count).toBe(4);
    expect(d.test.count).toBe(1);
    expect(Array.from(d.train.labels!)).toEqual([1, 2, 3, 2]);
    expect(d.train.images[3 * 3072]).toBe(20); // data_batch_2's first record
    expect(await datasetShape({ name: 'cifar10', dir })).toEqual({ height: 32, width: 32, channels: 3 });
  });

  it('names a truncated file, as bad input, before reading any', async () => {
    const dir = tempDir();
    writeCifar(dir);
    writeFileSync(join(dir, 'data_batch_5.bin'), Buffer.concat([record(0, 0), record(1, 1).subarray(0, 1000)]));
    const err = await failure({ name: 'cifar10', dir });
    expect(err.message).toContain(`${join(dir, 'data_batch_5.bin')}: 4073 bytes is not a whole number of 3073-byte records`);
    expect(err.message).toContain('truncated or in another format');
    expect(err.badInput).toBe(true);
  });

  it('names a file of another format by its labels', async () => {
    const dir = tempDir();
    writeCifar(dir);
    const other = record(0, 0);
    other[0] = 57;
    writeFileSync(join(dir, 'test_batch.bin'), other);
    const err = await failure({ name: 'cifar10', dir });
    expect(err.message).toContain(`${join(dir, 'test_batch.bin')}: record 0 has label 57, expected 0..9`);
    expect(err.badInput).toBe(true);
  });

  it('names a missing batch file as the environment (exit 1)', async () => {
    const dir = tempDir();
    writeCifar(dir);
    const { rmSync } = await import('node:fs');
    rmSync(join(dir, 'data_batch_3.bin'));
    const err = await failure({ name: 'cifar10', dir });
    expect(err.message).toContain(`${join(dir, 'data_batch_3.bin')}: file not found`);
    expect(err.badInput).toBe(false);
  });

  it('says how to get the binary version for the Python one', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'cifar-10-batches-py'));
    const inFolder = await failure({ name: 'cifar10', dir });
    expect(inFolder.message).toContain(`${join(dir, 'cifar-10-batches-py')} is the Python (pickle) version`);
    expect(inFolder.message).toContain('cifar-10-binary.tar.gz');
    expect(inFolder.badInput).toBe(true);
    const flat = tempDir();
    writeFileSync(join(flat, 'data_batch_1'), 'pickle');
    expect((await failure({ name: 'cifar10', dir: flat })).message).toContain(`${join(flat, 'data_batch_1')} is the Python (pickle) version`);
  });

  it('calls a missing folder the environment', async () => {
    const err = await failure({ name: 'cifar10', dir: join(tempDir(), 'nowhere') });
    expect(err.message).toContain('dataset directory not found');
    expect(err.badInput).toBe(false);
  });
});

/** A PNG of `colorType` whose pixel p has RGB (base + p, base + 2p, base + 3p) mod 256 (grey: R). */
function png(width: number, height: number, base: number, opts: { colorType?: 0 | 2 | 6; alpha?: number } = {}): Buffer {
  const p = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) {
    p.data[4 * i] = (base + i) % 256;
    p.data[4 * i + 1] = opts.colorType === 0 ? (base + i) % 256 : (base + 2 * i) % 256;
    p.data[4 * i + 2] = opts.colorType === 0 ? (base + i) % 256 : (base + 3 * i) % 256;
    p.data[4 * i + 3] = i === 0 && opts.alpha !== undefined ? opts.alpha : 255;
  }
  return PNG.sync.write(p, { colorType: opts.colorType ?? 2, inputHasAlpha: true });
}

/** A 2x1 palette PNG (colour type 3) of red then blue, built chunk by chunk: pngjs writes no palette PNGs. */
function palettePng(): Buffer {
  const chunk = (type: string, body: Buffer) => {
    const typed = Buffer.concat([Buffer.from(type, 'latin1'), body]);
    const out = Buffer.alloc(typed.length + 8);
    out.writeUInt32BE(body.length, 0);
    typed.copy(out, 4);
    out.writeUInt32BE(crc32(typed), 4 + typed.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(2, 0);
  ihdr.writeUInt32BE(1, 4);
  ihdr.set([8, 3, 0, 0, 0], 8); // 8 bits, palette
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('PLTE', Buffer.from([255, 0, 0, 0, 0, 255])), chunk('IDAT', deflateSync(Buffer.from([0, 0, 1]))), chunk('IEND', Buffer.alloc(0))]);
}

function write(root: string, files: Record<string, Buffer>): string {
  for (const [name, bytes] of Object.entries(files)) {
    mkdirSync(join(root, name, '..'), { recursive: true });
    writeFileSync(join(root, name), bytes);
  }
  return root;
}

describe('images', () => {
  it('reads RGB PNGs from train/ and test/ class folders: NHWC bytes, sorted class ids', async () => {
    const dir = write(tempDir(), {
      'train/dog/a.png': png(3, 2, 10),
      'train/cat/b.png': png(3, 2, 20),
      'train/cat/a.png': png(3, 2, 30),
      'test/dog/z.png': png(3, 2, 40),
      'notes.txt': Buffer.from('skipped'),
    });
    const d = await loadDataset({ name: 'images', dir });
    expect(d).toMatchObject({ name: 'images', height: 2, width: 3, channels: 3, classes: ['cat', 'dog'] });
    expect(d.train.count).toBe(3);
    // Order: class, then name: cat/a (30), cat/b (20), dog/a (10).
    expect(Array.from(d.train.labels!)).toEqual([0, 0, 1]);
    expect(Array.from(d.train.images.subarray(0, 6))).toEqual([30, 30, 30, 31, 32, 33]);
    expect(d.train.images[18]).toBe(20);
    expect(Array.from(d.test.labels!)).toEqual([1]);
    expect(d.test.images[0]).toBe(40);
  });

  it('reads grey PNGs as one channel, and holds out a fixed tenth of a flat folder for testing', async () => {
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 20; i++) files[`img${String(i).padStart(2, '0')}.png`] = png(2, 2, i, { colorType: 0 });
    const dir = write(tempDir(), files);
    const d = await loadDataset({ name: 'images', dir });
    expect(d).toMatchObject({ channels: 1, height: 2, width: 2, classes: null });
    expect(d.train.labels).toBeNull();
    expect([d.train.count, d.test.count]).toEqual([18, 2]);
    const firsts = (s: Uint8Array, n: number) => Array.from({ length: n }, (_, i) => s[4 * i]);
    const all = [...firsts(d.train.images, 18), ...firsts(d.test.images, 2)].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 20 }, (_, i) => i)); // disjoint, nothing lost
    const again = await loadDataset({ name: 'images', dir, test_fraction: 0.1 });
    expect(again.test.images).toEqual(d.test.images);
    expect((await loadDataset({ name: 'images', dir, test_fraction: 0.5 })).test.count).toBe(10);
  });

  it('reads JPEGs, colour as 3 channels', async () => {
    const rgba = Buffer.alloc(8 * 8 * 4, 0);
    for (let i = 0; i < 64; i++) rgba.set([200, 40, 40, 255], 4 * i);
    const red = jpeg.encode({ width: 8, height: 8, data: rgba }, 95).data;
    const dir = write(tempDir(), { 'train/a.jpg': red, 'test/b.jpeg': red });
    const d = await loadDataset({ name: 'images', dir });
    expect(d).toMatchObject({ channels: 3, height: 8, width: 8 });
    const [r, g, b] = d.train.images;
    expect(Math.abs(r - 200)).toBeLessThan(8);
    expect(Math.abs(g - 40)).toBeLessThan(8);
    expect(Math.abs(b - 40)).toBeLessThan(8);
  });

  it('reads palette PNGs as RGB', async () => {
    const dir = write(tempDir(), { 'train/a.png': palettePng(), 'test/b.png': palettePng() });
    const d = await loadDataset({ name: 'images', dir });
    expect(d).toMatchObject({ channels: 3, height: 1, width: 2 });
    expect(Array.from(d.train.images)).toEqual([255, 0, 0, 0, 0, 255]);
  });

  it('refuses mixed sizes, naming two files', async () => {
    const dir = write(tempDir(), { 'train/a.png': png(3, 2, 0), 'train/b.png': png(2, 3, 0), 'test/c.png': png(3, 2, 0) });
    const err = await failure({ name: 'images', dir });
    expect(err.message).toContain('mixed sizes: train/a.png is 3x2 RGB PNG (3 channels), train/b.png is 2x3 RGB PNG (3 channels)');
    expect(err.badInput).toBe(true);
  });

  it('refuses mixed modes across the splits, naming two files', async () => {
    const dir = write(tempDir(), { 'train/a.png': png(2, 2, 0), 'test/c.png': png(2, 2, 0, { colorType: 0 }) });
    const err = await failure({ name: 'images', dir });
    expect(err.message).toContain('mixed modes: train/a.png is 2x2 RGB PNG (3 channels), test/c.png is 2x2 grey PNG (1 channel)');
  });

  it('refuses transparency and files that are not images, naming them', async () => {
    const dir = write(tempDir(), { 'a.png': png(2, 2, 0, { colorType: 6, alpha: 0 }), 'b.png': png(2, 2, 0, { colorType: 6 }) });
    const err = await failure({ name: 'images', dir });
    expect(err.message).toMatch(/a\.png: has transparent pixels \(alpha 0 at pixel 0\).*flatten/);
    const opaque = write(tempDir(), { 'a.png': png(2, 2, 0, { colorType: 6 }), 'b.png': png(2, 2, 0, { colorType: 6 }) });
    expect((await loadDataset({ name: 'images', dir: opaque })).channels).toBe(3);
    const fake = write(tempDir(), { 'a.png': png(2, 2, 0), 'b.png': Buffer.from('not a png at all') });
    expect((await failure({ name: 'images', dir: fake })).message).toContain(`${join(fake, 'b.png')}: not a PNG or JPEG file`);
  });

  it('refuses a test class with no training folder, and a folder with too few images', async () => {
    const dir = write(tempDir(), { 'train/cat/a.png': png(2, 2, 0), 'test/cow/b.png': png(2, 2, 0) });
    expect((await failure({ name: 'images', dir })).message).toContain('class "cow" has no folder in train/');
    const lone = write(tempDir(), { 'train/a.png': png(2, 2, 0), 'train/b.png': png(2, 2, 0) });
    expect((await failure({ name: 'images', dir: lone })).message).toContain(`${join(lone, 'train')} has no test/ next to it`);
    const one = write(tempDir(), { 'a.png': png(2, 2, 0) });
    expect((await failure({ name: 'images', dir: one })).message).toContain('holds 1 PNG or JPEG file(s)');
  });
});

describe('colored-mnist', () => {
  let d: Awaited<ReturnType<typeof loadDataset>>;
  let grey: Awaited<ReturnType<typeof loadDataset>>;
  beforeAll(async () => {
    [d, grey] = await Promise.all([loadDataset({ name: 'colored-mnist', train_limit: 50, test_limit: 10 }), loadDataset({ name: 'mnist', train_limit: 50, test_limit: 10 })]);
  });

  it('tints MNIST digits: RGB, black background, one full-saturation colour per image, labels kept', () => {
    expect(d).toMatchObject({ name: 'colored-mnist', height: 28, width: 28, channels: 3 });
    expect(d.train.images.length).toBe(50 * 784 * 3);
    expect(d.train.labels).toEqual(grey.train.labels);
    for (const n of [0, 7, 49]) {
      const at = Array.from({ length: 784 }, (_, p) => p).filter((p) => grey.train.images[n * 784 + p] === 255);
      const rgb = (p: number) => Array.from(d.train.images.subarray((n * 784 + p) * 3, (n * 784 + p) * 3 + 3));
      const colour = rgb(at[0]);
      expect(Math.max(...colour)).toBe(255); // full value
      expect(Math.min(...colour)).toBe(0); // full saturation
      for (const p of at) expect(rgb(p)).toEqual(colour); // one colour per image
      for (let p = 0; p < 784; p++) if (grey.train.images[n * 784 + p] === 0) expect(rgb(p)).toEqual([0, 0, 0]);
    }
  });

  it('draws the same colours for the same seed and index, others for another seed', async () => {
    const again = await loadDataset({ name: 'colored-mnist', train_limit: 10, test_limit: 1 });
    expect(again.train.images).toEqual(d.train.images.subarray(0, 10 * 784 * 3));
    const other = await loadDataset({ name: 'colored-mnist', train_limit: 10, test_limit: 1, tint_seed: 1 });
    expect(other.train.images).not.toEqual(again.train.images);
    expect(await datasetShape({ name: 'colored-mnist' })).toEqual({ height: 28, width: 28, channels: 3 });
  });
});
