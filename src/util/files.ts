// util/: small helpers every layer may use (files, seeded randomness).
//
// Small file helpers shared across concerns.
import { renameSync, writeFileSync } from 'node:fs';

/** Writes a file so readers see either the old or the new content, never a partial one. */
export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content);
  renameSync(tmp, path);
}
