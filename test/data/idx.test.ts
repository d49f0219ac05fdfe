import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { parseIdx, readIdx, readIdxDims } from '../../src/data/idx.js';
import { idxBytes, removeTempDirs, tempDir, writeIdx } from './helpers.js';

describe('IDX parsing', () => {
  afterAll(removeTempDirs);

  it('reads dims and a view of the bytes', () => {
    const bytes = idxBytes([2, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const idx = parseIdx(bytes, 'mem');
    expect(idx.dims).toEqual([2, 2, 3]);
    expect(Array.from(idx.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(idx.data.buffer).toBe(bytes.buffer); // no copy
  });

  it('reads gzipped and plain files alike', async () => {
    const dir = tempDir();
    const plain = writeIdx(dir, 'a', [3], [7, 8, 9]);
    const gz = writeIdx(dir, 'b.gz', [3], [7, 8, 9], true);
    for (const f of [plain, gz]) {
      const idx = await readIdx(f);
      expect(idx.dims).toEqual([3]);
      expect(Array.from(idx.data)).toEqual([7, 8, 9]);
    }
  });

  it('reads dims from a file prefix, gzipped too', async () => {
    const dir = tempDir();
    const data = new Uint8Array(100 * 28 * 28);
    expect(await readIdxDims(writeIdx(dir, 'i.gz', [100, 28, 28], data, true))).toEqual([100, 28, 28]);
    expect(await readIdxDims(writeIdx(dir, 'i', [100, 28, 28], data))).toEqual([100, 28, 28]);
  });

  it('names the file and the problem when the file is malformed', async () => {
    const dir = tempDir();
    const good = idxBytes([4, 2, 2], new Uint8Array(16));
    const cases: [string, Buffer, RegExp][] = [
      ['truncated-data', good.subarray(0, good.length - 3), /truncated: dims \[4, 2, 2\] need 16 data bytes, file has 13/],
      ['truncated-header', good.subarray(0, 9), /truncated: header needs 16 bytes/],
      ['tiny', good.subarray(0, 2), /truncated/],
      ['trailing', Buffer.concat([good, Buffer.from([1, 2])]), /2 unexpected bytes after the data/],
      ['bad-magic', Buffer.from('hello world, not idx'), /bad magic number 0x68656c6c/],
      ['wrong-dtype', Buffer.from([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]), /wrong dtype: float32/],
      ['bad-gzip.gz', gzipSync(good).subarray(0, 20), /corrupt gzip data/],
    ];
    for (const [name, bytes, problem] of cases) {
      const file = join(dir, name);
      writeFileSync(file, bytes);
      const err = await readIdx(file).catch((e: Error) => e);
      expect(err, name).toBeInstanceOf(Error);
      expect((err as Error).message, name).toContain(file);
      expect((err as Error).message, name).toMatch(problem);
    }
    const missing = join(dir, 'nope');
    await expect(readIdx(missing)).rejects.toThrow(`${missing}: file not found`);
  });
});
