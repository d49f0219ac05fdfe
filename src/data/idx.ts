// IDX files (the MNIST format): 2 zero bytes, a dtype byte, a dimension count byte,
// then one big-endian uint32 per dimension, then the values in row-major order.
// Only unsigned bytes (dtype 0x08) are supported: every image dataset we read is 8-bit.
import { readFile, open } from 'node:fs/promises';
import { gunzip, gunzipSync, constants as zlibConstants } from 'node:zlib';
import { promisify } from 'node:util';

const gunzipAsync = promisify(gunzip);

const DTYPE_UBYTE = 0x08;
const DTYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

export interface IdxArray {
  /** Where the bytes came from, for error messages. */
  file: string;
  dims: number[];
  /** A view of the values (no copy). */
  data: Uint8Array;
}

/** A bad IDX file (`badInput`, exit 2), or one that cannot be found or read (exit 1). */
export class IdxError extends Error {
  constructor(
    readonly file: string,
    problem: string,
    readonly badInput = true,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'IdxError';
  }
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Header only: dims and dtype, without checking the payload length. */
export function parseIdxHeader(bytes: Uint8Array, file: string): { dims: number[]; headerBytes: number } {
  if (bytes.length < 4) throw new IdxError(file, `truncated: ${bytes.length} bytes, too short for an IDX header`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = Buffer.from(bytes.subarray(0, 4)).toString('hex');
    throw new IdxError(file, `not an IDX file: bad magic number 0x${magic} (expected 0x000008NN)`);
  }
  const dtype = bytes[2];
  if (dtype !== DTYPE_UBYTE) {
    const name = DTYPE_NAMES[dtype] ?? `unknown dtype 0x${dtype.toString(16)}`;
    throw new IdxError(file, `wrong dtype: ${name} (only unsigned byte IDX files are supported)`);
  }
  const ndim = bytes[3];
  if (ndim < 1) throw new IdxError(file, 'bad magic number: zero dimensions');
  const headerBytes = 4 + 4 * ndim;
  if (bytes.length < headerBytes) throw new IdxError(file, `truncated: header needs ${headerBytes} bytes, file has ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, headerBytes);
  const dims = Array.from({ length: ndim }, (_, i) => view.getUint32(4 + 4 * i, false));
  return { dims, headerBytes };
}

/** Parses IDX bytes (already decompressed); `data` is a view into `bytes`. */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  const { dims, headerBytes } = parseIdxHeader(bytes, file);
  const size = dims.reduce((a, b) => a * b, 1);
  const have = bytes.length - headerBytes;
  if (have < size) {
    throw new IdxError(file, `truncated: dims [${dims.join(', ')}] need ${size} data bytes, file has ${have}`);
  }
  if (have > size) {
    throw new IdxError(file, `${have - size} unexpected bytes after the data of dims [${dims.join(', ')}]`);
  }
  return { file, dims, data: new Uint8Array(bytes.buffer, bytes.byteOffset + headerBytes, size) };
}

async function readBytes(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new IdxError(file, 'file not found', false);
    throw new IdxError(file, `cannot read: ${(err as Error).message}`, false);
  }
}

/** The file's bytes, gunzipped when they start with the gzip magic 1f 8b. */
export async function readMaybeGzip(file: string): Promise<Uint8Array> {
  const raw = await readBytes(file);
  if (!isGzip(raw)) return raw;
  try {
    return await gunzipAsync(raw);
  } catch (err) {
    throw new IdxError(file, `corrupt gzip data (${(err as Error).message})`);
  }
}

export async function readIdx(file: string): Promise<IdxArray> {
  return parseIdx(await readMaybeGzip(file), file);
}

/**
 * Dims from the first few kilobytes only, for status reports: for a gzipped file
 * the prefix is inflated with a sync flush, which returns what it has instead of
 * failing at the missing end of the stream.
 */
export async function readIdxDims(file: string): Promise<number[]> {
  let prefix: Uint8Array;
  try {
    const handle = await open(file, 'r');
    try {
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(4096), 0, 4096, 0);
      prefix = buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new IdxError(file, 'file not found', false);
    throw new IdxError(file, `cannot read: ${(err as Error).message}`, false);
  }
  if (isGzip(prefix)) {
    try {
      prefix = gunzipSync(prefix, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    } catch (err) {
      throw new IdxError(file, `corrupt gzip data (${(err as Error).message})`);
    }
  }
  return parseIdxHeader(prefix, file).dims;
}
