// track/: MLflow tracking, a run subscriber, and syncing finished runs.
//
// The MLflow tracker: a run subscriber that mirrors a pxl run into an MLflow run.
//
// Training never waits for MLflow. Events become operations in an in-memory
// queue that one background worker sends in order. When the server cannot be
// reached, the queue goes to the run dir's spool (mlflow-pending.jsonl) and the
// worker retries it every `retryEveryMs` and once more at the end; whatever is
// still pending then is sent later by `syncRun` (`pxl sync RUN_DIR`).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { basename, join } from 'node:path';
import type { RunEvent, RunListener, RunStartEvent, RunStatus } from '../events/run-events.js';
import { MlflowClient, MlflowError, credentialsFor, type Metric, type MlflowAuth, type MlflowRunStatus, type RunTag } from './mlflow-client.js';
import type { DatasetInput } from './dataset-input.js';
import { RunSync, SPOOL_FILE, artifactSource, type Log, type SyncOp } from './mlflow-sync.js';
import { flattenConfig } from '../config/flatten.js';

export { flattenConfig } from '../config/flatten.js';
export { resolveTracking, splitCredentials, TRACKING_OFF_HINT, type TrackingSection, type TrackingSettings } from './settings.js';
export { datasetInputs, type DatasetInput } from './dataset-input.js';
export { syncRun, type SyncOptions, type SyncResult } from './mlflow-sync.js';

export interface MlflowTrackerOptions {
  uri: string;
  /** Default: the pxl experiment's name. */
  experimentName?: string;
  /** Default: the run dir of the start event. */
  runDir?: string;
  /** Default: the pxl run id. */
  runName?: string;
  tags?: Record<string, string>;
  /** Upload the last checkpoint as the `model/` artifact at the end. */
  logModel?: boolean;
  /** Makes this run a child of a sweep's parent run. */
  parentRunId?: string;
  /**
   * Credentials taken out of the URI (see splitCredentials); over MLFLOW_TRACKING_TOKEN /
   * _USERNAME / _PASSWORD, and MLFLOW_TRACKING_URI when it names the same server.
   */
  auth?: MlflowAuth;
  /** The run's data, recorded as the MLflow run's dataset inputs. */
  datasets?: DatasetInput[];
  /** Send buffered step metrics every this many steps (default 100) … */
  flushEverySteps?: number;
  /** … or when this much time passed since the last send (default 5 s). */
  flushEveryMs?: number;
  /** While the server is unreachable, try again this often (default 30 s). */
  retryEveryMs?: number;
  /** How long the end event waits for pending sends before leaving them to `pxl sync` (default 60 s). */
  endTimeoutMs?: number;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
  /** Where the tracker's few messages go (default stderr). */
  log?: Log;
  /** Told the run's page in the MLflow UI once the run exists. */
  onRunLink?: (link: string) => void;
}

export type MlflowTracker = RunListener & {
  /** The MLflow run id, once the run was created. */
  readonly mlflowRunId: () => string | null;
  /** Resolves when the worker has nothing left to do for now (sent, or spooled while offline). */
  idle(): Promise<void>;
};

const defaultLog: Log = (message) => process.stderr.write(`mlflow: ${message}\n`);

const STATUS: Record<RunStatus, MlflowRunStatus> = { finished: 'FINISHED', failed: 'FAILED', interrupted: 'KILLED' };
const MAX_TAG_VALUE = 8000;

const PXL_VERSION = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000 }).trim() || null;
  } catch {
    return null; // not a git checkout, or no git
  }
}

function userName(): string | null {
  try {
    return userInfo().username;
  } catch {
    return null; // a uid without a passwd entry, as in some containers
  }
}

function runTags(event: RunStartEvent, options: MlflowTrackerOptions, runName: string): RunTag[] {
  const tags: Record<string, string> = {
    'mlflow.runName': runName,
    'mlflow.note.content': event.description.slice(0, MAX_TAG_VALUE),
    'mlflow.source.name': 'pxl',
    'mlflow.source.type': 'LOCAL',
    'pxl.version': PXL_VERSION,
    'pxl.run_id': event.runId,
    'pxl.run_dir': event.runDir,
    'pxl.experiment': event.experiment,
    'pxl.device': event.device,
    'pxl.backend': event.backend,
    'pxl.backend_note': event.backendNote.slice(0, MAX_TAG_VALUE),
    'pxl.dataset': event.dataset.name,
  };
  const user = userName();
  if (user) tags['mlflow.user'] = user;
  const commit = gitCommit();
  if (commit) tags['mlflow.source.git.commit'] = commit;
  if (options.parentRunId) tags['mlflow.parentRunId'] = options.parentRunId;
  Object.assign(tags, options.tags);
  return Object.entries(tags).map(([key, value]) => ({ key, value }));
}

function startOps(event: RunStartEvent, options: MlflowTrackerOptions): SyncOp[] {
  const runName = options.runName ?? event.runId;
  const params = {
    ...flattenConfig(event.config),
    // pxl.* cannot collide with the config's own keys.
    'pxl.trainable_params': String(event.params),
    'pxl.backend': event.backend,
    // Which NLL the test metrics are; their names say it too (testMetric).
    'pxl.test_nll': isConditional(event.config) ? 'conditional' : 'unconditional',
    // Which weights every evaluation and sample uses: the averaged ones with train.ema.
    'pxl.evaluated_weights': averagedWeights(event.config) ? 'averaged' : 'trained',
  };
  return [
    {
      op: 'create-run',
      experimentName: options.experimentName ?? event.experiment,
      runName,
      startTime: event.time,
      tags: runTags(event, options, runName),
      pxlRunId: event.runId,
      resume: event.resumedFromStep > 0,
    },
    // Params alone: should a resumed run's changed config be refused, no metric goes with them.
    { op: 'log', metrics: [], tags: [], params: Object.entries(params).map(([key, value]) => ({ key, value })) },
    ...(options.datasets?.length ? [inputsOp(options.datasets)] : []),
  ];
}

const isConditional = (config: Record<string, unknown>): boolean =>
  ((config.model as { conditioning?: { type?: string } } | undefined)?.conditioning?.type ?? 'none') === 'class';

/** Whether the run averages its weights (train.ema.decay set) and so evaluates the averaged ones. */
const averagedWeights = (config: Record<string, unknown>): boolean =>
  ((config.train as { ema?: { decay?: number | null } } | undefined)?.ema?.decay ?? null) !== null;

/**
 * A test metric's name: a class-conditional model's test NLL is -log p(image | label), not
 * comparable with an unconditional one's, so its name says so (test/bits_per_dim_conditional).
 */
export const testMetric = (name: string, conditional: boolean | undefined): string => (conditional ? `${name}_conditional` : name);

function inputsOp(datasets: DatasetInput[]): SyncOp {
  return { op: 'inputs', datasets: datasets.map(({ context, ...dataset }) => ({ dataset, context })) };
}

class Tracker {
  private sync: RunSync | null = null;
  private runDir = '';
  private readonly queue: SyncOp[] = [];
  private buffer: Metric[] = [];
  private bufferedSteps = 0;
  private lastFlush = 0;
  private configSent = false;
  private lastCheckpoint: string | null = null;
  private worker: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private offlineSaid = false;
  private lastError: MlflowError | null = null;
  private closed = false;
  private readonly log: Log;

  constructor(private readonly options: MlflowTrackerOptions) {
    this.log = options.log ?? defaultLog;
  }

  get runId(): string | null {
    return this.sync?.state.runId ?? null;
  }

  handle(event: RunEvent): void | Promise<void> {
    switch (event.type) {
      case 'start':
        return this.start(event);
      case 'step':
        this.metric('train/loss', event.loss, event.step, event.time);
        this.metric('train/bits_per_dim', event.bitsPerDim, event.step, event.time);
        this.metric('train/images_per_second', event.imagesPerSecond, event.step, event.time);
        if (event.learningRate !== undefined) this.metric('train/lr', event.learningRate, event.step, event.time);
        if (event.gradNorm !== undefined) this.metric('train/grad_norm', event.gradNorm, event.step, event.time);
        this.bufferedSteps++;
        if (this.bufferedSteps >= (this.options.flushEverySteps ?? 100) || Date.now() - this.lastFlush >= (this.options.flushEveryMs ?? 5000)) {
          this.flush();
        }
        return;
      case 'eval':
        // Named for the set (validation/…, test/…) and, for a class-conditional model, for the
        // conditional NLL (…_conditional); the best checkpoint's test is test/bits_per_dim_best_checkpoint.
        if (event.weights === 'best') {
          this.metric(testMetric('test/bits_per_dim_best_checkpoint', event.conditional), event.bitsPerDim, event.step, event.time);
        } else {
          this.metric(testMetric(`${event.set}/loss`, event.conditional), event.loss, event.step, event.time);
          this.metric(testMetric(`${event.set}/bits_per_dim`, event.conditional), event.bitsPerDim, event.step, event.time);
        }
        this.flush();
        return;
      case 'sample':
        this.flush();
        this.artifact(event.path, `samples/${basename(event.path)}`);
        return;
      case 'checkpoint':
        this.lastCheckpoint = event.path;
        return;
      case 'end':
        return this.end(event);
      default:
        return; // eval-start, sample-start, warning: nothing to record
    }
  }

  private start(event: RunStartEvent): void {
    this.runDir = this.options.runDir ?? event.runDir;
    mkdirSync(this.runDir, { recursive: true });
    const client = new MlflowClient({
      ...credentialsFor(this.options.uri, this.options.auth),
      uri: this.options.uri,
      // Few, short retries: an outage should reach the spool quickly, not hold the queue.
      retries: 2,
      backoffMs: 250,
      timeoutMs: this.options.timeoutMs ?? 10_000,
    });
    this.sync = new RunSync(this.runDir, client, this.log, (experimentId, runId) =>
      this.options.onRunLink?.(`${client.uri.replace(/\/+$/, '')}/#/experiments/${experimentId}/runs/${runId}`),
    );
    // client.uri holds no credentials: `pxl sync` has them from the environment.
    if (this.sync.state.pxlRunId !== event.runId) this.sync.reset(event.runId);
    this.sync.saveState({ uri: client.uri, experimentName: this.options.experimentName ?? event.experiment });
    this.lastFlush = Date.now();
    for (const op of startOps(event, this.options)) this.queue.push(op);
    this.configSent = existsSync(join(this.runDir, 'config.yaml'));
    if (this.configSent) this.artifact(join(this.runDir, 'config.yaml'), 'config.yaml');
    // A resumed run may have left a spool: try it now rather than after the first retry interval.
    this.kick(true);
  }

  private async end(event: Extract<RunEvent, { type: 'end' }>): Promise<void> {
    if (!this.sync) return;
    const { summary } = event;
    const conditional = summary.test_nll === 'conditional';
    if (summary.best_test_bits_per_dim !== null) this.metric(testMetric('best/test_bits_per_dim', conditional), summary.best_test_bits_per_dim, summary.steps, event.time);
    if (summary.skipped_steps !== undefined) this.metric('train/skipped_steps', summary.skipped_steps, summary.steps, event.time);
    if (summary.best_validation_bits_per_dim != null) this.metric(testMetric('best/validation_bits_per_dim', conditional), summary.best_validation_bits_per_dim, summary.steps, event.time);
    this.flush();
    if (!this.configSent) this.artifact(join(this.runDir, 'config.yaml'), 'config.yaml');
    this.artifact(join(this.runDir, 'metrics.jsonl'), 'metrics.jsonl');
    if (this.options.logModel && this.lastCheckpoint) {
      const isDir = statSync(this.lastCheckpoint, { throwIfNoEntry: false })?.isDirectory() ?? true;
      this.artifact(this.lastCheckpoint, isDir ? 'model' : `model/${basename(this.lastCheckpoint)}`);
    }
    const tags: RunTag[] = event.message ? [{ key: 'pxl.end_message', value: event.message.slice(0, MAX_TAG_VALUE) }] : [];
    if (tags.length) this.queue.push({ op: 'log', metrics: [], params: [], tags });
    this.queue.push({ op: 'status', status: STATUS[event.status], endTime: event.time });
    // No retry timer outlives the run: later tries are `pxl sync`'s job.
    this.closed = true;
    this.stopRetrying();
    // One last try at whatever was spooled, then everything else.
    const finished = (async () => {
      await this.idle();
      this.kick(true);
      await this.idle();
    })();
    const timeout = new Promise<'timeout'>((done) => setTimeout(() => done('timeout'), this.options.endTimeoutMs ?? 60_000).unref());
    if ((await Promise.race([finished, timeout])) === 'timeout') {
      // Keep what is still queued on disk; an operation in flight may be sent twice, which replay tolerates.
      this.sync.append(this.queue.splice(0));
    }
    if (this.sync.pending > 0) {
      const why = this.lastError?.kind === 'auth' ? 'credentials refused' : this.lastError?.kind === 'proxy' ? 'not an MLflow API' : 'server unreachable';
      this.log(`${this.sync.pending} MLflow operations not sent (${why}); they are in ${join(this.runDir, SPOOL_FILE)}: run \`pxl sync ${this.runDir}\``);
    }
  }

  private metric(key: string, value: number, step: number, timestamp: number): void {
    this.buffer.push({ key, value, step, timestamp });
  }

  private flush(): void {
    if (this.buffer.length > 0) this.queue.push({ op: 'log', metrics: this.buffer, params: [], tags: [] });
    this.buffer = [];
    this.bufferedSteps = 0;
    this.lastFlush = Date.now();
    this.kick(false);
  }

  private artifact(path: string, artifactPath: string): void {
    this.queue.push({ op: 'artifact', path: artifactSource(this.runDir, path), artifactPath });
    this.kick(false);
  }

  idle(): Promise<void> {
    return (async () => {
      while (this.worker) await this.worker;
    })();
  }

  /** Starts the worker unless it runs; `retry` lets it try the spool, not just append to it. */
  private kick(retry: boolean): void {
    if (this.worker || !this.sync) return;
    this.worker = this.work(retry)
      .catch((err: unknown) => this.log(`MLflow tracking error: ${(err as Error).message}`))
      .finally(() => {
        this.worker = null;
        // Operations queued while the worker was finishing would otherwise wait for the next event.
        if (this.queue.length > 0) this.kick(false);
      });
  }

  private async work(retry: boolean): Promise<void> {
    const sync = this.sync!;
    if (sync.pending > 0) {
      // Offline: keep order by queueing behind the spool, unless it is time to try it again.
      if (!retry || !(await sync.drain())) return this.goOffline();
      this.log(`MLflow reachable again at ${sync.client.uri}: pending operations sent`);
      this.offlineSaid = false;
      this.stopRetrying();
    }
    while (this.queue.length > 0) {
      try {
        await sync.sendOrDrop(this.queue[0]);
        this.queue.shift();
      } catch (err) {
        if (!(err instanceof MlflowError)) throw err;
        return this.goOffline(err);
      }
    }
  }

  private goOffline(err?: MlflowError): void {
    this.sync!.append(this.queue.splice(0));
    if (err ?? this.sync!.lastError) this.lastError = err ?? this.sync!.lastError;
    if (err && !this.offlineSaid) {
      this.log(`${err.message}; spooling to ${join(this.runDir, SPOOL_FILE)} and retrying every ${Math.round((this.options.retryEveryMs ?? 30_000) / 1000)} s`);
      this.offlineSaid = true;
    }
    if (!this.retryTimer && !this.closed) {
      this.retryTimer = setInterval(() => this.kick(true), this.options.retryEveryMs ?? 30_000);
      this.retryTimer.unref();
    }
  }

  private stopRetrying(): void {
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.retryTimer = null;
  }
}

/**
 * A run subscriber that logs the run to MLflow: params (the flattened resolved
 * config), tags, step/eval metrics, sample PNGs, config, metrics.jsonl, the
 * model (with `logModel`) and the final status. It never throws and never
 * makes training wait; only the end event's promise waits, for the last sends.
 */
export function createMlflowTracker(options: MlflowTrackerOptions): MlflowTracker {
  const tracker = new Tracker(options);
  const log = options.log ?? defaultLog;
  // A tracking problem must not end a training run.
  const report = (err: unknown): void => log(`MLflow tracking error: ${(err as Error).message}`);
  const listener = (event: RunEvent): void | Promise<void> => {
    try {
      return tracker.handle(event)?.catch(report);
    } catch (err) {
      report(err);
    }
  };
  return Object.assign(listener, { mlflowRunId: () => tracker.runId, idle: () => tracker.idle() });
}
