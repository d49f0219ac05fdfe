// Checkpoints as files: a checksum that catches flipped bits, no non-finite state written or
// read, and manifest problems reported with the file and what is wrong.
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, checkpointName, loadCheckpoint, NonFiniteStateError, saveCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { flipBit, poison, position, readManifest, tinyModel, trained, writeManifest } from '../helpers/checkpoints.js';
import { tempDir } from '../helpers/tmp.js';

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

/** A checkpoint of a model trained 2 steps, in a folder of its own. */
async function saved(step = 2): Promise<string> {
  const { model, optimizer } = trained(step);
  const path = await saveCheckpoint(join(tempDir(), 'checkpoints'), model, optimizer, position(step), 3, 5);
  model.dispose();
  optimizer.dispose();
  return path;
}

/** The CheckpointError loading `checkpoint` into a fresh model throws (or null when it loads). */
function loadError(checkpoint: string): CheckpointError | null {
  const model = tinyModel();
  try {
    loadCheckpoint(checkpoint, model).optimizerWeights.forEach((w) => w.tensor.dispose());
    return null;
  } catch (err) {
    if (!(err instanceof CheckpointError)) throw new Error(`expected a CheckpointError, got ${(err as Error).stack}`);
    return err;
  } finally {
    model.dispose();
  }
}

describe('checkpoint checksum', () => {
  it('is written with the checkpoint and restores the exact state', async () => {
    const { model, optimizer } = trained(2);
    const path = await saveCheckpoint(join(tempDir(), 'checkpoints'), model, optimizer, position(2), 3, 5);
    expect(readManifest(path).weights).toEqual({ bytes: readFileSync(join(path, 'weights.bin')).byteLength, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const copy = tinyModel(9);
    const loaded = loadCheckpoint(path, copy);
    expect(loaded.warnings).toEqual([]);
    expect(copy.state().map((v) => Array.from(v.dataSync()))).toEqual(model.state().map((v) => Array.from(v.dataSync())));
    tf.dispose(loaded.optimizerWeights.map((w) => w.tensor));
    [model, copy, optimizer].forEach((x) => x.dispose());
  });

  it('detects a flipped bit in weights.bin and names the file', async () => {
    const path = await saved();
    flipBit(path);
    expect(loadError(path)?.message).toBe(`${join(path, 'weights.bin')}: its SHA-256 does not match the one in manifest.json: the data is corrupt`);
  });

  it('reads a checkpoint written before checksums, with a warning', async () => {
    const path = await saved();
    const { weights: _, ...old } = readManifest(path);
    writeManifest(path, old);
    const model = tinyModel();
    const loaded = loadCheckpoint(path, model);
    expect(loaded.position.step).toBe(2);
    expect(loaded.warnings).toEqual([`${path} was written before checkpoints carried a checksum: its data cannot be checked for corruption`]);
    tf.dispose(loaded.optimizerWeights.map((w) => w.tensor));
    model.dispose();
  });
});

describe('keeping checkpoints', () => {
  it('never removes the checkpoint just written, even when newer ones of an earlier session exist', async () => {
    const { model, optimizer } = trained(1);
    const dir = join(tempDir(), 'checkpoints');
    await saveCheckpoint(dir, model, optimizer, position(1), 3, 1);
    renameSync(join(dir, checkpointName(1)), join(dir, checkpointName(6))); // as a run that went on to step 6 before it was resumed from 1
    await saveCheckpoint(dir, model, optimizer, position(1), 3, 1);
    expect(readdirSync(dir).sort()).toEqual(['latest', checkpointName(1)]);
    expect(readFileSync(join(dir, 'latest'), 'utf8').trim()).toBe(checkpointName(1));
    model.dispose();
    optimizer.dispose();
  });
});

describe('non-finite state', () => {
  it('is never written: the save is refused and the last good checkpoint stays latest', async () => {
    const { model, optimizer } = trained(2);
    const dir = join(tempDir(), 'checkpoints');
    await saveCheckpoint(dir, model, optimizer, position(2), 3, 5);
    tf.tidy(() => model.head.out.weight.assign(tf.fill(model.head.out.weight.shape, Number.POSITIVE_INFINITY)));
    const err = await saveCheckpoint(dir, model, optimizer, position(3), 3, 5).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteStateError);
    expect((err as NonFiniteStateError).tensors).toEqual(['head.out/weight']);
    expect(readdirSync(dir).sort()).toEqual(['latest', checkpointName(2)]);
    expect(readFileSync(join(dir, 'latest'), 'utf8').trim()).toBe(checkpointName(2));
    model.dispose();
    optimizer.dispose();
  });

  it('in the weights or the optimiser state is refused on load, naming the checkpoint', async () => {
    for (const tensor of ['blocks.0.conv2/weight', 'input.bn/running_var']) {
      const path = await saved();
      poison(path, tensor);
      expect(loadError(path)?.message).toBe(`${path} holds NaN or infinite values (${tensor}): the state had diverged when it was written; it cannot be trained on or sampled from, use an earlier checkpoint`);
    }
    const path = await saved();
    const v = readManifest(path).optimizer.tensors.find((e: { name: string }) => e.name.endsWith('head.out/weight/v')).name;
    poison(path, v, Number.POSITIVE_INFINITY);
    expect(loadError(path)?.message).toContain(`holds NaN or infinite values (${v})`);
  });
});

describe('manifest problems', () => {
  /** Edits the parsed manifest (written back), or writes the file itself and returns 'raw'. */
  type Edit = (m: Record<string, any>, file: string) => unknown;
  const raw = (text: string): Edit => (_m, file) => (writeFileSync(file, text), 'raw');
  const cases: [string, Edit, string][] = [
    ['invalid JSON', raw('{"format": "pxl-checkpoint/1", "position": {'), 'manifest.json: not valid JSON ('],
    ['an empty file', raw(''), 'manifest.json: not valid JSON ('],
    ['a missing model list', (m) => delete m.model, "manifest.json: not a valid checkpoint manifest: the top level must have required property 'model'"],
    ['a missing optimizer tensor list', (m) => delete m.optimizer.tensors, "manifest.json: not a valid checkpoint manifest: optimizer must have required property 'tensors'"],
    ['a list of the wrong type', (m) => (m.model = 'weights'), 'manifest.json: not a valid checkpoint manifest: model must be array'],
    ['a negative step', (m) => (m.position.step = -2), 'manifest.json: not a valid checkpoint manifest: position.step must be >= 0'],
    ['a fractional step', (m) => (m.position.step = 1.5), 'manifest.json: not a valid checkpoint manifest: position.step must be integer'],
    ['a shape of strings', (m) => (m.model[0].shape = ['3']), 'manifest.json: not a valid checkpoint manifest: model.0.shape.0 must be integer'],
    ['another step than the folder\'s', (m) => (m.position.step = 7), 'manifest.json: says step 7, but the folder is step-00000002'],
    ['a tensor that does not fit the data', (m) => (m.model[0].shape = [m.model[0].shape[0] + 1, ...m.model[0].shape.slice(1)]), 'manifest.json: tensor input.conv/bias starts at element'],
    ['a size other than weights.bin\'s', (m) => (m.weights.bytes += 4), 'weights.bin: '],
  ];
  it.each(cases)('%s is an error naming the file and what is wrong', async (_what, edit, expected) => {
    const path = await saved();
    const file = join(path, 'manifest.json');
    const m = readManifest(path);
    if (edit(m, file) !== 'raw') writeManifest(path, m);
    const message = loadError(path)?.message;
    expect(message?.startsWith(join(path, expected)), message).toBe(true);
  });

  it('a weights.bin shorter than the tensors is an error naming it', async () => {
    const path = await saved();
    const file = join(path, 'weights.bin');
    const m = readManifest(path);
    delete m.weights; // as an old checkpoint, so the size check is the one that speaks
    writeManifest(path, m);
    writeFileSync(file, readFileSync(file).subarray(0, 64));
    expect(loadError(path)?.message).toMatch(new RegExp(`^${file}: 64 bytes, but the tensors in manifest.json need \\d+$`));
  });

  it("a position that disagrees with the optimiser's step count is an error", async () => {
    const path = await saved(2);
    const m = readManifest(path);
    m.position.step = 3;
    writeManifest(path, m);
    const moved = path.replace(/step-00000002$/, 'step-00000003');
    renameSync(path, moved);
    expect(loadError(moved)?.message).toBe(`${moved}/manifest.json: the optimiser has taken 2 steps, the position says 3`);
  });
});
