// Reading a config file safely: only regular files, at most MAX_CONFIG_BYTES, and only text.
// A config path can name anything (`extends: /dev/zero`, a folder, a picture); each of those
// is one clear reason, never an endless read or pages of YAML errors about binary bytes.
import { closeSync, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';

/** An experiment or sweep file is a page of settings; 1 MiB leaves room for any real one. */
export const MAX_CONFIG_BYTES = 2 ** 20;

export type ConfigText = { text: string } | { problem: string };

const bytes = (n: number): string => `${n.toLocaleString('en-US')} bytes`;

/** Reads `file` as UTF-8 text, or says in a short clause why it is not a config file. */
export function readConfigText(file: string): ConfigText {
  let st: Stats;
  try {
    st = statSync(file); // before opening: opening a FIFO would block
  } catch (err) {
    return { problem: errnoProblem(err as NodeJS.ErrnoException) };
  }
  const kind = notRegular(st);
  if (kind) return { problem: kind };
  if (st.size > MAX_CONFIG_BYTES) return { problem: tooLarge(`${bytes(st.size)}`) };
  let buf: Buffer;
  try {
    buf = readBounded(file);
  } catch (err) {
    return { problem: errnoProblem(err as NodeJS.ErrnoException) };
  }
  if (buf.length > MAX_CONFIG_BYTES) return { problem: tooLarge(`more than ${bytes(MAX_CONFIG_BYTES)}`) };
  const at = binaryAt(buf);
  if (at >= 0) return { problem: `is not a text file (binary data at byte ${at}); expected a YAML file` };
  return { text: buf.toString('utf8') };
}

const tooLarge = (found: string): string =>
  `is too large for a config file: ${found}, and the limit is 1 MiB (${bytes(MAX_CONFIG_BYTES)})`;

function notRegular(st: Stats): string | null {
  if (st.isFile()) return null;
  if (st.isDirectory()) return 'is a directory, expected a YAML file';
  const kind = st.isCharacterDevice() ? 'a character device' : st.isBlockDevice() ? 'a block device' : st.isFIFO() ? 'a named pipe' : st.isSocket() ? 'a socket' : 'not a plain file';
  return `is not a regular file but ${kind}; expected a YAML file`;
}

/**
 * At most MAX_CONFIG_BYTES + 1 bytes: a file can grow after its stat, and some (under /proc)
 * report size 0, so the size seen at stat time does not bound the read.
 */
function readBounded(file: string): Buffer {
  const fd = openSync(file, 'r');
  try {
    const kind = notRegular(fstatSync(fd)); // the file opened is the file checked
    if (kind) throw Object.assign(new Error(kind), { code: 'EPXLKIND' });
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let n = 0;
    for (let got = -1; got !== 0 && n < buf.length; n += got) got = readSync(fd, buf, n, buf.length - n, null);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

function errnoProblem(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return 'no such file';
    case 'EPXLKIND':
      return err.message;
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
      return 'a part of its path is not a directory';
    default:
      return err.message;
  }
}

/**
 * Offset of the first byte that cannot be in a YAML text file (NUL or another control
 * character YAML forbids, or bytes that are not UTF-8), or -1. Written here because the
 * checks node offers (buffer.isUtf8, TextDecoder's fatal mode) say whether, not where.
 */
export function binaryAt(buf: Uint8Array): number {
  for (let i = 0; i < buf.length; ) {
    const b = buf[i];
    if (b < 0x80) {
      // YAML's printable set: tab, line feed, carriage return and 0x20-0x7E.
      if ((b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) || b === 0x7f) return i;
      i++;
      continue;
    }
    const len = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (len === 0 || i + len > buf.length) return i;
    for (let k = 1; k < len; k++) if ((buf[i + k] & 0xc0) !== 0x80) return i;
    i += len;
  }
  return -1;
}
