// A small model with real optimiser state, saved as a checkpoint, and ways to damage one.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { PixelCNN } from '../../src/model/pixelcnn.js';
import { FusedAdam } from '../../src/train/adam.js';
import { gradientStep } from '../../src/train/trainer.js';
import { smallModel } from './models.js';

const IMAGE = { height: 6, width: 6, channels: 1 };
export const LEVELS = 4;

export function tinyModel(seed = 1): PixelCNN {
  return new PixelCNN(smallModel({ color_levels: LEVELS, blocks: { count: 1 }, head: { convs: 1 } }), IMAGE, seed);
}

/** A model and an Adam that took `steps` real steps on random images. */
export function trained(steps = 2): { model: PixelCNN; optimizer: FusedAdam } {
  const model = tinyModel();
  const optimizer = new FusedAdam(0.01, 0.9, 0.999, 1e-8);
  const images = Uint8Array.from({ length: 4 * 36 }, (_, i) => (i * 37) % 256);
  for (let s = 0; s < steps; s++) {
    const { loss, grads } = gradientStep(model, optimizer, { count: 4, images, labels: null }, Uint32Array.from([0, 1, 2, 3]), LEVELS);
    optimizer.applyGradients(grads);
    tf.dispose([loss, ...grads.map((g) => g.tensor)]);
  }
  return { model, optimizer };
}

export const position = (step: number) => ({
  step, epoch: 0, epochStep: step, bestTestBitsPerDim: null, lastTestBitsPerDim: null, lastTrainBitsPerDim: 1.5,
  wallSeconds: 1, trainSeconds: 1, imagesSeen: 4 * step,
});

export const readManifest = (checkpoint: string) => JSON.parse(readFileSync(join(checkpoint, 'manifest.json'), 'utf8'));
export const writeManifest = (checkpoint: string, m: unknown) => writeFileSync(join(checkpoint, 'manifest.json'), JSON.stringify(m));

/** Flips one bit of weights.bin, leaving the manifest (and its checksum) as it was. */
export function flipBit(checkpoint: string, byte = 100): void {
  const file = join(checkpoint, 'weights.bin');
  const bytes = readFileSync(file);
  bytes[byte] ^= 0x10;
  writeFileSync(file, bytes);
}

/** Sets the first float of the named model tensor to `value` and makes the checksum match again. */
export function poison(checkpoint: string, tensor: string, value = Number.NaN): void {
  const m = readManifest(checkpoint);
  const entry = [...m.model, ...m.optimizer.tensors].find((e: { name: string }) => e.name === tensor);
  if (!entry) throw new Error(`no tensor ${tensor} in ${checkpoint}`);
  const file = join(checkpoint, 'weights.bin');
  const bytes = readFileSync(file);
  bytes.writeFloatLE(value, entry.offset * 4);
  writeFileSync(file, bytes);
  m.weights.sha256 = createHash('sha256').update(bytes).digest('hex');
  writeManifest(checkpoint, m);
}
