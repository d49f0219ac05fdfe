// A member's latest checkpoint kept as artifacts of its MLflow run, so that the worker that
// takes the member over (another machine, an empty runs folder) can go on from it.
//
// Layout under the run's artifacts, two slots used in turn:
//   resume/a/  resume/b/   checkpoint/<weights.bin, manifest.json>, best/<the same>,
//                          config.yaml, config.original.json, run.json, metrics.jsonl
//   resume/latest.json     {slot, step, checkpoint, pxl_run_id, experiment}, written last
// A slot is filled completely before latest.json names it, and the slot it names is never
// written to: an upload cut short (the worker died) leaves the previous checkpoint whole.
// Two slots rather than one folder per checkpoint: the server keeps at most two, whatever
// the run's length (MLflow's REST API has no artifact delete). A resume starts from the
// rolling checkpoint `latest` names, never from checkpoints/best; best/ travels with it
// because the end of the run draws its grid from it (and, with a validation set, tests it).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { BEST } from '../checkpoint/checkpoint.js';
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
  /** The sha256 of the weights of the best checkpoint in the slot (best/); absent or null: the run had none. */
  best?: string | null;
}

/** The latest uploaded checkpoint, or null when the run has none. Throws MlflowError when the server cannot say. */
export async function readPointer(client: MlflowClient, artifactUri: string): Promise<ResumePointer | null> {
  try {
    const p = JSON.parse((await client.downloadArtifact(artifactUri, POINTER)).toString('utf8')) as ResumePointer;
    // Its names become file names on this machine: only what pxl itself writes is taken.
    const ok = (p.slot === 'a' || p.slot === 'b') && Number.isInteger(p.step) && /^step-\d{8}$/.test(p.checkpoint) &&
      /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(p.pxl_run_id) && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(p.experiment) &&
      (p.best == null || (typeof p.best === 'string' && /^[0-9a-f]{64}$/.test(p.best)));
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
  /** The run's best checkpoint as it was then (files under best/) and its weights' sha256; null when it has none yet. */
  best: { files: [string, Buffer][]; sha256: string } | null;
  bytes: number;
}

/** A rolling checkpoint (checkpoints/step-N, as `latest` names it), with the run's best checkpoint and run files. */
export function snapshotCheckpoint(runDir: string, checkpointDir: string, step: number): CheckpointSnapshot {
  const files: [string, Buffer][] = [];
  for (const name of readdirSync(checkpointDir)) files.push([`checkpoint/${name}`, readFileSync(join(checkpointDir, name))]);
  for (const name of RUN_FILES) if (existsSync(join(runDir, name))) files.push([name, readFileSync(join(runDir, name))]);
  const best = readBest(join(dirname(checkpointDir), BEST));
  const bytes = [...files, ...(best?.files ?? [])].reduce((n, [, b]) => n + b.length, 0);
  return { step, runDir, checkpoint: basename(checkpointDir), files, best, bytes };
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * checkpoints/best, whole: the run replaces it whenever an evaluation improves, so a read that
 * straddles a replacement (its weights not those its manifest names) is read again. Null when
 * there is none. A best newer than the rolling checkpoint is fine: the resumed run makes the
 * same one again at the same step.
 */
function readBest(dir: string, tries = 5): CheckpointSnapshot['best'] {
  for (let i = 0; i < tries; i++) {
    if (!existsSync(join(dir, 'manifest.json'))) return null;
    try {
      const manifest = readFileSync(join(dir, 'manifest.json'));
      const weights = readFileSync(join(dir, 'weights.bin'));
      const named = (JSON.parse(manifest.toString('utf8')) as { weights?: { sha256?: string } }).weights?.sha256;
      const digest = sha256(weights);
      if (named === digest) return { files: [['best/manifest.json', manifest], ['best/weights.bin', weights]], sha256: digest };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && !(err instanceof SyntaxError)) throw err;
    }
  }
  return null;
}

/** The slot an upload after `previous` fills: the one it does not name. */
export const nextSlot = (previous: ResumePointer | null): 'a' | 'b' => (previous?.slot === 'a' ? 'b' : 'a');

/**
 * Uploads a snapshot into the slot `previous` does not name, then points latest.json at it;
 * gives up between files once `cancelled()` (the member is no longer this worker's).
 * `bestThere`: that slot already holds this best checkpoint (this worker sent it), so it is not sent again.
 */
export async function uploadCheckpoint(
  client: MlflowClient, artifactUri: string, snap: CheckpointSnapshot, previous: ResumePointer | null, cancelled: () => boolean = () => false,
  bestThere = false,
): Promise<ResumePointer | null> {
  const slot = nextSlot(previous);
  for (const [path, data] of [...snap.files, ...(bestThere ? [] : (snap.best?.files ?? []))]) {
    if (cancelled()) return previous;
    await client.uploadArtifact(artifactUri, `${RESUME_DIR}/${slot}/${path}`, data);
  }
  if (cancelled()) return previous;
  const pointer: ResumePointer = {
    slot, step: snap.step, checkpoint: snap.checkpoint, pxl_run_id: basename(snap.runDir), experiment: basename(join(snap.runDir, '..')),
    best: snap.best?.sha256 ?? null,
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
  if (pointer.best) await downloadBest(client, run.artifactUri, `${slot}/${BEST}`, pointer.best, join(runDir, 'checkpoints', BEST));
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

/** The slot's best checkpoint into `dir`, once its weights are those the pointer names. */
async function downloadBest(client: MlflowClient, artifactUri: string, from: string, sha: string, dir: string): Promise<void> {
  const manifest = await client.downloadArtifact(artifactUri, `${from}/manifest.json`);
  const weights = await client.downloadArtifact(artifactUri, `${from}/weights.bin`);
  if (sha256(weights) !== sha) throw new Error(`the best checkpoint in MLflow (${from}) is not the one resume/latest.json names`);
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, 'weights.bin'), weights);
  writeFileAtomic(join(dir, 'manifest.json'), manifest);
}
