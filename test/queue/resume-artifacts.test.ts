// A member's checkpoint through MLflow, against the real server: the rolling checkpoint the
// pointer names, the best checkpoint with it (the end of a run draws its grid from it), and
// never a best checkpoint read while the run was replacing it.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { downloadCheckpoint, readPointer, snapshotCheckpoint, uploadCheckpoint } from '../../src/queue/resume-artifacts.js';
import { MlflowClient, MlflowError } from '../../src/track/mlflow-client.js';
import { waitForMlflow } from '../setup/mlflow-server.js';
import { tempDir } from '../helpers/tmp.js';

const server = inject('mlflow');
const client = new MlflowClient({ uri: server.uri, retries: 2 });

beforeAll(async () => {
  await waitForMlflow(server);
});

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A checkpoint folder: weights and a manifest naming them (`named`: other weights, as a torn read sees them). */
function writeCheckpoint(dir: string, weights: Buffer, named = weights): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'weights.bin'), weights);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ format: 'pxl-checkpoint/1', weights: { bytes: named.length, sha256: sha(named) } }));
}

/** A run folder `<runs>/tiny/run-1` with its run files, rolling checkpoints of `steps` and a best checkpoint. */
function runFolder(steps: number[], best: Buffer | null) {
  const runDir = join(tempDir(), 'tiny', 'run-1');
  for (const f of ['config.yaml', 'config.original.json', 'run.json', 'metrics.jsonl']) {
    mkdirSync(runDir, { recursive: true });
    writeFileSync(join(runDir, f), `${f} of run-1\n`);
  }
  for (const s of steps) writeCheckpoint(join(runDir, 'checkpoints', `step-${String(s).padStart(8, '0')}`), Buffer.from(`weights of step ${s}`));
  if (best) writeCheckpoint(join(runDir, 'checkpoints', 'best'), best);
  return { runDir, checkpoint: (s: number) => join(runDir, 'checkpoints', `step-${String(s).padStart(8, '0')}`) };
}

async function newRun() {
  const experimentId = await client.ensureExperiment(`pxl-resume-artifacts-${process.pid}`);
  const run = await client.createRun({ experimentId, runName: 'member' });
  return { runId: run.runId, experimentId, artifactUri: run.artifactUri, experimentName: `pxl-resume-artifacts-${process.pid}` };
}

const read = (dir: string, ...path: string[]) => readFileSync(join(dir, ...path), 'utf8');

describe('checkpoints through MLflow for a takeover', () => {
  it('rebuilds the run folder on another machine from the latest upload: its rolling checkpoint, its best checkpoint, its run files', async () => {
    const run = await newRun();
    const best = Buffer.from('weights of the best, step 15');
    const { runDir, checkpoint } = runFolder([20], best);
    const first = await uploadCheckpoint(client, run.artifactUri, snapshotCheckpoint(runDir, checkpoint(20), 20), null);
    expect(first).toEqual({ slot: 'a', step: 20, checkpoint: 'step-00000020', pxl_run_id: 'run-1', experiment: 'tiny', best: sha(best) });

    // Two uploads later slot a is written again; its best is unchanged, so it is not sent again.
    writeCheckpoint(checkpoint(40), Buffer.from('weights of step 40'));
    const second = await uploadCheckpoint(client, run.artifactUri, snapshotCheckpoint(runDir, checkpoint(40), 40), first);
    writeCheckpoint(checkpoint(60), Buffer.from('weights of step 60'));
    const third = await uploadCheckpoint(client, run.artifactUri, snapshotCheckpoint(runDir, checkpoint(60), 60), second, () => false, true);
    expect([second?.slot, third?.slot]).toEqual(['b', 'a']);

    const pointer = await readPointer(client, run.artifactUri);
    expect(pointer).toEqual(third);
    const elsewhere = tempDir();
    const rebuilt = await downloadCheckpoint(client, run, pointer!, elsewhere);
    expect(rebuilt).toBe(join(elsewhere, 'tiny', 'run-1'));
    expect(read(rebuilt, 'checkpoints', 'latest')).toBe('step-00000060\n');
    expect(read(rebuilt, 'checkpoints', 'step-00000060', 'weights.bin')).toBe('weights of step 60');
    expect(read(rebuilt, 'checkpoints', 'best', 'weights.bin')).toBe('weights of the best, step 15');
    expect(read(rebuilt, 'checkpoints', 'best', 'manifest.json')).toBe(read(runDir, 'checkpoints', 'best', 'manifest.json'));
    for (const f of ['config.yaml', 'config.original.json', 'run.json', 'metrics.jsonl']) expect(read(rebuilt, f)).toBe(`${f} of run-1\n`);
    expect(JSON.parse(read(rebuilt, 'mlflow.json'))).toMatchObject({ runId: run.runId, pxlRunId: 'run-1' });
  });

  it('sends no best checkpoint that is not whole (read while the run replaced it), and a run without one has none after the takeover', async () => {
    const run = await newRun();
    const { runDir, checkpoint } = runFolder([10], null);
    writeCheckpoint(join(runDir, 'checkpoints', 'best'), Buffer.from('new weights'), Buffer.from('old weights'));
    const snap = snapshotCheckpoint(runDir, checkpoint(10), 10);
    expect(snap.best).toBeNull();
    const pointer = await uploadCheckpoint(client, run.artifactUri, snap, null);
    expect(pointer?.best).toBeNull();
    expect(await client.listArtifacts(run.runId, 'resume/a/best')).toEqual([]);
    const rebuilt = await downloadCheckpoint(client, run, pointer!, tempDir());
    expect(existsSync(join(rebuilt, 'checkpoints', 'best'))).toBe(false);
    expect(read(rebuilt, 'checkpoints', 'step-00000010', 'weights.bin')).toBe('weights of step 10');
  });

  it('takes no pointer that names anything but a rolling checkpoint (a best one is not where a resume starts)', async () => {
    const run = await newRun();
    const pointer = { slot: 'a', step: 20, checkpoint: 'best', pxl_run_id: 'run-1', experiment: 'tiny' };
    await client.uploadArtifact(run.artifactUri, 'resume/latest.json', Buffer.from(JSON.stringify(pointer)));
    await expect(readPointer(client, run.artifactUri)).rejects.toThrow(MlflowError);
    await expect(readPointer(client, run.artifactUri)).rejects.toThrow(/not a pxl resume pointer/);
  });
});
