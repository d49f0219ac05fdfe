// One PNG (pngjs) or JPEG (jpeg-js) file decoded to 8-bit grey (1 channel) or RGB (3 channels).
//
// Modes: grey PNGs (colour types 0 and 4) and grey JPEGs (one component) give 1 channel; RGB
// and palette PNGs and colour JPEGs give 3. 16-bit PNGs are scaled to 8 bits (pngjs). An alpha
// channel is accepted only when every pixel is opaque: pxl models opaque images, and silently
// dropping transparency would change what the pixels mean.
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { DatasetError } from './files.js';

export interface DecodedImage {
  height: number;
  width: number;
  channels: 1 | 3;
  /** height*width*channels bytes, row-major HWC. */
  pixels: Uint8Array;
  /** What the file is, for messages: "RGB PNG", "grey JPEG", … */
  mode: string;
}

/** Images are decoded whole into memory; this bounds what one file may ask for. */
const MAX_PIXELS = 4096 * 4096;

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function decodeImage(file: string, bytes: Buffer): DecodedImage {
  if (bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return decodePng(file, bytes);
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return decodeJpeg(file, bytes);
  throw new DatasetError(`${file}: not a PNG or JPEG file (its first bytes are neither signature)`, true);
}

function decodePng(file: string, bytes: Buffer): DecodedImage {
  let png: ReturnType<typeof PNG.sync.read>;
  try {
    png = PNG.sync.read(bytes);
  } catch (err) {
    throw new DatasetError(`${file}: corrupt PNG (${(err as Error).message})`, true);
  }
  checkSize(file, png.width, png.height);
  // The file's colour type (pngjs's types list only those it writes; 3 is palette).
  const colorType: number = png.colorType;
  const grey = colorType === 0 || colorType === 4;
  const rgba = png.data; // pngjs always hands back RGBA, 8 bits per channel
  checkOpaque(file, rgba, 4);
  const kind = grey ? 'grey' : colorType === 3 ? 'palette' : 'RGB';
  return { height: png.height, width: png.width, ...fromInterleaved(rgba, png.width * png.height, 4, grey ? 1 : 3), mode: `${kind} PNG` };
}

/**
 * Components in the JPEG's frame header (SOFn): jpeg-js decodes grey JPEGs to RGB and does not
 * say how many components the file had, so the header is read here (a marker walk of a few bytes).
 */
function jpegComponents(bytes: Buffer): number | null {
  for (let at = 2; at + 4 <= bytes.length; ) {
    if (bytes[at] !== 0xff) return null;
    const marker = bytes[at + 1];
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2;
      continue;
    }
    const length = bytes.readUInt16BE(at + 2);
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrame) return at + 9 < bytes.length ? bytes[at + 9] : null;
    at += 2 + length;
  }
  return null;
}

function decodeJpeg(file: string, bytes: Buffer): DecodedImage {
  let img: { width: number; height: number; data: Uint8Array };
  try {
    img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: MAX_PIXELS / 1e6, maxMemoryUsageInMB: 256 });
  } catch (err) {
    throw new DatasetError(`${file}: corrupt or unsupported JPEG (${(err as Error).message})`, true);
  }
  checkSize(file, img.width, img.height);
  const grey = jpegComponents(bytes) === 1;
  return { height: img.height, width: img.width, ...fromInterleaved(img.data, img.width * img.height, 3, grey ? 1 : 3), mode: `${grey ? 'grey' : 'colour'} JPEG` };
}

function checkSize(file: string, width: number, height: number): void {
  if (width * height > MAX_PIXELS) throw new DatasetError(`${file}: ${width}x${height} is larger than the ${MAX_PIXELS.toLocaleString('en-US')} pixels pxl reads from one image`, true);
}

function checkOpaque(file: string, rgba: Uint8Array, stride: number): void {
  for (let i = 3; i < rgba.length; i += stride) {
    if (rgba[i] !== 255) {
      const p = (i - 3) / stride;
      throw new DatasetError(`${file}: has transparent pixels (alpha ${rgba[i]} at pixel ${p}); pxl models opaque images: flatten the images onto a background first`, true);
    }
  }
}

/** The first `channels` of every `stride` bytes (for grey, the R of R=G=B). */
function fromInterleaved(data: Uint8Array, pixels: number, stride: number, channels: 1 | 3): { channels: 1 | 3; pixels: Uint8Array } {
  const out = new Uint8Array(pixels * channels);
  for (let p = 0; p < pixels; p++) for (let c = 0; c < channels; c++) out[p * channels + c] = data[p * stride + c];
  return { channels, pixels: out };
}
