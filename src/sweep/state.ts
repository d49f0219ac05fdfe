// The sweep folder, runs/sweeps/<name>/: a copy of the sweep file, each member's resolved
// experiment, and state.json, which maps every member to its run folder and status so a
// stopped sweep can go on where it stopped.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { stringify } from 'yaml';
import type { RunSummary } from '../events/run-events.js';
import { latestCheckpoint } from '../checkpoint/checkpoint.js';
import { writeFileAtomic } from '../util/files.js';
import type { SweepDefinition, SweepMember } from './definition.js';
import type { MemberStatus, SweepStatus } from './events.js';

export const SWEEPS_FOLDER = 'sweeps';

export interface MemberState {
  name: string;
  experiment: string;
  hash: string;
  status: MemberStatus;
  /** The member's run folder, relative to the sweep folder (so the runs root can move). */
  run_dir: string | null;
  message: string;
  summary: RunSummary | null;
  /** Run folders of earlier attempts that failed or no longer match the member's settings. */
  earlier_runs: string[];
}

export interface SweepMlflowState {
  uri: string;
  experiment_id: string;
  experiment_name: string;
  run_id: string;
  artifact_uri: string;
}

export interface SweepState {
  version: 1;
  name: string;
  file: string;
  status: SweepStatus | 'running';
  created_at: string;
  updated_at: string;
  mlflow: SweepMlflowState | null;
  members: MemberState[];
}

export class SweepStoreError extends Error {
  override name = 'SweepStoreError';
}

export interface SweepPaths {
  dir: string;
  sweepFile: string;
  state: string;
  members: string;
  lock: string;
  markdown: string;
  csv: string;
  figure: string;
}

export function sweepPaths(dir: string): SweepPaths {
  const abs = resolve(dir);
  return {
    dir: abs,
    sweepFile: join(abs, 'sweep.yaml'),
    state: join(abs, 'state.json'),
    members: join(abs, 'members'),
    lock: join(abs, 'lock'),
    markdown: join(abs, 'results.md'),
    csv: join(abs, 'results.csv'),
    figure: join(abs, 'learning-curves.png'),
  };
}

export const sweepDir = (runsDir: string, name: string): string => resolve(runsDir, SWEEPS_FOLDER, name);

export const memberFile = (paths: SweepPaths, member: string): string => join(paths.members, `${member}.yaml`);

export const memberRunDir = (paths: SweepPaths, m: MemberState): string | null => (m.run_dir ? resolve(paths.dir, m.run_dir) : null);

export function readSweepState(dir: string): SweepState {
  const paths = sweepPaths(dir);
  if (!existsSync(paths.state)) throw new SweepStoreError(`${dir} is not a pxl sweep folder (no state.json)`);
  return JSON.parse(readFileSync(paths.state, 'utf8')) as SweepState;
}

export function writeSweepState(paths: SweepPaths, state: SweepState): void {
  state.updated_at = new Date().toISOString();
  writeFileAtomic(paths.state, `${JSON.stringify(state, null, 2)}\n`);
}

/** Creates the folder and writes the sweep file's copy and every member's resolved experiment. */
export function writeSweepFiles(paths: SweepPaths, def: SweepDefinition): void {
  mkdirSync(paths.members, { recursive: true });
  writeFileAtomic(paths.sweepFile, def.text);
  for (const m of def.members) {
    const header = `# member ${m.name} of sweep ${def.name}, resolved from ${def.experimentFile}\n`;
    writeFileAtomic(memberFile(paths, m.name), `${header}${stringify(m.experiment, { lineWidth: 0 })}`);
  }
}

/**
 * The state for this definition: members are matched by name with the saved state; one whose
 * settings changed since (or that is new) starts over. Returns notes on what changed.
 */
export function reconcileState(saved: SweepState | null, def: SweepDefinition): { state: SweepState; notes: string[] } {
  const now = new Date().toISOString();
  const notes: string[] = [];
  const before = new Map((saved?.members ?? []).map((m) => [m.name, m]));
  const members = def.members.map((m): MemberState => {
    const old = before.get(m.name);
    if (old && old.hash === m.hash) return { ...old, experiment: m.experiment.name };
    if (old) notes.push(`member ${m.name}: its settings changed since its last run; it starts over`);
    return fresh(m, old);
  });
  const dropped = [...before.keys()].filter((n) => !def.members.some((m) => m.name === n));
  if (dropped.length) notes.push(`no longer in the sweep file, left out: ${dropped.join(', ')}`);
  return {
    state: {
      version: 1, name: def.name, file: def.file, status: 'running',
      created_at: saved?.created_at ?? now, updated_at: now, mlflow: saved?.mlflow ?? null, members,
    },
    notes,
  };
}

function fresh(m: SweepMember, old?: MemberState): MemberState {
  const earlier = [...(old?.earlier_runs ?? []), ...(old?.run_dir ? [old.run_dir] : [])];
  return { name: m.name, experiment: m.experiment.name, hash: m.hash, status: 'pending', run_dir: null, message: '', summary: null, earlier_runs: earlier };
}

export type MemberPlan = { kind: 'skip'; runDir: string; summary: RunSummary } | { kind: 'resume'; runDir: string } | { kind: 'new' };

/**
 * What to do with a member now, judged from its run folder (the truth, should state.json
 * lag behind): skip it when finished, resume it from its checkpoint when it stopped
 * (interrupted, or killed before it could say), start it over when it failed.
 */
export function planMember(paths: SweepPaths, m: MemberState): MemberPlan {
  const runDir = memberRunDir(paths, m);
  if (!runDir || !existsSync(join(runDir, 'config.yaml'))) return { kind: 'new' };
  const summary = readSummary(runDir);
  if (summary?.status === 'finished') return { kind: 'skip', runDir, summary };
  if (summary?.status !== 'failed' && latestCheckpoint(join(runDir, 'checkpoints'))) return { kind: 'resume', runDir };
  return { kind: 'new' };
}

export function readSummary(runDir: string): RunSummary | null {
  try {
    return JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as RunSummary;
  } catch {
    return null;
  }
}

/** Records a member's run folder, relative to the sweep folder. */
export function setRunDir(paths: SweepPaths, m: MemberState, runDir: string): void {
  if (m.run_dir && resolve(paths.dir, m.run_dir) !== resolve(runDir)) m.earlier_runs.push(m.run_dir);
  m.run_dir = relative(paths.dir, resolve(runDir));
}

/**
 * Takes the sweep's lock: one `pxl sweep` per sweep folder at a time. A lock left by a
 * process that no longer exists is taken over. Returns the release.
 */
export function lockSweep(paths: SweepPaths): () => void {
  if (existsSync(paths.lock)) {
    const pid = Number(readFileSync(paths.lock, 'utf8').trim());
    if (pid && pid !== process.pid && alive(pid)) {
      throw new SweepStoreError(`sweep ${paths.dir} is already running (process ${pid}); wait for it or stop it first`);
    }
  }
  writeFileSync(paths.lock, `${process.pid}\n`);
  return () => rmSync(paths.lock, { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
