// pxl's mark in every PNG it writes: a tEXt chunk "Software: pxl", right after the header,
// so that `pxl sample --out` can tell a grid it may replace from any other file. Written by
// hand: pngjs writes no text chunks, and a chunk is 12 bytes of framing around the text,
// with the CRC from node:zlib.
import { closeSync, openSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
export const MARK_KEYWORD = 'Software';
export const MARK_TEXT = 'pxl';
/** The mark sits right after IHDR: the first bytes of a file tell. */
const HEAD_BYTES = 4096;

/** `png` with pxl's tEXt chunk inserted after its IHDR chunk. */
export function markPng(png: Uint8Array): Buffer {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (!buf.subarray(0, 8).equals(SIGNATURE)) throw new Error('markPng: not a PNG');
  const afterHeader = 8 + 12 + buf.readUInt32BE(8);
  return Buffer.concat([buf.subarray(0, afterHeader), textChunk(MARK_KEYWORD, MARK_TEXT), buf.subarray(afterHeader)]);
}

function textChunk(keyword: string, text: string): Buffer {
  const body = Buffer.concat([Buffer.from('tEXt', 'latin1'), Buffer.from(`${keyword}\0${text}`, 'latin1')]);
  const out = Buffer.alloc(body.length + 8);
  out.writeUInt32BE(body.length - 4, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 4 + body.length);
  return out;
}

export type FileKind = 'pxl-png' | 'png' | 'other';

/** What an existing file is: a PNG pxl wrote (it carries the mark), another PNG, or something else. */
export function fileKind(path: string): FileKind {
  const head = Buffer.alloc(HEAD_BYTES);
  const fd = openSync(path, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, HEAD_BYTES, 0);
  } finally {
    closeSync(fd);
  }
  return pngKind(head.subarray(0, n));
}

/** The same for bytes: walks the chunks before the image data looking for pxl's tEXt chunk. */
export function pngKind(bytes: Buffer): FileKind {
  if (bytes.length < 8 || !bytes.subarray(0, 8).equals(SIGNATURE)) return 'other';
  const wanted = `${MARK_KEYWORD}\0${MARK_TEXT}`;
  for (let at = 8; at + 8 <= bytes.length; ) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    if (type === 'IDAT' || type === 'IEND') break;
    if (type === 'tEXt' && bytes.toString('latin1', at + 8, Math.min(bytes.length, at + 8 + length)) === wanted) return 'pxl-png';
    at += 12 + length;
  }
  return 'png';
}
