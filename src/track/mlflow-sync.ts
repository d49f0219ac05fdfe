// What the MLflow tracker sends, as replayable operations, and the spool that
// keeps those it could not send in the run dir until the server is back.
//
// Files in the run dir:
//   mlflow.json          MLflow ids once known, and how many spool lines were acknowledged
//   mlflow-pending.jsonl one operation per line, append-only while in use
//
// Replay is idempotent: a run is created at most once (looked up by its
// pxl.run_id tag before creating), tags and artifacts overwrite, a dataset input
// is recorded once per name and digest, params are
// re-sent with the same values (which MLflow accepts), and metrics carry their
// own step and timestamp: MLflow's SQL stores drop a metric identical in key,
// step, timestamp and value to one already stored, so a batch sent again after
// a lost reply leaves no duplicate. Acknowledged lines are counted in
// mlflow.json, so a later sync starts where the last one stopped.
import { appendFileSync, existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import {
  MlflowClient,
  MlflowError,
  credentialsFor,
  redactUri,
  type Metric,
  type MlflowAuth,
  type MlflowDataset,
  type MlflowRunStatus,
  type Param,
  type RunTag,
} from './mlflow-client.js';
import { EXPERIMENT_TAGS } from './settings.js';

export const STATE_FILE = 'mlflow.json';
export const SPOOL_FILE = 'mlflow-pending.jsonl';

export interface LogOp {
  op: 'log';
  metrics: Metric[];
  params: Param[];
  tags: RunTag[];
}

export type SyncOp =
  | {
      op: 'create-run';
      experimentName: string;
      runName: string;
      startTime: number;
      tags: RunTag[];
      pxlRunId: string;
      /** A resumed pxl run continues its MLflow run when one is known. */
      resume: boolean;
    }
  | LogOp
  | { op: 'inputs'; datasets: { dataset: MlflowDataset; context: string }[] }
  /** `path` is relative to the run dir when inside it, so a moved run dir still syncs. */
  | { op: 'artifact'; path: string; artifactPath: string }
  | { op: 'status'; status: MlflowRunStatus; endTime: number };

export interface MlflowRunState {
  uri: string | null; // without credentials
  experimentName: string | null;
  experimentId: string | null;
  runId: string | null; // MLflow's
  artifactUri: string | null;
  pxlRunId: string | null;
  spoolAcked: number; // spool lines already sent
}

export type Log = (message: string) => void;

const EMPTY_STATE: MlflowRunState = {
  uri: null,
  experimentName: null,
  experimentId: null,
  runId: null,
  artifactUri: null,
  pxlRunId: null,
  spoolAcked: 0,
};

// Metric values may be NaN or infinite, which JSON cannot hold: keep them as MLflow's strings.
function encode(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
  return value;
}
function decodeOp(line: string): SyncOp {
  const op = JSON.parse(line) as SyncOp;
  if (op.op === 'log') for (const m of op.metrics) m.value = Number(m.value);
  return op;
}

// Consecutive metric-only batches are sent as one call group when replaying a long outage.
const REPLAY_GROUP_METRICS = 5000;

/** One run dir's link to MLflow: its state file, its spool, and how to send each operation. */
export class RunSync {
  state: MlflowRunState;
  /** Why the last send failed for now (unreachable, unauthorized, a proxy's page), if it did. */
  lastError: MlflowError | null = null;
  private lines: number;
  private readonly said = new Set<string>();
  /**
   * A resumed run's MLflow run may hold steps past the checkpoint it resumed from (its
   * process was killed after sending them): per metric key, the last step already there.
   * The resumed run repeats those steps with the same values (resumes are exact), so they are
   * not sent twice and the run's history is that of an uninterrupted run.
   */
  private loggedUpTo = new Map<string, number>();

  constructor(
    readonly runDir: string,
    readonly client: MlflowClient,
    private readonly log: Log,
    /** Told once the MLflow run exists (found or created). */
    private readonly onRun?: (experimentId: string, runId: string) => void,
  ) {
    this.state = readState(runDir);
    this.lines = countLines(this.spoolPath);
    // The spool was removed after a full sync but the counter was not reset yet.
    if (this.state.spoolAcked > this.lines) this.saveState({ spoolAcked: 0 });
  }

  get spoolPath(): string {
    return join(this.runDir, SPOOL_FILE);
  }

  /** Spooled operations not yet acknowledged by the server. */
  get pending(): number {
    return this.lines - this.state.spoolAcked;
  }

  saveState(patch: Partial<MlflowRunState>): void {
    this.state = { ...this.state, ...patch };
    const file = join(this.runDir, STATE_FILE);
    writeFileSync(`${file}.tmp`, `${JSON.stringify(this.state, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
  }

  /** Starts over: a different pxl run is using this dir. */
  reset(pxlRunId: string): void {
    if (this.pending > 0) this.log(`dropping ${this.pending} unsent MLflow operations of an earlier run in ${this.runDir}`);
    rmSync(this.spoolPath, { force: true });
    this.lines = 0;
    this.saveState({ ...EMPTY_STATE, pxlRunId });
  }

  append(ops: SyncOp[]): void {
    if (ops.length === 0) return;
    appendFileSync(this.spoolPath, ops.map((op) => `${JSON.stringify(op, encode)}\n`).join(''));
    this.lines += ops.length;
  }

  /** Sends one operation. Throws MlflowError; a transient one means "try again later". */
  async send(op: SyncOp): Promise<void> {
    switch (op.op) {
      case 'create-run':
        return this.createRun(op);
      case 'log':
        await this.client.logBatch(this.requireRun(), this.notLoggedYet(op));
        return;
      case 'inputs':
        await this.client.logInputs(this.requireRun(), op.datasets);
        return;
      case 'artifact':
        return this.uploadArtifact(op);
      case 'status':
        await this.client.updateRun(this.requireRun(), { status: op.status, endTime: op.endTime });
        return;
    }
  }

  /** Sends an operation; one the server refuses for good is dropped with a message, not retried. */
  async sendOrDrop(op: SyncOp): Promise<void> {
    try {
      await this.send(op);
    } catch (err) {
      if (err instanceof MlflowError && err.transient) throw err;
      // One cause (say, a run that could not be created) can refuse thousands of operations: say it once.
      const message = `MLflow ${op.op} dropped: ${(err as Error).message}`;
      if (!this.said.has(message)) this.log(message);
      this.said.add(message);
    }
  }

  /**
   * Sends every spooled operation in order. Lines appended meanwhile are sent too.
   * Returns true when nothing is pending; false when the server is (still) unreachable.
   */
  async drain(): Promise<boolean> {
    while (this.pending > 0) {
      const ops = readFileSync(this.spoolPath, 'utf8').split('\n').slice(this.state.spoolAcked, this.lines);
      for (const group of groupForReplay(ops)) {
        try {
          for (const op of group.ops) await this.sendOrDrop(op);
        } catch (err) {
          if (err instanceof MlflowError && err.transient) {
            this.lastError = err;
            return false;
          }
          throw err;
        }
        this.saveState({ spoolAcked: this.state.spoolAcked + group.lines });
      }
    }
    if (this.lines > 0) {
      // All acknowledged: remove the file first, so a crash here leaves a counter the constructor resets.
      rmSync(this.spoolPath, { force: true });
      this.lines = 0;
      this.saveState({ spoolAcked: 0 });
    }
    return true;
  }

  private requireRun(): string {
    if (!this.state.runId) throw new Error('MLflow run not created yet: the spool lacks its create-run line');
    return this.state.runId;
  }

  private notLoggedYet(op: LogOp): LogOp {
    if (this.loggedUpTo.size === 0) return op;
    return { ...op, metrics: op.metrics.filter((m) => m.step > (this.loggedUpTo.get(m.key) ?? -Infinity)) };
  }

  /** Reads the last step of each metric the run already holds (MLflow's latest metrics are those of the highest step). */
  private async noteLogged(runId: string): Promise<void> {
    const run = await this.client.getRun(runId);
    this.loggedUpTo = new Map(run.data.metrics.map((m) => [m.key, m.step]));
  }

  private async createRun(op: Extract<SyncOp, { op: 'create-run' }>): Promise<void> {
    if (this.state.runId) {
      if (op.resume) {
        await this.client.updateRun(this.state.runId, { status: 'RUNNING' });
        await this.noteLogged(this.state.runId);
      }
      return;
    }
    const experimentId = await this.client.ensureExperiment(op.experimentName, [...EXPERIMENT_TAGS]);
    // A create whose reply was lost may still have made the run: find it by our id first.
    const filter = `tags.\`pxl.run_id\` = '${op.pxlRunId.replace(/'/g, "\\'")}'`;
    const found = await this.client.searchRuns({ experimentIds: [experimentId], filter, maxResults: 1 });
    const info =
      found.runs[0]?.info ??
      (await this.client.createRun({ experimentId, runName: op.runName, startTime: op.startTime, tags: op.tags }));
    if (found.runs[0] && op.resume) {
      await this.client.updateRun(info.runId, { status: 'RUNNING' });
      await this.noteLogged(info.runId);
    }
    this.saveState({
      experimentName: op.experimentName,
      experimentId,
      runId: info.runId,
      artifactUri: info.artifactUri,
      pxlRunId: op.pxlRunId,
    });
    this.onRun?.(experimentId, info.runId);
  }

  private async uploadArtifact(op: Extract<SyncOp, { op: 'artifact' }>): Promise<void> {
    const local = resolve(this.runDir, op.path);
    const kind = statSync(local, { throwIfNoEntry: false });
    if (!kind) {
      this.log(`MLflow artifact skipped: ${local} does not exist`);
      return;
    }
    const artifactUri = this.state.artifactUri ?? (await this.client.getRun(this.requireRun())).info.artifactUri;
    if (kind.isDirectory()) await this.client.uploadDir(artifactUri, local, op.artifactPath);
    else await this.client.uploadFile(artifactUri, local, op.artifactPath);
  }
}

/** `path` as stored in an artifact operation: relative to the run dir when inside it. */
export function artifactSource(runDir: string, path: string): string {
  const abs = resolve(path);
  const rel = relative(resolve(runDir), abs);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : abs;
}

function groupForReplay(lines: string[]): { ops: SyncOp[]; lines: number }[] {
  const groups: { ops: SyncOp[]; lines: number }[] = [];
  let merged: LogOp | null = null;
  for (const line of lines) {
    let op: SyncOp;
    try {
      op = decodeOp(line);
    } catch {
      // A line torn by a crash mid-append: nothing to send, but count it as done.
      groups.push({ ops: [], lines: 1 });
      merged = null;
      continue;
    }
    const metricsOnly = op.op === 'log' && op.params.length === 0 && op.tags.length === 0;
    if (metricsOnly && merged && merged.metrics.length < REPLAY_GROUP_METRICS) {
      merged.metrics.push(...(op as LogOp).metrics);
      groups[groups.length - 1].lines++;
      continue;
    }
    merged = metricsOnly ? (op as LogOp) : null;
    groups.push({ ops: [op], lines: 1 });
  }
  return groups;
}

function countLines(file: string): number {
  if (!existsSync(file)) return 0;
  const text = readFileSync(file, 'utf8');
  return text.split('\n').length - 1; // every line ends in \n
}

export function readState(runDir: string): MlflowRunState {
  try {
    return { ...EMPTY_STATE, ...(JSON.parse(readFileSync(join(runDir, STATE_FILE), 'utf8')) as Partial<MlflowRunState>) };
  } catch {
    return { ...EMPTY_STATE };
  }
}

export interface SyncOptions {
  /** Tracking server; default: the one recorded in mlflow.json, then MLFLOW_TRACKING_URI. */
  uri?: string;
  auth?: MlflowAuth;
  env?: NodeJS.ProcessEnv;
  log?: Log;
  retries?: number;
  backoffMs?: number;
  timeoutMs?: number;
}

export interface SyncResult {
  /** 'synced': everything sent; 'nothing': nothing was pending; 'offline': the server is still unreachable. */
  status: 'synced' | 'nothing' | 'offline';
  sent: number; // spool lines acknowledged by this call
  pending: number; // spool lines left
  runId: string | null; // MLflow run id
  uri: string | null;
  /** Why records still wait ('offline'): unreachable, unauthorized, or not an MLflow server. */
  error: string | null;
}

/**
 * Sends what a run's MLflow tracker could not (`pxl sync RUN_DIR`), creating
 * the MLflow run first when the server was down when the run started.
 */
export async function syncRun(runDir: string, options: SyncOptions = {}): Promise<SyncResult> {
  const env = options.env ?? process.env;
  const state = readState(runDir);
  const uri = options.uri ?? state.uri ?? env.MLFLOW_TRACKING_URI;
  const pendingBefore = countLines(join(runDir, SPOOL_FILE)) - state.spoolAcked;
  if (pendingBefore <= 0) return { status: 'nothing', sent: 0, pending: 0, runId: state.runId, uri: uri ? redactUri(uri) : null, error: null };
  if (!uri) throw new Error(`${runDir} has ${pendingBefore} unsent MLflow operations but no tracking URI is known: set MLFLOW_TRACKING_URI`);
  // The run folder keeps no credentials: they come from the environment (or a URI given here).
  const auth = credentialsFor(uri, options.auth, env);
  const client = new MlflowClient({ ...auth, uri, retries: options.retries, backoffMs: options.backoffMs, timeoutMs: options.timeoutMs });
  const log = options.log ?? (() => {});
  const sync = new RunSync(runDir, client, log);
  const done = await sync.drain();
  if (!done && sync.lastError) log(sync.lastError.message);
  return {
    status: done ? 'synced' : 'offline',
    sent: pendingBefore - sync.pending,
    pending: sync.pending,
    runId: sync.state.runId,
    uri: client.uri,
    error: done ? null : (sync.lastError?.message ?? null),
  };
}
