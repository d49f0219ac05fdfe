// checkpoint/: the checkpoint format on disk, written by the trainer and read to resume or sample.
//
// Checkpoints: model variables, optimiser state and the training position.
//
// A checkpoint is a folder step-NNNNNNNN/ holding weights.bin (every tensor as float32, end
// to end) and manifest.json (the tensor table, the position, the SHA-256 of weights.bin).
// Writing: the state is checked finite (a non-finite checkpoint is never written), both
// files are written into a temp folder and fsynced, the folder is renamed into place and
// the parent folder fsynced, then the `latest` pointer is replaced the same way. A crash or
// a full disk leaves at most a temp folder named with the writer's pid, which the next save
// of the run removes. Reading: the manifest is validated, the checksum and the sizes are
// checked and every value must be finite, else a CheckpointError names the file and says
// what is wrong.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Ajv, type ErrorObject } from 'ajv';
import type { PixelCNN } from '../model/pixelcnn.js';

export const CHECKPOINT_FORMAT = 'pxl-checkpoint/1';

/** Where training stands; with the seed this fixes the data order of every later step. */
export interface TrainingPosition {
  step: number; // optimiser steps completed
  epoch: number; // epoch of the next step
  epochStep: number; // steps completed within that epoch
  /** Lowest and last bits/dim of the periodic evaluations: on the validation set when there is one, else on the test set. */
  bestTestBitsPerDim: number | null;
  lastTestBitsPerDim: number | null;
  /** The step of the best checkpoint (checkpoints/best); absent in checkpoints of pxl before it was kept. */
  bestStep?: number | null;
  lastTrainBitsPerDim: number | null;
  /** Steps whose update was skipped (train.on_nonfinite_gradient: skip): the optimiser took step - skippedSteps; absent before skipping existed. */
  skippedSteps?: number;
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

export interface Manifest {
  format: typeof CHECKPOINT_FORMAT;
  created: string;
  position: TrainingPosition;
  /** Data order is derived, not stored: epoch e's order is a shuffle seeded by (seed, e). */
  dataOrder: { seed: number; derivation: string };
  model: TensorEntry[];
  optimizer: { name: string; tensors: TensorEntry[] };
  /** With train.ema: the averaged weights and statistics, named as in `model`, after the optimiser's tensors. */
  averaged?: TensorEntry[];
  /** weights.bin's size and SHA-256; absent in checkpoints of pxl before checksums (read with a warning). */
  weights?: { bytes: number; sha256: string };
}

const WEIGHTS = 'weights.bin';
const MANIFEST = 'manifest.json';

/** A checkpoint that cannot be used as it is: missing, malformed, corrupt, non-finite or for another model. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** The state to be saved holds NaN or infinite values: it is not written. */
export class NonFiniteStateError extends Error {
  override name = 'NonFiniteStateError';
  constructor(readonly tensors: string[]) {
    super(`the model or optimiser state is not finite (${listNames(tensors)})`);
  }
}

/** Model variables under stable names (layer name and role), independent of tfjs's global variable names. */
export function namedState(model: PixelCNN): [string, tf.Variable][] {
  return model.state().map((v) => [v.name.slice(v.name.indexOf('/') + 1), v]);
}

export const checkpointName = (step: number): string => `step-${String(step).padStart(8, '0')}`;

/** What a checkpoint holds besides the model and the optimiser: the averaged weights (train.ema), in model.state() order, or null. */
export type AveragedState = tf.Tensor[] | null;

export async function saveCheckpoint(
  dir: string,
  model: PixelCNN,
  optimizer: tf.Optimizer,
  position: TrainingPosition,
  seed: number,
  keep: number,
  averaged: AveragedState = null,
): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const { bytes, manifest } = await serialise(model, optimizer, position, seed, averaged);
  removeStaleTemps(dir);
  const name = checkpointName(position.step);
  writeFolder(dir, name, bytes, manifest);
  writePointer(dir, `${name}\n`);
  prune(dir, keep, name);
  return join(dir, name);
}

/** The state as weights.bin's bytes and its manifest; a NonFiniteStateError when it is not finite. */
async function serialise(model: PixelCNN, optimizer: tf.Optimizer, position: TrainingPosition, seed: number, averaged: AveragedState): Promise<{ bytes: Uint8Array; manifest: Manifest }> {
  const named = namedState(model);
  const opt = await optimizer.getWeights();
  const avg = averaged ?? [];
  const all = [...named.map(([, v]) => v), ...opt.map((w) => w.tensor), ...avg];
  const nameOf = (i: number) => (i < named.length ? named[i][0] : i < named.length + opt.length ? opt[i - named.length].name : named[i - named.length - opt.length][0]);
  const sizes = all.map((t) => t.size);
  const data = new Float32Array(sizes.reduce((a, b) => a + b, 0));
  let offset = 0;
  const entries: TensorEntry[] = [];
  for (let i = 0; i < all.length; i++) {
    data.set((await all[i].data()) as Float32Array, offset);
    entries.push({ name: nameOf(i), shape: all[i].shape, offset });
    offset += sizes[i];
  }
  const broken = nonFinite(data, entries);
  if (broken.length) throw new NonFiniteStateError(broken);
  const bytes = new Uint8Array(data.buffer);
  const manifest: Manifest = {
    format: CHECKPOINT_FORMAT,
    created: new Date().toISOString(),
    position,
    dataOrder: { seed, derivation: 'orderForEpoch(seed, epoch): shuffle seeded by deriveSeed(seed, "epoch", epoch)' },
    model: entries.slice(0, named.length),
    optimizer: { name: optimizer.getClassName(), tensors: entries.slice(named.length, named.length + opt.length) },
    ...(averaged ? { averaged: entries.slice(named.length + opt.length) } : {}),
    weights: { bytes: bytes.byteLength, sha256: sha256(bytes) },
  };
  return { bytes, manifest };
}

/**
 * Saves the state as checkpoints/best (a checkpoint folder like the others, written the same
 * durable way): not named by `latest`, never pruned, replaced when a better one comes.
 */
export async function saveBestCheckpoint(
  dir: string, model: PixelCNN, optimizer: tf.Optimizer, position: TrainingPosition, seed: number, averaged: AveragedState = null,
): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const { bytes, manifest } = await serialise(model, optimizer, position, seed, averaged);
  removeStaleTemps(dir);
  writeFolder(dir, BEST, bytes, manifest);
  return join(dir, BEST);
}

export const BEST = 'best';

/** The best checkpoint of a run's checkpoint folder, or null when it has none. */
export function bestCheckpoint(dir: string): string | null {
  return existsSync(join(dir, BEST, MANIFEST)) ? join(dir, BEST) : null;
}

/** Writes `name` into a temp folder, fsyncs it and renames it into place. */
function writeFolder(dir: string, name: string, bytes: Uint8Array, manifest: Manifest): void {
  const tmp = join(dir, `.tmp-${name}-${process.pid}`);
  try {
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    writeDurably(join(tmp, WEIGHTS), bytes);
    writeDurably(join(tmp, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    fsyncDir(tmp);
    replaceFolder(tmp, join(dir, name));
    fsyncDir(dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Names of the tensors holding a NaN or an infinity (a plain scan: the data is in memory already). */
function nonFinite(data: Float32Array, entries: TensorEntry[]): string[] {
  const out: string[] = [];
  entries.forEach((e, i) => {
    const end = i + 1 < entries.length ? entries[i + 1].offset : data.length;
    for (let k = e.offset; k < end; k++) {
      if (!Number.isFinite(data[k])) {
        out.push(e.name);
        break;
      }
    }
  });
  return out;
}

const listNames = (names: string[]) => `${names.slice(0, 3).join(', ')}${names.length > 3 ? ` and ${names.length - 3} more` : ''}`;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Writes a file and flushes it to disk before returning. */
function writeDurably(path: string, content: string | Uint8Array): void {
  const fd = openSync(path, 'w');
  try {
    writeFileSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Flushes a folder's entries (a rename into it) to disk; not possible on every platform (Windows), where it is skipped. */
function fsyncDir(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch {
    // EISDIR/EPERM where folders cannot be fsynced: the rename is still atomic.
  } finally {
    closeSync(fd);
  }
}

/** Puts `from` at `to`; an existing `to` (the same step saved again) is moved aside first, then removed. */
function replaceFolder(from: string, to: string): void {
  if (!existsSync(to)) return renameSync(from, to);
  const old = join(from, '..', `.tmp-${basename(to)}-old-${process.pid}`);
  rmSync(old, { recursive: true, force: true });
  renameSync(to, old);
  renameSync(from, to);
  rmSync(old, { recursive: true, force: true });
}

/**
 * Replaces `latest` durably. Written here rather than with write-file-atomic so that its
 * temp file carries the writer's pid, like the temp folders: removeStaleTemps can then tell
 * what a dead writer left from what a live one is writing.
 */
function writePointer(dir: string, content: string): void {
  const tmp = join(dir, `.tmp-latest-${process.pid}`);
  try {
    writeDurably(tmp, content);
    renameSync(tmp, join(dir, 'latest'));
    fsyncDir(dir);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Removes temp folders and files (.tmp-…-PID) left by writers that are gone, or by this process. */
function removeStaleTemps(dir: string): void {
  for (const entry of readdirSync(dir)) {
    const m = /^\.tmp-.*-(\d+)$/.exec(entry);
    if (m && (Number(m[1]) === process.pid || !alive(Number(m[1])))) rmSync(join(dir, entry), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * Keeps `current` (the one `latest` names) and the newest `keep` - 1 others: a run resumed from
 * an older checkpoint may find newer ones of the session it replaces. Each removed one is
 * renamed to a temp name first, so none is ever half there.
 */
function prune(dir: string, keep: number, current: string): void {
  const others = listCheckpoints(dir).filter((n) => n !== current);
  for (const name of others.slice(0, Math.max(0, others.length - (keep - 1)))) {
    const doomed = join(dir, `.tmp-${name}-delete-${process.pid}`);
    renameSync(join(dir, name), doomed);
    rmSync(doomed, { recursive: true, force: true });
  }
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
    if (/^step-\d{8}$/.test(name) && existsSync(join(dir, name, MANIFEST))) return join(dir, name);
  }
  const all = listCheckpoints(dir).filter((n) => existsSync(join(dir, n, MANIFEST)));
  return all.length ? join(dir, all[all.length - 1]) : null;
}

const entrySchema = {
  type: 'object',
  required: ['name', 'shape', 'offset'],
  properties: {
    name: { type: 'string', minLength: 1 },
    shape: { type: 'array', items: { type: 'integer', minimum: 0 } },
    offset: { type: 'integer', minimum: 0 },
  },
};
const count = { type: 'integer', minimum: 0 };
const seconds = { type: 'number', minimum: 0 };
const bitsOrNull = { type: ['number', 'null'], minimum: 0 };
const MANIFEST_SCHEMA = {
  type: 'object',
  required: ['format', 'position', 'model', 'optimizer'],
  properties: {
    format: { type: 'string' },
    created: { type: 'string' },
    position: {
      type: 'object',
      required: ['step', 'epoch', 'epochStep', 'bestTestBitsPerDim', 'lastTestBitsPerDim', 'lastTrainBitsPerDim', 'wallSeconds', 'trainSeconds', 'imagesSeen'],
      properties: {
        step: count, epoch: count, epochStep: count,
        bestTestBitsPerDim: bitsOrNull, lastTestBitsPerDim: bitsOrNull, lastTrainBitsPerDim: bitsOrNull,
        wallSeconds: seconds, trainSeconds: seconds, imagesSeen: count, bestStep: { type: ['integer', 'null'], minimum: 0 }, skippedSteps: count,
      },
    },
    dataOrder: { type: 'object' },
    model: { type: 'array', items: entrySchema },
    optimizer: {
      type: 'object',
      required: ['name', 'tensors'],
      properties: { name: { type: 'string', minLength: 1 }, tensors: { type: 'array', items: entrySchema } },
    },
    averaged: { type: 'array', items: entrySchema },
    weights: {
      type: 'object',
      required: ['bytes', 'sha256'],
      properties: { bytes: count, sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
    },
  },
};

let validateManifest: ReturnType<Ajv['compile']> | null = null;

const describeSchemaError = (e: ErrorObject) => `${e.instancePath ? e.instancePath.slice(1).replaceAll('/', '.') : 'the top level'} ${e.message ?? 'is invalid'}`;

/** manifest.json parsed and checked against the schema; a CheckpointError says what is wrong. */
function readManifest(path: string): Manifest {
  const file = join(path, MANIFEST);
  if (!existsSync(file)) throw new CheckpointError(`${path}: not a checkpoint (no ${MANIFEST})`);
  let manifest: unknown;
  try {
    manifest = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CheckpointError(`${file}: not valid JSON (${(err as Error).message}); the checkpoint is damaged`);
  }
  validateManifest ??= new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(MANIFEST_SCHEMA);
  if (!validateManifest(manifest)) {
    const problems = (validateManifest.errors ?? []).map(describeSchemaError);
    throw new CheckpointError(`${file}: not a valid checkpoint manifest: ${problems.slice(0, 5).join('; ')}`);
  }
  const m = manifest as Manifest;
  if (m.format !== CHECKPOINT_FORMAT) throw new CheckpointError(`${file}: unknown format ${JSON.stringify(m.format)}; expected ${CHECKPOINT_FORMAT}`);
  const folder = /^step-(\d{8})$/.exec(basename(path));
  if (folder && Number(folder[1]) !== m.position.step) throw new CheckpointError(`${file}: says step ${m.position.step}, but the folder is ${basename(path)}`);
  return m;
}

/** A checkpoint read and checked: its manifest, its data, and warnings (an old checkpoint without a checksum). */
export interface CheckedCheckpoint {
  manifest: Manifest;
  data: Float32Array;
  warnings: string[];
}

/**
 * Reads a checkpoint and checks all of it: the manifest, weights.bin's size against the
 * tensor table, the checksum, the optimiser's step count, and that every value is finite.
 */
export function readCheckpoint(path: string): CheckedCheckpoint {
  const manifest = readManifest(path);
  const manifestFile = join(path, MANIFEST);
  const weightsFile = join(path, WEIGHTS);
  if (!existsSync(weightsFile)) throw new CheckpointError(`${path}: ${WEIGHTS} is missing`);
  const bytes = readFileSync(weightsFile);
  const warnings: string[] = [];
  if (manifest.weights) {
    if (bytes.byteLength !== manifest.weights.bytes) throw new CheckpointError(`${weightsFile}: ${bytes.byteLength} bytes, ${manifestFile} says ${manifest.weights.bytes}; the checkpoint is damaged`);
    if (sha256(bytes) !== manifest.weights.sha256) throw new CheckpointError(`${weightsFile}: its SHA-256 does not match the one in ${MANIFEST}: the data is corrupt`);
  } else {
    warnings.push(`${path} was written before checkpoints carried a checksum: its data cannot be checked for corruption`);
  }
  const entries = [...manifest.model, ...manifest.optimizer.tensors, ...(manifest.averaged ?? [])];
  let expected = 0;
  for (const e of entries) {
    if (e.offset !== expected) throw new CheckpointError(`${manifestFile}: tensor ${e.name} starts at element ${e.offset}, expected ${expected} (the tensors lie end to end)`);
    expected += e.shape.reduce((a, b) => a * b, 1);
  }
  if (bytes.byteLength !== expected * 4) throw new CheckpointError(`${weightsFile}: ${bytes.byteLength} bytes, but the tensors in ${MANIFEST} need ${expected * 4}`);
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const broken = nonFinite(data, entries);
  if (broken.length) throw new CheckpointError(`${path} holds NaN or infinite values (${listNames(broken)}): the state had diverged when it was written; it cannot be trained on or sampled from, use an earlier checkpoint`);
  const iter = manifest.optimizer.tensors[0];
  const updates = manifest.position.step - (manifest.position.skippedSteps ?? 0);
  if (iter?.name === 'iter' && iter.shape.length === 0 && data[iter.offset] !== updates) {
    const skipped = manifest.position.skippedSteps ? ` less ${manifest.position.skippedSteps} skipped` : '';
    throw new CheckpointError(`${manifestFile}: the optimiser has taken ${data[iter.offset]} steps, the position says ${manifest.position.step}${skipped}`);
  }
  return { manifest, data, warnings };
}

/** Which weights loadCheckpoint puts into the model: the trained ones, or the averaged ones where the checkpoint has them. */
export type WeightChoice = 'trained' | 'averaged';

/** A checkpoint loaded into a model: its position, the optimiser state, the averaged weights (model.state() order) or null. */
export interface LoadedCheckpoint {
  position: TrainingPosition;
  optimizerWeights: { name: string; tensor: tf.Tensor }[];
  averaged: Float32Array[] | null;
  warnings: string[];
}

/**
 * Restores model variables (by name, shapes checked) and returns the optimiser state, the
 * averaged weights and the position. `weights: 'averaged'` puts the averaged weights into
 * the model when the checkpoint holds them (train.ema), the trained ones otherwise.
 */
export function loadCheckpoint(path: string, model: PixelCNN, weights: WeightChoice = 'trained'): LoadedCheckpoint {
  const { manifest, data, warnings } = readCheckpoint(path);
  const slice = (e: TensorEntry) => data.subarray(e.offset, e.offset + e.shape.reduce((a, b) => a * b, 1));
  const saved = new Map(manifest.model.map((e) => [e.name, e]));
  const named = namedState(model);
  const problems: string[] = [];
  for (const [name, v] of named) {
    const e = saved.get(name);
    if (!e) problems.push(`missing ${name}`);
    else if (e.shape.join('x') !== v.shape.join('x')) problems.push(`${name} has shape ${e.shape.join('x')}, the model expects ${v.shape.join('x')}`);
  }
  if (saved.size !== named.length) problems.push(`it holds ${saved.size} model tensors, the model has ${named.length}`);
  const averagedEntries = manifest.averaged ? new Map(manifest.averaged.map((e) => [e.name, e])) : null;
  if (averagedEntries && (averagedEntries.size !== named.length || named.some(([name]) => averagedEntries.get(name)?.shape.join('x') !== saved.get(name)?.shape.join('x')))) {
    problems.push('its averaged weights do not match its model tensors');
  }
  if (problems.length) throw new CheckpointError(`${path} does not fit this model: ${problems.slice(0, 5).join('; ')}`);
  const averaged = averagedEntries ? named.map(([name]) => slice(averagedEntries.get(name)!)) : null;
  named.forEach(([name, v], i) => {
    const e = saved.get(name)!;
    const values = weights === 'averaged' && averaged ? averaged[i] : slice(e);
    tf.tidy(() => v.assign(tf.tensor(values, e.shape)));
  });
  const optimizerWeights = manifest.optimizer.tensors.map((e) => ({ name: e.name, tensor: tf.tensor(slice(e), e.shape) }));
  return { position: manifest.position, optimizerWeights, averaged, warnings };
}
