// Writing small IDX files for tests.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** IDX bytes of unsigned-byte data with the given dims. */
export function idxBytes(dims: number[], data: ArrayLike<number>): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(Uint8Array.from(data))]);
}

const made: string[] = [];

/** A fresh temp dir; `removeTempDirs` (in afterAll) deletes them all. */
export function tempDir(prefix = 'pxl-data-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function writeIdx(dir: string, name: string, dims: number[], data: ArrayLike<number>, gzip = false): string {
  const file = join(dir, name);
  const bytes = idxBytes(dims, data);
  writeFileSync(file, gzip ? gzipSync(bytes) : bytes);
  return file;
}

/** Pixel bytes 0, 1, 2, … (mod 256) for n images of h*w*c. */
export function ramp(n: number, h: number, w: number, c = 1, start = 0): Uint8Array {
  return Uint8Array.from({ length: n * h * w * c }, (_, i) => (start + i) % 256);
}
