// The sweep's side of a queued sweep: enqueue its members (idempotently: stable job ids),
// read where they stand from the queue (the table `pxl sweep --queue` follows and `pxl sweep
// status` prints), cancel them, and, once every member is settled, record the results as a
// local sweep does: the sweep folder's state.json, results and figure, and the MLflow parent
// run, from each member's MLflow run alone (the member folders are on the workers).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Queue, type ConnectionOptions, type Job } from 'bullmq';
import type { SweepDefinition } from '../sweep/definition.js';
import type { MemberStatus, SweepStatus } from '../sweep/events.js';
import { splitSweepCredentials, SweepTracker } from '../sweep/mlflow.js';
import { writeSweepResults } from '../sweep/results.js';
import {
  readSweepState, reconcileState, sweepDir, sweepPaths, writeSweepFiles, writeSweepState, type SweepMlflowState, type SweepPaths, type SweepState,
} from '../sweep/state.js';
import { MlflowClient, MlflowError, credentialsFor, withoutCredentials } from '../track/mlflow-client.js';
import { resolveTracking } from '../track/settings.js';
import { writeFileAtomic } from '../util/files.js';
import { stringify } from 'yaml';
import { QUEUE_NAME, type QueueConnection } from './connection.js';
import { memberJobId, memberJobs, type MemberJob } from './payload.js';
import { asProgress, cancelKey, etaSeconds, parentKey, type MemberProgress, type MemberResult } from './progress.js';

/** Where a member stands in the queue. */
export type QueueStatus = 'not queued' | 'queued' | 'running' | 'retrying' | 'finished' | 'failed' | 'cancelled';

export interface MemberRow {
  index: number;
  member: string;
  jobId: string;
  status: QueueStatus;
  progress: MemberProgress | null;
  eta: number | null;
  result: MemberResult | null;
  /** Why it failed or was cancelled. */
  message: string;
  attempts: number;
  /** ms since epoch: enqueued, and first taken by a worker. */
  enqueuedAt: number | null;
  processedAt: number | null;
}

/** Redis cannot be reached: an environment problem (exit 1). */
export class QueueUnreachableError extends Error {
  override name = 'QueueUnreachableError';
}

const SETTLED: QueueStatus[] = ['finished', 'failed', 'cancelled'];
export const settled = (rows: MemberRow[]): boolean => rows.every((r) => SETTLED.includes(r.status));

/** A sweep on a queue: its definition without credentials, its queue, and its folder on this machine. */
export class QueuedSweep {
  readonly def: SweepDefinition;
  readonly paths: SweepPaths;
  private readonly queue: Queue;
  private readonly trackingUri: string | null;
  /** The connection's last error, for messages. */
  lastError: Error | null = null;

  constructor(def: SweepDefinition, conn: QueueConnection, runsDir: string) {
    // Before anything is written or sent: no credentials in the sweep folder or the jobs.
    this.def = splitSweepCredentials(def).def;
    this.paths = sweepPaths(sweepDir(runsDir, def.name));
    // A command fails after a few tries instead of waiting for Redis forever: the sweep's side reports it (workers wait).
    this.queue = new Queue(QUEUE_NAME, { connection: { ...conn.connection, maxRetriesPerRequest: 3 } as ConnectionOptions });
    this.queue.on('error', (err) => {
      this.lastError = err;
    });
    const settings = resolveTracking(this.def.members[0].experiment.tracking);
    this.trackingUri = settings ? withoutCredentials(settings.uri).uri : null;
  }

  /** Waits for Redis; an error naming it (without its password) when it does not answer in time. */
  async connect(display: string, timeoutMs = 15_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((done) => (timer = setTimeout(() => done('timeout'), timeoutMs)));
    const ready = this.queue.waitUntilReady().then(() => 'ready' as const);
    const outcome = await Promise.race([ready, timeout]).finally(() => clearTimeout(timer));
    if (outcome === 'timeout') {
      throw new QueueUnreachableError(`the queue at ${display} did not answer in ${timeoutMs / 1000} s${this.lastError ? ` (${this.lastError.message})` : ''}`);
    }
  }

  close(): Promise<void> {
    return this.queue.close();
  }

  private jobIds(): string[] {
    return this.def.members.map((m) => memberJobId(this.def.name, m.name, m.hash));
  }

  /**
   * Enqueues every member not in the queue yet and puts cancelled ones back (they resume from
   * their checkpoints); members already queued, running, finished or failed are left as they
   * are. Returns how many of each.
   */
  async enqueue(warn: (m: string) => void): Promise<{ added: number; requeued: number; already: number }> {
    writeSweepFiles(this.paths, this.def);
    const saved = existsSync(this.paths.state) ? readSweepState(this.paths.dir) : null;
    const { state, notes } = reconcileState(saved, this.def);
    notes.forEach(warn);
    const mlflow = await this.parent(state, warn);
    writeSweepState(this.paths, state);
    const redis = await this.queue.client;
    await redis.del(cancelKey(this.def.name));
    const counts = { added: 0, requeued: 0, already: 0 };
    for (const data of memberJobs(this.def, mlflow, this.trackingUri)) {
      const jobId = memberJobId(data.sweep, data.member, data.hash);
      const job = await this.queue.getJob(jobId);
      if (!job) {
        await this.queue.add('member', data, {
          jobId, attempts: 3, backoff: { type: 'exponential', delay: 10_000 }, removeOnComplete: false, removeOnFail: false,
        });
        counts.added++;
      } else if ((await job.getState()) === 'failed' && isCancelled(job.failedReason)) {
        await job.retry('failed');
        counts.requeued++;
      } else counts.already++;
    }
    return counts;
  }

  /**
   * The sweep's MLflow parent run: the one recorded in Redis by whoever enqueued the sweep
   * first (any machine), else the one in this sweep folder, else a new one.
   */
  private async parent(state: SweepState, warn: (m: string) => void): Promise<MemberJob['mlflow']> {
    if (!this.trackingUri) return null;
    const redis = await this.queue.client;
    const shared = await redis.get(parentKey(this.def.name));
    if (shared) state.mlflow = JSON.parse(shared) as SweepMlflowState;
    const tracker = await SweepTracker.open(this.def, state, this.def.members[0].experiment.tracking, warn);
    if (!tracker || !state.mlflow) return null;
    // Two machines enqueueing the same new sweep in the same second could each make a parent; the later one's is kept.
    if (!shared) await redis.set(parentKey(this.def.name), JSON.stringify(state.mlflow));
    return { parentRunId: state.mlflow.run_id, experimentName: state.mlflow.experiment_name };
  }

  async rows(): Promise<MemberRow[]> {
    const ids = this.jobIds();
    return Promise.all(this.def.members.map(async (m, i) => row(i + 1, m.name, ids[i], await this.queue.getJob(ids[i]))));
  }

  /** Stops the sweep: queued members leave the queue, running ones stop after their step with a checkpoint. */
  async cancel(): Promise<{ removed: number; stopping: number }> {
    const redis = await this.queue.client;
    await redis.set(cancelKey(this.def.name), String(Date.now()));
    let removed = 0;
    let stopping = 0;
    for (const id of this.jobIds()) {
      const job = await this.queue.getJob(id);
      if (!job) continue;
      const state = await job.getState();
      if (state === 'waiting' || state === 'delayed' || state === 'prioritized' || state === 'waiting-children') {
        await job.remove();
        removed++;
      } else if (state === 'active') stopping++;
    }
    return { removed, stopping };
  }

  /**
   * Once every member is settled: each member's run as a run folder in the sweep folder
   * (runs/<member>/: config.yaml, metrics.jsonl and summary.json from its MLflow run, or what
   * the queue holds when tracking is off), state.json, the results, the parent run's results.
   */
  async record(rows: MemberRow[], warn: (m: string) => void): Promise<{ status: SweepStatus; table: string; files: string[] }> {
    writeSweepFiles(this.paths, this.def);
    const saved = existsSync(this.paths.state) ? readSweepState(this.paths.dir) : null;
    const { state } = reconcileState(saved, this.def);
    const shared = this.trackingUri ? await (await this.queue.client).get(parentKey(this.def.name)) : null;
    if (shared) state.mlflow = JSON.parse(shared) as SweepMlflowState;
    const client = this.client();
    for (const r of rows) {
      const m = state.members.find((s) => s.name === r.member)!;
      const def = this.def.members.find((d) => d.name === r.member)!;
      m.status = memberStatus(r.status);
      m.message = r.message;
      if (!r.result) continue;
      const dir = join(this.paths.dir, 'runs', r.member);
      await this.fetchRun(client, r.result, def.experiment, dir, warn);
      m.summary = r.result.summary;
      m.run_dir = join('runs', r.member);
    }
    const counts = state.members.map((m) => m.status);
    const status: SweepStatus = counts.includes('interrupted') ? 'interrupted' : counts.includes('failed') ? 'failed' : 'finished';
    state.status = status;
    writeSweepState(this.paths, state);
    const results = await writeSweepResults(this.paths.dir);
    const files = [results.files.markdown, results.files.csv, results.files.figure].filter((f): f is string => f !== null);
    if (this.trackingUri) {
      const tracker = await SweepTracker.open(this.def, state, this.def.members[0].experiment.tracking, warn);
      await tracker?.finish(state, status, files);
      writeSweepState(this.paths, state);
    }
    return { status, table: results.table, files };
  }

  private client(): MlflowClient | null {
    return this.trackingUri ? new MlflowClient({ ...credentialsFor(this.trackingUri), uri: this.trackingUri, retries: 2, backoffMs: 500 }) : null;
  }

  /** A member's run folder rebuilt from its MLflow run (what compare reads), else from the job's result. */
  private async fetchRun(client: MlflowClient | null, result: MemberResult, experiment: SweepDefinition['members'][number]['experiment'], dir: string, warn: (m: string) => void): Promise<void> {
    mkdirSync(dir, { recursive: true });
    let got = false;
    if (client && result.mlflowRunId) {
      try {
        const run = await client.getRun(result.mlflowRunId);
        for (const name of ['config.yaml', 'metrics.jsonl', 'summary.json']) {
          writeFileAtomic(join(dir, name), await client.downloadArtifact(run.info.artifactUri, name));
        }
        got = true;
      } catch (err) {
        if (!(err instanceof MlflowError)) throw err;
        warn(`MLflow: could not read member ${result.runDir}'s run ${result.mlflowRunId}: ${err.message}; its curves are left out`);
      }
    }
    if (got) return;
    writeFileAtomic(join(dir, 'config.yaml'), stringify(experiment, { lineWidth: 0 }));
    writeFileAtomic(join(dir, 'summary.json'), `${JSON.stringify(result.summary, null, 2)}\n`);
    if (!existsSync(join(dir, 'metrics.jsonl'))) writeFileAtomic(join(dir, 'metrics.jsonl'), '');
  }
}

const isCancelled = (reason: string | undefined): boolean => /^cancelled\b/.test(reason ?? '');

async function row(index: number, member: string, jobId: string, job: Job | undefined): Promise<MemberRow> {
  const base: MemberRow = {
    index, member, jobId, status: 'not queued', progress: null, eta: null, result: null, message: '', attempts: 0, enqueuedAt: null, processedAt: null,
  };
  if (!job) return base;
  const state = await job.getState();
  const progress = asProgress(job.progress);
  const status: QueueStatus =
    state === 'completed' ? 'finished' :
    state === 'failed' ? (isCancelled(job.failedReason) ? 'cancelled' : 'failed') :
    state === 'active' ? 'running' :
    state === 'delayed' ? 'retrying' : 'queued';
  return {
    ...base, status, progress,
    eta: status === 'running' && progress ? etaSeconds(progress) : null,
    result: state === 'completed' ? (job.returnvalue as MemberResult) : null,
    message: state === 'failed' || state === 'delayed' ? (job.failedReason ?? '') : '',
    attempts: job.attemptsMade,
    enqueuedAt: job.timestamp ?? null,
    processedAt: job.processedOn ?? null,
  };
}

function memberStatus(s: QueueStatus): MemberStatus {
  switch (s) {
    case 'finished': return 'finished';
    case 'failed': return 'failed';
    case 'cancelled': return 'interrupted';
    case 'running': return 'running';
    default: return 'pending';
  }
}
