// `pxl worker`: takes sweep members off the queue, one per slot, and runs each as the child
// `pxl run --reporter json` a local sweep runs (sweep/child.ts), in this machine's runs
// folder. Its progress goes back to the job; each checkpoint goes to the member's MLflow run,
// from which the worker that takes the member over after a crash resumes it.
//
// BullMQ holds a lock on each active job that this worker renews; a worker that dies stops
// renewing it, and another worker's stalled-job check puts the member back in the queue.
// How a member ends decides what the queue does with it: finished -> completed; a cause that
// will not change (bad input, a NaN loss, a refused payload, a cancel) -> failed once
// (UnrecoverableError); anything else (a crash, MLflow unreachable) -> retried.
import { existsSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker, UnrecoverableError, WaitingError, type Job } from 'bullmq';
import { stringify } from 'yaml';
import type { EndEvent, RunEvent } from '../events/run-events.js';
import { spawnMember, type MemberExit, type MemberProcess } from '../sweep/child.js';
import { MEMORY_SHARE_ENV, memorySharePerMember, wasmThreadsPerMember } from '../sweep/runner.js';
import { readSummary } from '../sweep/state.js';
import { MlflowClient, MlflowError, credentialsFor } from '../track/mlflow-client.js';
import { readState, syncRun } from '../track/mlflow-sync.js';
import { resolveTracking } from '../track/settings.js';
import { writeFileAtomic } from '../util/files.js';
import { QUEUE_NAME, type QueueConnection } from './connection.js';
import { checkMemberJob, memberJobId, type MemberJob } from './payload.js';
import { asProgress, cancelKey, type MemberProgress, type MemberResult } from './progress.js';
import { downloadCheckpoint, readPointer, snapshotCheckpoint } from './resume-artifacts.js';
import { Uploader } from './uploader.js';

export interface WorkerOptions {
  queue: QueueConnection;
  concurrency: number;
  runsDir: string;
  /** CUDA_VISIBLE_DEVICES for each slot in turn; null leaves the variable as it is. */
  devices: string[] | null;
  log: (line: string) => void;
  /** How long a job's lock lasts without renewal: a dead worker's member is taken over after about this long. */
  lockMs: number;
  /** Resolves when the worker should stop: its members stop with a checkpoint and go back to the queue. */
  stopped: Promise<void>;
  env?: NodeJS.ProcessEnv;
}

const INTERRUPTED_EXIT = 130;
const BAD_INPUT_EXIT = 2;
const PROGRESS_EVERY_MS = 1000;
const CANCEL_POLL_MS = 1000;
/** How long a finished member waits for MLflow to take its records before the job is retried (which only syncs). */
const SYNC_PATIENCE_MS = 10 * 60_000;

/** Runs until `stopped` resolves and the members running then have stopped. */
export async function runWorker(o: WorkerOptions): Promise<void> {
  const slots = new Slots(o.concurrency);
  const live = new Set<MemberWork>();
  let stopping = false;
  const worker: Worker<unknown, MemberResult> = new Worker<unknown, MemberResult>(
    QUEUE_NAME,
    async (job, token): Promise<MemberResult> => {
      const checked = checkMemberJob(job.data);
      if ('problem' in checked || job.id !== memberJobId(checked.job.sweep, checked.job.member, checked.job.hash)) {
        const why = 'problem' in checked ? checked.problem : `its id ${job.id} is not the one its sweep and member give`;
        o.log(`refused job ${job.id}: ${why}; nothing was run`);
        throw new UnrecoverableError(`refused by the worker: ${why}`);
      }
      const slot = slots.take();
      const work: MemberWork = new MemberWork(job, checked.job, slot, o, token ?? '', () => worker.client);
      live.add(work);
      try {
        return await work.run(() => stopping);
      } finally {
        live.delete(work);
        slots.give(slot);
      }
    },
    {
      connection: o.queue.connection,
      concurrency: o.concurrency,
      lockDuration: o.lockMs,
      stalledInterval: Math.max(1000, Math.round(o.lockMs / 2)),
      // A member whose worker died is put back each time; only a member that keeps killing its workers fails.
      maxStalledCount: 10,
      autorun: true,
    },
  );
  worker.on('error', (err) => o.log(`queue: ${err.message}`));
  // This worker lost a member's lock (Redis away, or this process starved for longer than the
  // lock lasts): another worker may have it by now. It stops at once, with a checkpoint, and
  // sends nothing more, so that two never train or upload the same member side by side.
  worker.on('lockRenewalFailed', (ids) => {
    for (const w of live) if (ids.includes(w.jobId)) w.lose();
  });
  worker.on('failed', (job, err) => job && o.log(`${label(job)}: failed: ${err.message.split('\n')[0]}`));
  worker.on('completed', (job) => o.log(`${label(job)}: finished`));
  await worker.waitUntilReady();
  o.log(`worker ${workerName(0).replace(/#0$/, '')} on ${o.queue.display}: ${o.concurrency} slot${o.concurrency > 1 ? 's' : ''}, runs in ${resolve(o.runsDir)}`);
  await o.stopped;
  stopping = true;
  o.log(`stopping: ${live.size ? 'the running members stop after their step with a checkpoint and go back to the queue' : 'no member running'}`);
  // Takes no new job; close() waits for the running ones, which stop now.
  for (const w of live) w.interrupt();
  await worker.close();
}

const label = (job: Job): string => {
  const d = job.data as Partial<MemberJob>;
  return typeof d?.sweep === 'string' && typeof d.member === 'string' ? `${d.sweep}/${d.member}` : `job ${job.id}`;
};

const workerName = (slot: number): string => `${hostname()}/${process.pid}#${slot}`;

class Slots {
  private readonly free: number[];
  constructor(n: number) {
    this.free = Array.from({ length: n }, (_, i) => i);
  }
  take(): number {
    return this.free.shift() ?? 0;
  }
  give(slot: number): void {
    this.free.push(slot);
    this.free.sort((a, b) => a - b);
  }
}

type Plan =
  | { kind: 'new' }
  | { kind: 'resume'; runDir: string }
  /** Trained here before; only its records may be left to send. */
  | { kind: 'trained'; runDir: string }
  | { kind: 'done'; result: MemberResult };

class MemberWork {
  private proc: MemberProcess | null = null;
  private cancelled = false;
  private progress: MemberProgress;
  private lastProgress = 0;
  private readonly client: MlflowClient | null;
  private readonly uploads: Uploader | null;
  private end: EndEvent | null = null;
  private lost = false;

  constructor(
    private readonly job: Job<unknown, MemberResult>,
    private readonly m: MemberJob,
    private readonly slot: number,
    private readonly o: WorkerOptions,
    private readonly token: string,
    private readonly redis: () => Promise<{ get(key: string): Promise<string | null> }>,
  ) {
    const settings = resolveTracking(m.experiment.tracking, {});
    this.client = settings ? new MlflowClient({ ...credentialsFor(settings.uri, {}, o.env ?? process.env), uri: settings.uri, retries: 2, backoffMs: 500, timeoutMs: 30_000 }) : null;
    this.uploads = this.client ? new Uploader(this.client, (line) => this.log(line), (step) => this.onUploaded(step)) : null;
    this.progress = {
      worker: workerName(slot), host: hostname(), runDir: null, step: 0, totalSteps: null, loss: null, stepsPerSecond: null,
      uploadedStep: null, resumedFromStep: 0, startedAt: Date.now(), firstStepAt: null,
    };
  }

  private log(line: string): void {
    this.o.log(`${this.m.sweep}/${this.m.member} [slot ${this.slot}]: ${line}`);
  }

  get jobId(): string {
    return String(this.job.id);
  }

  interrupt(): void {
    this.proc?.interrupt();
  }

  lose(): void {
    if (this.lost) return;
    this.lost = true;
    this.uploads?.stop();
    this.log('lost its lock on the member (another worker may take it over): stopping it with a checkpoint');
    this.proc?.interrupt();
  }

  async run(stopping: () => boolean): Promise<MemberResult> {
    await this.checkCancel();
    if (this.cancelled) throw new UnrecoverableError('cancelled (pxl sweep cancel) before it started; running the sweep again enqueues it again');
    const plan = await this.plan();
    if (plan.kind === 'done') {
      this.log('finished earlier (its MLflow run says so); not run again');
      return plan.result;
    }
    if (plan.kind === 'trained') {
      this.progress.runDir = plan.runDir;
      return this.finish();
    }
    this.log(plan.kind === 'resume' ? `resuming ${plan.runDir}` : 'starting');
    const exit = await this.train(plan);
    // A member that finished while MLflow was away may have no MLflow run yet (its tracker left
    // the creation in the spool): sending the spool creates it, so its last checkpoint has a home.
    if (this.end?.status === 'finished' && this.client && !this.lost) await this.syncAll(this.progress.runDir!);
    await this.uploads?.flush();
    if (this.lost) throw new Error('this worker lost the member\'s lock; the queue hands it to another worker');
    const status = this.end?.status ?? (exit.code === INTERRUPTED_EXIT ? 'interrupted' : 'failed');
    if (status === 'finished') return this.finish();
    if (status === 'interrupted' && this.cancelled) throw new UnrecoverableError('cancelled (pxl sweep cancel); it stopped with a checkpoint, and running the sweep again resumes it');
    if (status === 'interrupted' && stopping()) {
      // Back to the queue for another worker (or this one, started again): not an attempt used up.
      await this.job.moveToWait(this.token);
      throw new WaitingError();
    }
    if (this.end?.status === 'failed') throw new UnrecoverableError(this.end.message || 'the run failed');
    if (exit.code === BAD_INPUT_EXIT) throw new UnrecoverableError(`bad input: ${lastLines(exit.stderr)}`);
    // A crash, a kill, an unreachable service: worth another try.
    throw new Error(lastLines(exit.stderr) || (exit.signal ? `killed by ${exit.signal}` : `exited with status ${exit.code}`));
  }

  /**
   * Where to start: this machine's run folder when it ran the member before and still has it;
   * else the latest checkpoint in the member's MLflow run, downloaded; else a new run. A member
   * whose MLflow run finished is not run again.
   */
  private async plan(): Promise<Plan> {
    const before = asProgress(this.job.progress);
    // This machine's, in this worker's runs folder: another worker's folder (here or elsewhere) is not touched.
    if (before?.host === hostname() && before.runDir && resolve(before.runDir).startsWith(`${resolve(this.o.runsDir)}${sep}`)) {
      const summary = readSummary(before.runDir);
      if (summary?.status === 'finished') return { kind: 'trained', runDir: before.runDir };
      // Without a checkpoint yet, `pxl run --resume` starts it again from step 0 in the same folder (and MLflow run).
      if (summary?.status !== 'failed' && existsSync(join(before.runDir, 'config.yaml'))) return { kind: 'resume', runDir: before.runDir };
    }
    if (!this.client || !this.m.mlflow) return { kind: 'new' };
    try {
      const run = await this.memberRun();
      if (!run) return { kind: 'new' };
      if (run.status === 'FINISHED') {
        const summary = JSON.parse((await this.client.downloadArtifact(run.artifactUri, 'summary.json')).toString('utf8'));
        return { kind: 'done', result: { status: 'finished', summary, worker: this.progress.worker, host: this.progress.host, runDir: '', mlflowRunId: run.runId } };
      }
      const pointer = await readPointer(this.client, run.artifactUri);
      if (!pointer) {
        // Killed before its first checkpoint reached MLflow: it starts over as a new run; the old one is marked dead.
        await this.client.updateRun(run.runId, { status: 'KILLED', endTime: Date.now() });
        await this.client.setTag(run.runId, 'pxl.superseded', 'true');
        return { kind: 'new' };
      }
      const t0 = performance.now();
      const runDir = await downloadCheckpoint(this.client, { ...run, experimentName: this.m.mlflow.experimentName }, { ...pointer, experiment: this.m.experiment.name }, this.o.runsDir);
      this.uploads!.previous = pointer;
      this.uploads!.known = true;
      this.log(`downloaded the checkpoint of step ${pointer.step} from MLflow run ${run.runId} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      return { kind: 'resume', runDir };
    } catch (err) {
      if (err instanceof MlflowError || err instanceof SyntaxError) throw new Error(`could not look for the member's earlier run in MLflow: ${err.message}`);
      throw err;
    }
  }

  /** The member's MLflow run from an earlier attempt (any worker): a child of the sweep's parent with the member's name and hash. */
  private async memberRun(): Promise<{ runId: string; experimentId: string; artifactUri: string; status: string } | null> {
    const experiment = await this.client!.getExperimentByName(this.m.mlflow!.experimentName);
    if (!experiment) return null;
    const q = (v: string) => `'${v.replace(/'/g, "\\'")}'`;
    const filter = [
      `tags.\`mlflow.parentRunId\` = ${q(this.m.mlflow!.parentRunId)}`,
      `tags.\`pxl.sweep_member\` = ${q(this.m.member)}`,
      `tags.\`pxl.member_hash\` = ${q(this.m.hash)}`,
    ].join(' and ');
    const found = await this.client!.searchRuns({ experimentIds: [experiment.experimentId], filter, maxResults: 1, orderBy: ['attributes.start_time DESC'] });
    const info = found.runs[0]?.info;
    return info ? { runId: info.runId, experimentId: info.experimentId, artifactUri: info.artifactUri, status: info.status } : null;
  }

  private async train(plan: Extract<Plan, { kind: 'new' | 'resume' }>): Promise<MemberExit> {
    const start = plan.kind === 'resume' ? ['run', '--resume', plan.runDir] : ['run', this.writeMemberFile(), '--runs-dir', resolve(this.o.runsDir)];
    const tags = {
      'pxl.sweep': this.m.sweep, 'pxl.sweep_member': this.m.member, 'pxl.member_hash': this.m.hash, 'pxl.queue_job': String(this.job.id), 'pxl.worker': hostname(),
    };
    const args = [...start, '--reporter', 'json', ...Object.entries(tags).flatMap(([k, v]) => ['--tracking-tag', `${k}=${v}`])];
    if (this.m.mlflow) args.push('--parent-run-id', this.m.mlflow.parentRunId);
    const proc = spawnMember(args, this.memberEnv(), (e) => this.onEvent(e));
    this.proc = proc;
    const watch = setInterval(() => void this.checkCancel(), CANCEL_POLL_MS);
    try {
      return await proc.done;
    } finally {
      clearInterval(watch);
      this.proc = null;
    }
  }

  private writeMemberFile(): string {
    const dir = join(this.o.runsDir, 'queue', this.m.sweep);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${this.m.member}.yaml`);
    writeFileAtomic(file, `# member ${this.m.member} of sweep ${this.m.sweep}, from the queue (job ${this.job.id})\n${stringify(this.m.experiment, { lineWidth: 0 })}`);
    return file;
  }

  /** Like a local sweep's members: its share of the cores and memory, its own device, its sweep's MLflow experiment. */
  private memberEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...(this.o.env ?? process.env) };
    env.PXL_WASM_THREADS ||= String(wasmThreadsPerMember(this.o.concurrency));
    env[MEMORY_SHARE_ENV] = memorySharePerMember(this.o.concurrency, env[MEMORY_SHARE_ENV]);
    if (this.o.devices?.length) env.CUDA_VISIBLE_DEVICES = this.o.devices[this.slot % this.o.devices.length];
    if (this.m.mlflow) env.MLFLOW_EXPERIMENT_NAME = this.m.mlflow.experimentName;
    return env;
  }

  private onEvent(e: RunEvent): void {
    const p = this.progress;
    switch (e.type) {
      case 'start':
        Object.assign(p, { runDir: e.runDir, totalSteps: e.totalSteps, resumedFromStep: e.resumedFromStep, step: e.resumedFromStep });
        this.report(true);
        return;
      case 'step':
        Object.assign(p, { step: e.step, loss: e.loss, stepsPerSecond: e.stepsPerSecond });
        if (p.firstStepAt === null) {
          p.firstStepAt = e.time;
          this.report(true);
        } else this.report(false);
        return;
      case 'checkpoint':
        // A resume starts from a rolling checkpoint; the best one goes with the next of those.
        if (!p.runDir || !this.uploads || e.best) return;
        try {
          this.uploads.push(snapshotCheckpoint(p.runDir, e.path, e.step), p.runDir);
        } catch (err) {
          // Removed already by a newer one (keep_checkpoints): that one comes next.
          this.log(`checkpoint of step ${e.step} not uploaded: ${(err as Error).message}`);
        }
        return;
      case 'end':
        this.end = e;
        p.step = e.summary.steps;
        this.report(true);
        return;
      default:
        return;
    }
  }

  private onUploaded(step: number): void {
    this.progress.uploadedStep = step;
    this.report(true);
  }

  /** The job's progress in Redis, at most once a second; Redis away for a moment loses an update, not the member. */
  private report(now: boolean): void {
    if (!now && Date.now() - this.lastProgress < PROGRESS_EVERY_MS) return;
    this.lastProgress = Date.now();
    this.job.updateProgress({ ...this.progress }).catch(() => {});
  }

  private async checkCancel(): Promise<void> {
    if (this.cancelled) return;
    try {
      const client = await this.redis();
      if (await client.get(cancelKey(this.m.sweep))) {
        this.cancelled = true;
        this.log('cancelled: stopping after this step with a checkpoint');
        this.proc?.interrupt();
      }
    } catch {
      // Redis away for a moment: asked again in a second.
    }
  }

  /** Every record in MLflow (the run's spool sent, summary.json), then the result. */
  private async finish(): Promise<MemberResult> {
    const runDir = this.progress.runDir!;
    const summary = this.end?.summary ?? readSummary(runDir)!;
    let mlflowRunId: string | null = null;
    if (this.client) {
      await this.syncAll(runDir);
      const state = readState(runDir);
      mlflowRunId = state.runId;
      if (state.artifactUri) {
        await this.client.uploadArtifact(state.artifactUri, 'summary.json', Buffer.from(`${JSON.stringify(summary, null, 2)}\n`)).catch((err: Error) => {
          throw new Error(`could not upload summary.json to MLflow: ${err.message}`);
        });
      }
    }
    return { status: 'finished', summary, worker: this.progress.worker, host: this.progress.host, runDir, mlflowRunId };
  }

  private async syncAll(runDir: string): Promise<void> {
    const deadline = Date.now() + SYNC_PATIENCE_MS;
    for (let said = false; ; said = true) {
      const r = await syncRun(runDir, { env: this.o.env ?? process.env, retries: 1, backoffMs: 500, timeoutMs: 30_000 });
      if (r.status !== 'offline') return;
      if (Date.now() > deadline) throw new Error(`MLflow did not take this member's records (${r.error}); the job is retried, which sends them`);
      if (!said) this.log(`finished; waiting for MLflow to take its records (${r.pending} pending: ${r.error})`);
      await sleep(5000);
    }
  }
}

function lastLines(stderr: string): string {
  return stderr.split('\n').map((l) => l.replace(/^pxl: /, '').trim()).filter(Boolean).slice(-5).join('\n');
}
