// A member's latest checkpoint kept as artifacts of its MLflow run, so that the worker that
// takes the member over (another machine, an empty runs folder) can go on from it.
//
// Layout under the run's artifacts, two slots used in turn:
//   resume/a/  resume/b/   checkpoint/<weights.bin, manifest.json>, config.yaml,
//                          config.original.json, run.json, metrics.jsonl
//   resume/latest.json     {slot, step, checkpoint, pxl_run_id, experiment}, written last
// A slot is filled completely before latest.json names it, and the slot it names is never
// written to: an upload cut short (the worker died) leaves the previous checkpoint whole.
// Two slots rather than one folder per checkpoint: the server keeps at most two, whatever
// the run's length (MLflow's REST API has no artifact delete).
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { MlflowError, type MlflowClient } from '../track/mlflow-client.js';
import { STATE_FILE, type MlflowRunState } from '../track/mlflow-sync.js';
import { writeFileAtomic } from '../util/files.js';

export const RESUME_DIR = 'resume';
const POINTER = `${RESUME_DIR}/latest.json`;
/** The run folder's files a resume reads besides the checkpoint. */
const RUN_FILES = ['config.yaml', 'config.original.json', 'run.json', 'metrics.jsonl'];

export interface ResumePointer {
  slot: 'a' | 'b';
  step: number;
  /** The checkpoint folder's name in the run folder, e.g. step-00000040. */
  checkpoint: string;
  pxl_run_id: string;
  experiment: string;
}

/** The latest uploaded checkpoint, or null when the run has none. Throws MlflowError when the server cannot say. */
export async function readPointer(client: MlflowClient, artifactUri: string): Promise<ResumePointer | null> {
  try {
    const p = JSON.parse((await client.downloadArtifact(artifactUri, POINTER)).toString('utf8')) as ResumePointer;
    // Its names become file names on this machine: only what pxl itself writes is taken.
    const ok = (p.slot === 'a' || p.slot === 'b') && Number.isInteger(p.step) && /^step-\d{8}$/.test(p.checkpoint) &&
      /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(p.pxl_run_id) && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(p.experiment);
    if (!ok) throw new MlflowError(`MLflow artifact ${POINTER} is not a pxl resume pointer`, 'resume', 'client');
    return p;
  } catch (err) {
    if (err instanceof MlflowError && err.kind === 'client' && err.endpoint !== 'resume') return null; // 404: none yet
    throw err;
  }
}

/** A checkpoint and the run files, read at once: the run may remove the checkpoint (keep_checkpoints) while an upload goes on. */
export interface CheckpointSnapshot {
  step: number;
  runDir: string;
  checkpoint: string;
  files: [string, Buffer][];
  bytes: number;
}

export function snapshotCheckpoint(runDir: string, checkpointDir: string, step: number): CheckpointSnapshot {
  const files: [string, Buffer][] = [];
  for (const name of readdirSync(checkpointDir)) files.push([`checkpoint/${name}`, readFileSync(join(checkpointDir, name))]);
  for (const name of RUN_FILES) if (existsSync(join(runDir, name))) files.push([name, readFileSync(join(runDir, name))]);
  return { step, runDir, checkpoint: basename(checkpointDir), files, bytes: files.reduce((n, [, b]) => n + b.length, 0) };
}

/**
 * Uploads a snapshot into the slot `previous` does not name, then points latest.json at it;
 * gives up between files once `cancelled()` (the member is no longer this worker's).
 */
export async function uploadCheckpoint(
  client: MlflowClient, artifactUri: string, snap: CheckpointSnapshot, previous: ResumePointer | null, cancelled: () => boolean = () => false,
): Promise<ResumePointer | null> {
  const slot = previous?.slot === 'a' ? 'b' : 'a';
  for (const [path, data] of snap.files) {
    if (cancelled()) return previous;
    await client.uploadArtifact(artifactUri, `${RESUME_DIR}/${slot}/${path}`, data);
  }
  if (cancelled()) return previous;
  const pointer: ResumePointer = {
    slot, step: snap.step, checkpoint: snap.checkpoint, pxl_run_id: basename(snap.runDir), experiment: basename(join(snap.runDir, '..')),
  };
  await client.uploadArtifact(artifactUri, POINTER, Buffer.from(`${JSON.stringify(pointer)}\n`));
  return pointer;
}

/**
 * Rebuilds the run folder `<runsDir>/<experiment>/<pxl run id>/` from the pointer's slot, as
 * `pxl run --resume` expects it: the run files, the checkpoint under checkpoints/ named by
 * `latest`, and mlflow.json naming the MLflow run, so the resumed run goes on in it.
 */
export async function downloadCheckpoint(
  client: MlflowClient, run: { runId: string; experimentId: string; artifactUri: string; experimentName: string }, pointer: ResumePointer, runsDir: string,
): Promise<string> {
  const runDir = join(runsDir, pointer.experiment, pointer.pxl_run_id);
  const checkpoint = join(runDir, 'checkpoints', pointer.checkpoint);
  mkdirSync(checkpoint, { recursive: true });
  mkdirSync(join(runDir, 'samples'), { recursive: true });
  const slot = `${RESUME_DIR}/${pointer.slot}`;
  for (const f of await client.listArtifacts(run.runId, `${slot}/checkpoint`)) {
    if (!f.isDir) writeFileAtomic(join(checkpoint, basename(f.path)), await client.downloadArtifact(run.artifactUri, f.path));
  }
  for (const f of await client.listArtifacts(run.runId, slot)) {
    if (!f.isDir && RUN_FILES.includes(basename(f.path))) writeFileAtomic(join(runDir, basename(f.path)), await client.downloadArtifact(run.artifactUri, f.path));
  }
  writeFileAtomic(join(runDir, 'checkpoints', 'latest'), `${pointer.checkpoint}\n`);
  const state: MlflowRunState = {
    uri: client.uri, experimentName: run.experimentName, experimentId: run.experimentId, runId: run.runId,
    artifactUri: run.artifactUri, pxlRunId: pointer.pxl_run_id, spoolAcked: 0,
  };
  writeFileAtomic(join(runDir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
  return runDir;
}
