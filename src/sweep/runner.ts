// sweep/: many runs from one sweep file, run as child processes, kept in a sweep folder and compared.
//
// Runs a sweep: every member as a child `pxl run`, N at a time, with its state kept in the
// sweep folder after every change, so a stopped or killed sweep goes on where it was:
// finished members are skipped, interrupted ones resume from their checkpoints.
import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { writeSweepResults } from './results.js';
import { resolveTracking, TRACKING_OFF_HINT } from '../track/settings.js';
import type { RunEvent, RunStatus } from '../events/run-events.js';
import { spawnMember, type MemberExit, type MemberProcess } from './child.js';
import type { SweepDefinition } from './definition.js';
import type { MemberStatus, SweepEvent, SweepListener, SweepStatus } from './events.js';
import { credentialsEnv, splitSweepCredentials, SweepTracker } from './mlflow.js';
import type { MlflowAuth } from '../track/mlflow-client.js';
import {
  lockSweep, memberFile, memberRunDir, planMember, readSummary, readSweepState, reconcileState, setRunDir, sweepDir, sweepPaths,
  writeSweepFiles, writeSweepState, type MemberPlan, type MemberState, type SweepPaths, type SweepState,
} from './state.js';

/** Stop requests: the first stops every running member with a checkpoint, a second at once. */
export class StopSwitch {
  private count = 0;
  private readonly handlers = new Set<(count: number) => void>();

  get requested(): boolean {
    return this.count > 0;
  }

  request(): void {
    this.count++;
    for (const h of this.handlers) h(this.count);
  }

  onRequest(handler: (count: number) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }
}

export interface SweepOptions {
  runsDir: string;
  /** Members run at once, each its own process. */
  parallel: number;
  listeners: SweepListener[];
  stop: StopSwitch;
  /** Environment of the member processes (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

export interface SweepOutcome {
  status: SweepStatus;
  dir: string;
  state: SweepState;
}

const INTERRUPTED_EXIT = 130;

export async function runSweep(def: SweepDefinition, options: SweepOptions): Promise<SweepOutcome> {
  const paths = sweepPaths(sweepDir(options.runsDir, def.name));
  mkdirSync(paths.dir, { recursive: true });
  const unlock = lockSweep(paths);
  // Before anything is written: the sweep folder and the member files keep no credentials.
  const { def: clean, auth } = splitSweepCredentials(def);
  try {
    return await new SweepRun(clean, paths, options, auth).run();
  } finally {
    unlock();
  }
}

interface Job {
  index: number; // 0-based
  member: MemberState;
  plan: MemberPlan;
}

class SweepRun {
  private state!: SweepState;
  private tracker: SweepTracker | null = null;
  private readonly running = new Set<MemberProcess>();
  private readonly failedListeners = new Set<number>();
  private readonly t0 = performance.now();

  constructor(
    private readonly def: SweepDefinition,
    private readonly paths: SweepPaths,
    private readonly o: SweepOptions,
    private readonly auth: MlflowAuth,
  ) {}

  async run(): Promise<SweepOutcome> {
    writeSweepFiles(this.paths, this.def);
    const saved = existsSync(this.paths.state) ? readSweepState(this.paths.dir) : null;
    const { state, notes } = reconcileState(saved, this.def);
    this.state = state;
    notes.forEach((n) => this.warn(n));
    this.tracker = await SweepTracker.open(this.def, state, this.def.members[0].experiment.tracking, (m) => this.warn(m), this.auth);
    this.save();
    this.emitTracking();
    const jobs = state.members.map((member, index): Job => ({ index, member, plan: planMember(this.paths, member) }));
    this.emit({
      type: 'sweep-start', time: Date.now(), name: this.def.name, dir: this.paths.dir, file: this.def.file,
      total: jobs.length, toRun: jobs.filter((j) => j.plan.kind !== 'skip').length, parallel: this.o.parallel,
      members: state.members.map((m) => ({ name: m.name, experiment: m.experiment, status: m.status, runDir: memberRunDir(this.paths, m) })),
    });
    const release = this.o.stop.onRequest(() => this.running.forEach((p) => p.interrupt()));
    try {
      await pool(this.o.parallel, jobs, (job) => this.runJob(job), () => this.o.stop.requested);
    } finally {
      release();
    }
    return this.finish();
  }

  private async runJob({ index, member: m, plan }: Job): Promise<void> {
    const total = this.state.members.length;
    if (plan.kind === 'skip') {
      Object.assign(m, { status: 'finished', summary: plan.summary, message: '' });
      this.save();
      this.emit({ type: 'member-skip', time: Date.now(), index: index + 1, total, member: m.name, runDir: plan.runDir, summary: plan.summary });
      return;
    }
    const resume = plan.kind === 'resume' ? plan.runDir : null;
    this.emit({ type: 'member-start', time: Date.now(), index: index + 1, total, member: m.name, experiment: m.experiment, resume });
    Object.assign(m, { status: 'running', message: '' });
    this.save();
    const proc = spawnMember(this.memberArgs(m, resume), this.memberEnv(), (event) => this.onRunEvent(index, m, event));
    this.running.add(proc);
    // A stop requested while this member was starting reaches it too.
    if (this.o.stop.requested) proc.interrupt();
    const exit = await proc.done;
    this.running.delete(proc);
    const status: RunStatus = exit.end?.status ?? (exit.code === INTERRUPTED_EXIT ? 'interrupted' : 'failed');
    const runDir = memberRunDir(this.paths, m);
    Object.assign(m, {
      status,
      summary: exit.end?.summary ?? (runDir ? readSummary(runDir) : null),
      message: exit.end?.message || (status === 'failed' ? failureMessage(exit) : ''),
    });
    this.save();
    this.emit({ type: 'member-end', time: Date.now(), index: index + 1, total, member: m.name, status, runDir, summary: m.summary, message: m.message });
  }

  private onRunEvent(index: number, m: MemberState, event: RunEvent): void {
    if (event.type === 'start') {
      setRunDir(this.paths, m, event.runDir);
      this.save();
      // The json reporter leaves the config out; the plain reporter reads log_every from it.
      event.config = this.def.members[index].experiment as unknown as Record<string, unknown>;
    }
    this.emit({ type: 'member-run', time: Date.now(), index: index + 1, member: m.name, event });
  }

  private memberArgs(m: MemberState, resume: string | null): string[] {
    const start = resume ? ['run', '--resume', resume] : ['run', memberFile(this.paths, m.name), '--runs-dir', resolve(this.o.runsDir)];
    const tags = ['--tracking-tag', `pxl.sweep=${this.def.name}`, '--tracking-tag', `pxl.sweep_member=${m.name}`];
    const parent = this.tracker ? ['--parent-run-id', this.tracker.parent.runId] : [];
    return [...start, '--reporter', 'json', ...tags, ...parent];
  }

  /**
   * Members land in the parent's MLflow experiment whatever their own names, parent or not.
   * Members side by side share the cores: each gets its part as wasm threads unless set;
   * and the memory: each plans its training step within its share (PXL_MEMORY_SHARE).
   */
  private memberEnv(): NodeJS.ProcessEnv {
    const env = { ...(this.o.env ?? process.env), ...credentialsEnv(this.auth) };
    env.PXL_WASM_THREADS ||= String(wasmThreadsPerMember(this.o.parallel));
    env[MEMORY_SHARE_ENV] = memorySharePerMember(this.o.parallel, env[MEMORY_SHARE_ENV]);
    const settings = resolveTracking(this.def.members[0].experiment.tracking, env);
    if (settings) env.MLFLOW_EXPERIMENT_NAME = this.tracker?.parent.experimentName ?? settings.experimentName ?? this.def.baseName;
    return env;
  }

  private async finish(): Promise<SweepOutcome> {
    const counts = countStatuses(this.state.members);
    const status: SweepStatus = counts.pending + counts.running + counts.interrupted > 0 ? 'interrupted' : counts.failed > 0 ? 'failed' : 'finished';
    this.state.status = status;
    this.save();
    const results = await writeSweepResults(this.paths.dir);
    const files = [results.files.markdown, results.files.csv, results.files.figure].filter((f): f is string => f !== null);
    await this.tracker?.finish(this.state, status, files);
    const message =
      status === 'interrupted' ? `stopped; run \`pxl sweep ${this.def.file}\` again to go on where it stopped` :
      status === 'failed' ? `${counts.failed} of ${this.state.members.length} members failed; run the sweep again to retry them` : '';
    this.emit({
      type: 'sweep-end', time: Date.now(), status, counts, seconds: (performance.now() - this.t0) / 1000,
      dir: this.paths.dir, table: results.table, files: results.files, message,
    });
    return { status, dir: this.paths.dir, state: this.state };
  }

  private emitTracking(): void {
    const t = this.tracker;
    const on = resolveTracking(this.def.members[0].experiment.tracking) !== null;
    const message = t ? `MLflow parent run: ${t.parent.link}` : on ? 'MLflow: no parent run for this sweep (see the warning above)' : TRACKING_OFF_HINT;
    this.emit({ type: 'sweep-tracking', time: Date.now(), enabled: t !== null, link: t?.parent.link ?? null, message });
  }

  private save(): void {
    writeSweepState(this.paths, this.state);
  }

  private warn(message: string): void {
    this.emit({ type: 'sweep-warning', time: Date.now(), message });
  }

  /** Every listener sees every event; a failing one is reported once and skipped after. */
  private emit(event: SweepEvent): void {
    this.o.listeners.forEach((listener, i) => {
      if (this.failedListeners.has(i)) return;
      const report = (err: unknown) => {
        if (this.failedListeners.has(i)) return;
        this.failedListeners.add(i);
        process.stderr.write(`pxl: a sweep subscriber failed and is skipped from now on: ${err instanceof Error ? err.message : String(err)}\n`);
      };
      try {
        const r = listener(event);
        if (r instanceof Promise) r.catch(report);
      } catch (err) {
        report(err);
      }
    });
  }
}

/** Runs `work` over `items`, at most `n` at once, starting no new item once `stopped()`. */
async function pool<T>(n: number, items: T[], work: (item: T) => Promise<void>, stopped: () => boolean): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && !stopped()) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
}

function countStatuses(members: MemberState[]): Record<MemberStatus, number> {
  const counts: Record<MemberStatus, number> = { finished: 0, failed: 0, interrupted: 0, pending: 0, running: 0 };
  for (const m of members) counts[m.status]++;
  return counts;
}

/** Why a member's process failed, from the last lines it wrote to stderr. */
function failureMessage(exit: MemberExit): string {
  const lines = exit.stderr.split('\n').map((l) => l.replace(/^pxl: /, '').trim()).filter(Boolean);
  if (lines.length) return lines.slice(-5).join('\n');
  return exit.signal ? `killed by ${exit.signal}` : `exited with status ${exit.code}`;
}

/** The variable a run reads its share of the machine's memory from (train/memory.ts reads it; named here to keep tfjs out of the sweep process). */
export const MEMORY_SHARE_ENV = 'PXL_MEMORY_SHARE';

/**
 * Each of `parallel` members side by side gets its part of the sweep's own share of the
 * memory (the whole machine unless PXL_MEMORY_SHARE was set for the sweep). A value that is
 * not a number is passed on as it is, for the member to report.
 */
export function memorySharePerMember(parallel: number, own?: string): string {
  const base = own?.trim() ? Number(own) : 1;
  return Number.isFinite(base) ? String(base / parallel) : own!;
}

/** The cores shared out between the members that run side by side, at least one each. */
export function wasmThreadsPerMember(parallel: number, cores = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / parallel));
}
