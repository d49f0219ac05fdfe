// checkpoint/: the checkpoint format on disk, written by the trainer and read to resume or sample.
//
// Checkpoints: model variables, optimiser state and the training position, written
// atomically (a temp folder renamed into place) so a crash never leaves half a checkpoint.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { PixelCNN } from '../model/pixelcnn.js';
import { writeFileAtomic } from '../util/files.js';

export const CHECKPOINT_FORMAT = 'pxl-checkpoint/1';

/** Where training stands; with the seed this fixes the data order of every later step. */
export interface TrainingPosition {
  step: number; // optimiser steps completed
  epoch: number; // epoch of the next step
  epochStep: number; // steps completed within that epoch
  bestTestBitsPerDim: number | null;
  lastTestBitsPerDim: number | null;
  lastTrainBitsPerDim: number | null;
  /** Wall time spent training before this checkpoint, so a resumed run's totals add up. */
  wallSeconds: number;
  trainSeconds: number;
  imagesSeen: number;
}

interface TensorEntry {
  name: string;
  shape: number[];
  offset: number; // in float32 elements
}

interface Manifest {
  format: typeof CHECKPOINT_FORMAT;
  created: string;
  position: TrainingPosition;
  /** Data order is derived, not stored: epoch e's order is a shuffle seeded by (seed, e). */
  dataOrder: { seed: number; derivation: string };
  model: TensorEntry[];
  optimizer: { name: string; tensors: TensorEntry[] };
}

/** Model variables under stable names (layer name and role), independent of tfjs's global variable names. */
export function namedState(model: PixelCNN): [string, tf.Variable][] {
  return model.state().map((v) => [v.name.slice(v.name.indexOf('/') + 1), v]);
}

export const checkpointName = (step: number): string => `step-${String(step).padStart(8, '0')}`;

export async function saveCheckpoint(
  dir: string,
  model: PixelCNN,
  optimizer: tf.Optimizer,
  position: TrainingPosition,
  seed: number,
  keep: number,
): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const named = namedState(model);
  const opt = await optimizer.getWeights();
  const all = [...named.map(([, v]) => v), ...opt.map((w) => w.tensor)];
  const sizes = all.map((t) => t.size);
  const data = new Float32Array(sizes.reduce((a, b) => a + b, 0));
  let offset = 0;
  const entries: TensorEntry[] = [];
  for (let i = 0; i < all.length; i++) {
    data.set((await all[i].data()) as Float32Array, offset);
    entries.push({ name: i < named.length ? named[i][0] : opt[i - named.length].name, shape: all[i].shape, offset });
    offset += sizes[i];
  }
  const manifest: Manifest = {
    format: CHECKPOINT_FORMAT,
    created: new Date().toISOString(),
    position,
    dataOrder: { seed, derivation: 'orderForEpoch(seed, epoch): shuffle seeded by deriveSeed(seed, "epoch", epoch)' },
    model: entries.slice(0, named.length),
    optimizer: { name: optimizer.getClassName(), tensors: entries.slice(named.length) },
  };
  const name = checkpointName(position.step);
  const tmp = join(dir, `.tmp-${name}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  writeFileSync(join(tmp, 'weights.bin'), new Uint8Array(data.buffer));
  writeFileSync(join(tmp, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const final = join(dir, name);
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  writeFileAtomic(join(dir, 'latest'), `${name}\n`);
  prune(dir, keep);
  return final;
}

/** Keeps the newest `keep` checkpoints (and whatever `latest` names). */
function prune(dir: string, keep: number): void {
  const all = listCheckpoints(dir);
  for (const name of all.slice(0, Math.max(0, all.length - keep))) rmSync(join(dir, name), { recursive: true, force: true });
}

export function listCheckpoints(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((n) => /^step-\d{8}$/.test(n)).sort();
}

/** The checkpoint `latest` names, else the newest complete one; null when there is none. */
export function latestCheckpoint(dir: string): string | null {
  const pointer = join(dir, 'latest');
  if (existsSync(pointer)) {
    const name = readFileSync(pointer, 'utf8').trim();
    if (existsSync(join(dir, name, 'manifest.json'))) return join(dir, name);
  }
  const all = listCheckpoints(dir).filter((n) => existsSync(join(dir, n, 'manifest.json')));
  return all.length ? join(dir, all[all.length - 1]) : null;
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** Restores model variables (by name, shapes checked) and returns the optimiser state and position. */
export function loadCheckpoint(path: string, model: PixelCNN): { position: TrainingPosition; optimizerWeights: { name: string; tensor: tf.Tensor }[] } {
  const manifestFile = join(path, 'manifest.json');
  if (!existsSync(manifestFile)) throw new CheckpointError(`${path}: not a checkpoint (no manifest.json)`);
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest;
  if (manifest.format !== CHECKPOINT_FORMAT) throw new CheckpointError(`${manifestFile}: unknown format ${JSON.stringify(manifest.format)}; expected ${CHECKPOINT_FORMAT}`);
  const bytes = readFileSync(join(path, 'weights.bin'));
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const slice = (e: TensorEntry) => {
    const n = e.shape.reduce((a, b) => a * b, 1);
    if (e.offset + n > data.length) throw new CheckpointError(`${path}/weights.bin: truncated (tensor ${e.name} runs past the end)`);
    return data.subarray(e.offset, e.offset + n);
  };
  const saved = new Map(manifest.model.map((e) => [e.name, e]));
  const named = namedState(model);
  const problems: string[] = [];
  for (const [name, v] of named) {
    const e = saved.get(name);
    if (!e) problems.push(`missing ${name}`);
    else if (e.shape.join('x') !== v.shape.join('x')) problems.push(`${name} has shape ${e.shape.join('x')}, the model expects ${v.shape.join('x')}`);
  }
  if (saved.size !== named.length) problems.push(`it holds ${saved.size} model tensors, the model has ${named.length}`);
  if (problems.length) throw new CheckpointError(`${path} does not fit this model: ${problems.slice(0, 5).join('; ')}`);
  for (const [name, v] of named) {
    const e = saved.get(name)!;
    tf.tidy(() => v.assign(tf.tensor(slice(e), e.shape)));
  }
  const optimizerWeights = manifest.optimizer.tensors.map((e) => ({ name: e.name, tensor: tf.tensor(slice(e), e.shape) }));
  return { position: manifest.position, optimizerWeights };
}
