// util/: small helpers every layer may use (files, seeded randomness).
//
// Small file helpers shared across concerns.
import writeFileAtomicPackage from 'write-file-atomic';

/**
 * Writes a file so readers see either the old or the new content, never a partial one:
 * write-file-atomic writes a temp file, fsyncs it before the rename (so a power cut cannot
 * leave an empty file under the final name) and removes the temp file when anything fails
 * (so a full disk leaves nothing behind).
 */
export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  writeFileAtomicPackage.sync(path, typeof content === 'string' ? content : Buffer.from(content.buffer, content.byteOffset, content.byteLength));
}
