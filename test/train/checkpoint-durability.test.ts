// Checkpoint writes are durable and leave nothing behind: every file is flushed to disk
// before its folder is renamed into place and before `latest` names it; a failed write (a
// full disk) removes its temp folder; temp folders of writers that died are removed by the
// next save. The file system calls are recorded through a pass-through mock of node:fs.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { position, trained } from '../helpers/checkpoints.js';
import { tempDir } from '../helpers/tmp.js';

const calls: string[] = [];
const fail = { writeTo: null as string | null };

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const paths = new Map<number, string>();
  return {
    ...fs,
    openSync: (path: string, ...rest: unknown[]) => {
      const fd = (fs.openSync as (...a: unknown[]) => number)(path, ...rest);
      paths.set(fd, String(path));
      return fd;
    },
    writeFileSync: (target: string | number, ...rest: unknown[]) => {
      const path = typeof target === 'number' ? paths.get(target) : target;
      if (fail.writeTo && path?.endsWith(fail.writeTo)) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      return (fs.writeFileSync as (...a: unknown[]) => void)(target, ...rest);
    },
    fsyncSync: (fd: number) => {
      calls.push(`fsync ${paths.get(fd)}`);
      return fs.fsyncSync(fd);
    },
    renameSync: (from: string, to: string) => {
      calls.push(`rename ${from} -> ${to}`);
      return fs.renameSync(from, to);
    },
  };
});

const fs = await import('node:fs');
const { saveCheckpoint } = await import('../../src/checkpoint/checkpoint.js');

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

beforeEach(() => {
  calls.length = 0;
  fail.writeTo = null;
});

/** Saves the step-1 checkpoint of a model trained one step; resolves to the error, if any. */
const save = async (dir: string) => {
  const { model, optimizer } = trained(1);
  try {
    return await saveCheckpoint(dir, model, optimizer, position(1), 3, 10).then(() => undefined, (e: unknown) => e);
  } finally {
    model.dispose();
    optimizer.dispose();
  }
};

describe('checkpoint durability', () => {
  it('flushes both files, then the folder, before the rename; the pointer before its rename', async () => {
    const dir = join(tempDir(), 'checkpoints');
    expect(await save(dir)).toBeUndefined();
    const tmp = join(dir, `.tmp-step-00000001-${process.pid}`);
    const latestTmp = join(dir, `.tmp-latest-${process.pid}`);
    expect(calls).toEqual([
      `fsync ${tmp}/weights.bin`,
      `fsync ${tmp}/manifest.json`,
      `fsync ${tmp}`,
      `rename ${tmp} -> ${dir}/step-00000001`,
      `fsync ${dir}`,
      `fsync ${latestTmp}`,
      `rename ${latestTmp} -> ${dir}/latest`,
      `fsync ${dir}`,
    ]);
  });

  it('a full disk mid-write leaves no temp folder and the previous checkpoint latest', async () => {
    const dir = join(tempDir(), 'checkpoints');
    expect(await save(dir)).toBeUndefined();
    const before = fs.readFileSync(join(dir, 'step-00000001', 'weights.bin'));
    fs.renameSync(join(dir, 'step-00000001'), join(dir, 'step-00000000'));
    fs.writeFileSync(join(dir, 'latest'), 'step-00000000\n');
    fail.writeTo = 'manifest.json';
    const err = await save(dir);
    expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    expect(fs.readdirSync(dir).sort()).toEqual(['latest', 'step-00000000']);
    expect(fs.readFileSync(join(dir, 'latest'), 'utf8')).toBe('step-00000000\n');
    expect(fs.readFileSync(join(dir, 'step-00000000', 'weights.bin')).equals(before)).toBe(true);
  });

  it('removes the temp folders and files of writers that died, not those of a live one', async () => {
    const dir = join(tempDir(), 'checkpoints');
    fs.mkdirSync(dir, { recursive: true });
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const live = process.ppid;
    for (const name of [`.tmp-step-00000004-${dead}`, `.tmp-step-00000002-old-${dead}`, `.tmp-step-00000006-${live}`]) {
      fs.mkdirSync(join(dir, name));
      fs.writeFileSync(join(dir, name, 'weights.bin'), 'partial');
    }
    fs.writeFileSync(join(dir, `.tmp-latest-${dead}`), '');
    expect(await save(dir)).toBeUndefined();
    expect(fs.readdirSync(dir).sort()).toEqual([`.tmp-step-00000006-${live}`, 'latest', 'step-00000001']);
  });
});
