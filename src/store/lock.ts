// One owner per run folder: a run (new or resumed) holds <run>/run.lock for as long as it
// trains, so a second `pxl run --resume` of the same folder is refused instead of
// duplicating steps in metrics.jsonl and racing on checkpoints. Who holds it is written
// next to the lock, in run.lock.json.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { writeFileAtomic } from '../util/files.js';
import { RunStoreError, type RunPaths } from './run-dir.js';

/** Who holds a run folder. */
export interface RunOwner {
  pid: number;
  host: string;
  since: string; // ISO time the lock was taken
}

/**
 * proper-lockfile keeps the lock's mtime fresh and treats a lock untouched for this long as
 * left by a dead owner (on any host). Generous, because a long training step can hold up the
 * timer that refreshes it; on this host a dead owner is recognised at once by its pid.
 */
const STALE_MS = 120_000;
const UPDATE_MS = 10_000;

export class RunLockedError extends RunStoreError {
  override name = 'RunStoreError';
}

const lockPath = (paths: RunPaths) => join(paths.dir, 'run.lock');
const ownerPath = (paths: RunPaths) => join(paths.dir, 'run.lock.json');

/** The owner recorded next to the lock, or null when none is recorded or it cannot be read. */
export function readOwner(paths: RunPaths): RunOwner | null {
  try {
    return JSON.parse(readFileSync(ownerPath(paths), 'utf8')) as RunOwner;
  } catch {
    return null;
  }
}

/** Whether a process holds the run folder now (a lock whose owner is alive). */
export function isLocked(paths: RunPaths): boolean {
  if (!existsSync(lockPath(paths))) return false;
  const owner = readOwner(paths);
  if (owner && deadHere(owner)) return false;
  try {
    return lockfile.checkSync(paths.dir, { lockfilePath: lockPath(paths), stale: STALE_MS, realpath: false });
  } catch {
    return false;
  }
}

/**
 * Takes the run folder's lock, or throws RunLockedError naming its holder. `onLost` is called
 * if the lock is lost while held (its folder removed, or taken over after an unrefreshed
 * stretch longer than STALE_MS). Returns the function that releases it.
 */
export function lockRun(paths: RunPaths, onLost: (err: Error) => void): () => void {
  const owner = readOwner(paths);
  if (owner && existsSync(lockPath(paths)) && aliveHere(owner)) throw lockedError(paths, owner);
  try {
    take(paths, onLost);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw new RunStoreError(`cannot lock ${paths.dir}: ${(err as Error).message}`);
    // proper-lockfile judges staleness by mtime alone: a lock whose owner on this host has
    // died (SIGKILL, power cut of a container) is taken over at once rather than after STALE_MS.
    if (!owner || !deadHere(owner)) throw lockedError(paths, owner);
    rmSync(lockPath(paths), { recursive: true, force: true });
    take(paths, onLost);
  }
  // No command line: its --set arguments may carry credentials (tracking.uri), which stay out of run folders.
  const me: RunOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  writeFileAtomic(ownerPath(paths), `${JSON.stringify(me, null, 2)}\n`);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    rmSync(ownerPath(paths), { force: true });
    try {
      lockfile.unlockSync(paths.dir, { lockfilePath: lockPath(paths), realpath: false });
    } catch {
      // already lost (reported through onLost) or removed: nothing left to release
    }
  };
}

function take(paths: RunPaths, onLost: (err: Error) => void): void {
  lockfile.lockSync(paths.dir, {
    lockfilePath: lockPath(paths),
    realpath: false,
    stale: STALE_MS,
    update: UPDATE_MS,
    onCompromised: (err) => onLost(new RunStoreError(`lost the lock on ${paths.dir} (${lockPath(paths)}): ${err.message}`)),
  });
}

function lockedError(paths: RunPaths, owner: RunOwner | null): RunLockedError {
  const who = owner ? `pxl process ${owner.pid} on ${owner.host} since ${owner.since}` : 'another pxl process';
  return new RunLockedError(`${paths.dir} is in use by ${who} (${lockPath(paths)}); wait for it to end or stop it, then try again`);
}

const aliveHere = (o: RunOwner) => o.host === hostname() && o.pid !== process.pid && processAlive(o.pid);
const deadHere = (o: RunOwner) => o.host === hostname() && !processAlive(o.pid);

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by another user
  }
}
