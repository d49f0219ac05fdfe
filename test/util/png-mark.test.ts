// pxl's mark in its PNGs: a tEXt chunk "Software: pxl" that other readers skip and pxl finds.
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { gridPng } from '../../src/sample/grid.js';
import { markPng, pngKind } from '../../src/util/png-mark.js';

describe('the PNG mark', () => {
  const plain = PNG.sync.write(Object.assign(new PNG({ width: 3, height: 2 }), {}));

  it('is a valid tEXt chunk after the header: pngjs still reads the image, and pngKind finds it', () => {
    const marked = markPng(plain);
    // Signature (8) + IHDR (25), then length 12, "tEXt", "Software\0pxl", CRC.
    expect(marked.subarray(33, 37).readUInt32BE(0)).toBe(12);
    expect(marked.toString('latin1', 37, 53)).toBe('tEXtSoftware\0pxl');
    // CRC-32 of "tEXtSoftware\0pxl", computed independently of node:zlib (bitwise, polynomial 0xEDB88320).
    let crc = 0xffffffff;
    for (const byte of Buffer.from('tEXtSoftware\0pxl', 'latin1')) {
      crc ^= byte;
      for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
    }
    expect(marked.readUInt32BE(53)).toBe((crc ^ 0xffffffff) >>> 0);
    const read = PNG.sync.read(marked);
    expect([read.width, read.height]).toEqual([3, 2]);
    expect(pngKind(marked)).toBe('pxl-png');
  });

  it('tells a PNG without it and a file that is not a PNG', () => {
    expect(pngKind(plain)).toBe('png');
    expect(pngKind(Buffer.from('name: tiny\n'))).toBe('other');
    expect(pngKind(Buffer.alloc(0))).toBe('other');
  });

  it('is in every sample grid', () => {
    expect(pngKind(gridPng([0, 1, 2, 3], { count: 1, columns: 1, height: 2, width: 2, channels: 1, levels: 4 }))).toBe('pxl-png');
  });
});
