// SHA-256 checks of known datasets, done once per file: a marker under the user's
// cache dir remembers a verified (path, size, mtime), so later loads skip hashing.
// One marker file per data file, written by rename, so concurrent runs cannot clobber
// each other's entries.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DatasetError } from './files.js';

interface Marker {
  path: string;
  size: number;
  mtimeMs: number;
  sha256: string;
}

/** `$XDG_CACHE_HOME/pxl`, else `~/.cache/pxl`. */
export function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'pxl');
}

function markerPath(file: string): string {
  const key = createHash('sha256').update(file).digest('hex').slice(0, 32);
  return join(cacheDir(), 'verified', `${key}.json`);
}

async function readMarker(file: string): Promise<Marker | null> {
  try {
    return JSON.parse(await readFile(markerPath(file), 'utf8')) as Marker;
  } catch {
    return null; // absent or unreadable: verify again
  }
}

/** Whether a marker vouches for the file as it is now on disk. */
export async function isVerified(file: string, expected: string): Promise<boolean> {
  const [marker, st] = await Promise.all([readMarker(file), stat(file).catch(() => null)]);
  return (
    marker !== null &&
    st !== null &&
    marker.path === file &&
    marker.size === st.size &&
    marker.mtimeMs === st.mtimeMs &&
    marker.sha256 === expected
  );
}

async function writeMarker(file: string, sha256: string): Promise<void> {
  const st = await stat(file);
  const marker: Marker = { path: file, size: st.size, mtimeMs: st.mtimeMs, sha256 };
  const target = markerPath(file);
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    await mkdir(join(cacheDir(), 'verified'), { recursive: true });
    await writeFile(tmp, JSON.stringify(marker));
    await rename(tmp, target);
  } catch {
    // A read-only or missing home only costs a re-hash next time.
  }
}

/**
 * Throws when `bytes` (the file's decompressed content) do not hash to `expected`.
 * Skips the hash when a marker already vouches for the file.
 */
export async function verifySha256(file: string, bytes: Uint8Array, expected: string): Promise<void> {
  if (await isVerified(file, expected)) return;
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== expected) {
    throw new DatasetError(
      `${file}: SHA-256 mismatch: expected ${expected}, got ${actual}. ` +
        'The file is corrupt or is not the dataset it is named after.',
      true,
    );
  }
  await writeMarker(file, actual);
}
