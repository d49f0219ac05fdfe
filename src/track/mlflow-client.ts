// A small typed client for MLflow's REST API (2.0 paths, MLflow 2.x/3.x servers).
// No usable npm client exists, so this speaks the wire format directly:
// snake_case JSON in, camelCase objects out, int64 fields accepted as numbers or strings.
//
// Non-finite metric values: JSON has no NaN, so they are sent the way MLflow's
// own Python client sends them, as the protobuf-JSON strings "NaN", "Infinity"
// and "-Infinity". The server stores NaN as NaN (read back here as NaN); the
// sqlite store clamps +-Infinity to +-1.7976931348623157e308.
import { readFile, readdir } from 'node:fs/promises';
import { join, posix } from 'node:path';

export interface MlflowAuth {
  token?: string;
  username?: string;
  password?: string;
}

export interface MlflowClientOptions extends MlflowAuth {
  /** Tracking server, e.g. http://127.0.0.1:5000; userinfo in it becomes Basic auth. */
  uri: string;
  /** Extra attempts after the first on network errors, 429 and 5xx. Default 4. */
  retries?: number;
  /** First backoff delay; doubles each attempt. Default 500 ms. */
  backoffMs?: number;
  /** Per-request timeout. Default 30 s. */
  timeoutMs?: number;
}

export interface Metric {
  key: string;
  value: number;
  timestamp: number; // ms since epoch
  step: number;
}
export interface Param {
  key: string;
  value: string;
}
export interface RunTag {
  key: string;
  value: string;
}
export type MlflowRunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface Experiment {
  experimentId: string;
  name: string;
  artifactLocation: string;
  lifecycleStage: string;
  tags: Record<string, string>;
}
export interface RunInfo {
  runId: string;
  experimentId: string;
  runName: string;
  status: MlflowRunStatus;
  startTime: number | null;
  endTime: number | null;
  artifactUri: string;
  lifecycleStage: string;
}
/** A dataset as runs/log-inputs takes it; schema, profile and source are JSON strings. */
export interface MlflowDataset {
  name: string;
  digest: string;
  sourceType: string;
  source: string;
  schema?: string;
  profile?: string;
}
export interface DatasetInputEntry {
  dataset: MlflowDataset;
  tags: Record<string, string>;
}
export interface Run {
  info: RunInfo;
  data: { metrics: Metric[]; params: Record<string, string>; tags: Record<string, string> };
  inputs: { datasetInputs: DatasetInputEntry[] };
}
export interface FileInfo {
  path: string; // relative to the run's artifact root
  isDir: boolean;
  fileSize: number | null;
}
export interface CreateRunRequest {
  experimentId: string;
  runName?: string;
  startTime?: number;
  tags?: RunTag[];
}
export interface SearchRunsRequest {
  experimentIds: string[];
  filter?: string;
  maxResults?: number;
  orderBy?: string[];
  pageToken?: string;
}
export interface LogBatchRequest {
  metrics?: Metric[];
  params?: Param[];
  tags?: RunTag[];
}

/** Per-call limits of runs/log-batch, as the server enforces them. */
export const LOG_BATCH_LIMITS = {
  metrics: 1000,
  params: 100,
  tags: 100,
  items: 1000,
  // The server rejects bodies over 1e6 bytes; keep room for the run id and brackets.
  bytes: 1_000_000 - 1_000,
} as const;

/**
 * network: the server could not be reached; server: it failed on its side (5xx, 429);
 * auth: it refused the credentials (401, 403); proxy: something other than MLflow's JSON
 * API answered (an HTML login page, say); client: MLflow refused the request itself.
 */
type ErrorKind = 'network' | 'server' | 'auth' | 'proxy' | 'client';

/** A failed MLflow call. Its message names the endpoint and never carries credentials. */
export class MlflowError extends Error {
  constructor(
    message: string,
    readonly endpoint: string,
    readonly kind: ErrorKind,
    readonly status: number | null = null,
    readonly errorCode: string | null = null,
  ) {
    super(message);
    this.name = 'MlflowError';
  }

  /**
   * True when the request itself is fine and may succeed later: the server was unreachable or
   * failing, or the credentials or the URI need fixing first. Only MLflow refusing the request
   * (a 4xx of its own) is final.
   */
  get transient(): boolean {
    return this.kind !== 'client';
  }
}

/** The URI with any user:password@ replaced, safe for logs and errors. */
export function redactUri(uri: string): string {
  try {
    const url = new URL(uri);
    if (!url.username && !url.password) return uri;
    url.username = '***';
    url.password = '';
    return url.toString().replace(/\/$/, uri.endsWith('/') ? '/' : '');
  } catch {
    // Not a URL: still hide anything that looks like userinfo.
    return uri.replace(/\/\/[^/@]*@/, '//***@');
  }
}

/** The Authorization header MLflow's clients would send: Basic when user and password are set, else Bearer. */
export function authHeader(auth: MlflowAuth): string | null {
  if (auth.username && auth.password) {
    return `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
  }
  if (auth.token) return `Bearer ${auth.token}`;
  return null;
}

/** Credentials from MLFLOW_TRACKING_TOKEN / MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD. */
export function authFromEnv(env: NodeJS.ProcessEnv = process.env): MlflowAuth {
  const auth: MlflowAuth = {};
  if (env.MLFLOW_TRACKING_TOKEN) auth.token = env.MLFLOW_TRACKING_TOKEN;
  if (env.MLFLOW_TRACKING_USERNAME) auth.username = env.MLFLOW_TRACKING_USERNAME;
  if (env.MLFLOW_TRACKING_PASSWORD) auth.password = env.MLFLOW_TRACKING_PASSWORD;
  return auth;
}

/**
 * The URI without its user:password@ and those credentials, decoded. A string that is not a
 * URL comes back as it is, for the caller's own error. Everything that writes a URI down
 * (config.yaml, params, the spool, messages) gets the first part only.
 */
export function withoutCredentials(uri: string): { uri: string; auth: MlflowAuth } {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return { uri, auth: {} };
  }
  if (!url.username && !url.password) return { uri, auth: {} };
  const auth: MlflowAuth = {};
  if (url.username) auth.username = decodeURIComponent(url.username);
  if (url.password) auth.password = decodeURIComponent(url.password);
  url.username = '';
  url.password = '';
  // URL adds a slash after a bare host: keep the user's spelling otherwise.
  const clean = url.toString();
  return { uri: !uri.endsWith('/') && clean.endsWith('/') && url.pathname === '/' ? clean.slice(0, -1) : clean, auth };
}

/**
 * The credentials for a server: MLFLOW_TRACKING_TOKEN / _USERNAME / _PASSWORD, and those in
 * MLFLOW_TRACKING_URI when it names the same server (how a resumed run or `pxl sync` gets
 * back the credentials its run folder does not keep), then `explicit` (say, from the URI in
 * the experiment file) over both.
 */
export function credentialsFor(uri: string, explicit: MlflowAuth = {}, env: NodeJS.ProcessEnv = process.env): MlflowAuth {
  const fromEnvUri = env.MLFLOW_TRACKING_URI ? withoutCredentials(env.MLFLOW_TRACKING_URI.trim()) : null;
  const sameServer = fromEnvUri !== null && sameBase(fromEnvUri.uri, withoutCredentials(uri).uri);
  const defined = (a: MlflowAuth): MlflowAuth => Object.fromEntries(Object.entries(a).filter(([, v]) => v)) as MlflowAuth;
  return { ...authFromEnv(env), ...(sameServer ? defined(fromEnvUri.auth) : {}), ...defined(explicit) };
}

function sameBase(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

// Node's fetch refuses URLs with credentials, and they must not leak into
// messages either: split them off into Basic auth.
function splitUri(uri: string): { base: string; auth: MlflowAuth } {
  try {
    new URL(uri);
  } catch {
    throw new Error(`MLflow tracking URI is not a URL: ${redactUri(uri)}`);
  }
  if (!/^https?:\/\//i.test(uri)) {
    throw new Error(`MLflow tracking URI must be http(s)://…, got ${redactUri(uri)}`);
  }
  const { uri: base, auth } = withoutCredentials(uri);
  return { base: base.replace(/\/+$/, ''), auth };
}

function isHtml(res: Response, text: string | null): boolean {
  if (/\bx?html\b/i.test(res.headers.get('content-type') ?? '')) return true;
  return text !== null && /^\s*<(!doctype\s+html|html)\b/i.test(text);
}

function str(value: unknown): string {
  return value === undefined || value === null ? '' : String(value);
}
function num(value: unknown): number | null {
  return value === undefined || value === null || value === '' ? null : Number(value);
}
/** Metric values come back as numbers or as "NaN"/"Infinity" strings. */
function metricValue(value: unknown): number {
  if (typeof value === 'number') return value;
  if (value === 'NaN') return Number.NaN;
  if (value === 'Infinity') return Number.POSITIVE_INFINITY;
  if (value === '-Infinity') return Number.NEGATIVE_INFINITY;
  return Number(value);
}
function encodeMetricValue(value: number): number | string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return 'Infinity';
  if (value === Number.NEGATIVE_INFINITY) return '-Infinity';
  return value;
}
function keyValues(list: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of (list ?? []) as { key: string; value?: string }[]) out[item.key] = str(item.value);
  return out;
}

type Json = Record<string, any>; // the wire format, checked field by field below

function toMetric(m: Json): Metric {
  return { key: m.key, value: metricValue(m.value), timestamp: Number(m.timestamp ?? 0), step: Number(m.step ?? 0) };
}
function toExperiment(e: Json): Experiment {
  return {
    experimentId: str(e.experiment_id),
    name: str(e.name),
    artifactLocation: str(e.artifact_location),
    lifecycleStage: str(e.lifecycle_stage),
    tags: keyValues(e.tags),
  };
}
function toRunInfo(i: Json): RunInfo {
  return {
    runId: str(i.run_id ?? i.run_uuid),
    experimentId: str(i.experiment_id),
    runName: str(i.run_name),
    status: str(i.status) as MlflowRunStatus,
    startTime: num(i.start_time),
    endTime: num(i.end_time),
    artifactUri: str(i.artifact_uri),
    lifecycleStage: str(i.lifecycle_stage),
  };
}
function toDatasetInput(d: Json): DatasetInputEntry {
  const ds = d.dataset ?? {};
  return {
    dataset: { name: str(ds.name), digest: str(ds.digest), sourceType: str(ds.source_type), source: str(ds.source), schema: str(ds.schema), profile: str(ds.profile) },
    tags: keyValues(d.tags),
  };
}
function toRun(r: Json): Run {
  const data = r.data ?? {};
  return {
    info: toRunInfo(r.info ?? {}),
    data: { metrics: (data.metrics ?? []).map(toMetric), params: keyValues(data.params), tags: keyValues(data.tags) },
    inputs: { datasetInputs: (r.inputs?.dataset_inputs ?? []).map(toDatasetInput) },
  };
}

/**
 * Splits a batch so each call stays within LOG_BATCH_LIMITS. Order is kept
 * within each kind; params and tags go first so a run's description lands early.
 */
export function chunkBatch(batch: LogBatchRequest): Required<LogBatchRequest>[] {
  const chunks: Required<LogBatchRequest>[] = [];
  let current: Required<LogBatchRequest> = { metrics: [], params: [], tags: [] };
  let bytes = 0;
  const add = (kind: 'metrics' | 'params' | 'tags', item: Metric | Param | RunTag, size: number): void => {
    const count = current.metrics.length + current.params.length + current.tags.length;
    const full =
      current[kind].length >= LOG_BATCH_LIMITS[kind] ||
      count >= LOG_BATCH_LIMITS.items ||
      (count > 0 && bytes + size > LOG_BATCH_LIMITS.bytes);
    if (full) {
      chunks.push(current);
      current = { metrics: [], params: [], tags: [] };
      bytes = 0;
    }
    (current[kind] as unknown[]).push(item);
    bytes += size;
  };
  const size = (item: unknown): number => Buffer.byteLength(JSON.stringify(item)) + 1;
  for (const p of batch.params ?? []) add('params', p, size(p));
  for (const t of batch.tags ?? []) add('tags', t, size(t));
  for (const m of batch.metrics ?? []) add('metrics', m, size({ ...m, value: encodeMetricValue(m.value) }));
  if (current.metrics.length + current.params.length + current.tags.length > 0) chunks.push(current);
  return chunks;
}

// Errors that mean the request never left: safe to retry even when the call is not idempotent.
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT';
  path: string; // after the server base, e.g. api/2.0/mlflow/runs/get
  label: string; // endpoint named in errors
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  body?: Uint8Array;
  idempotent?: boolean;
}

export class MlflowClient {
  /** The server URI without credentials, for messages. */
  readonly uri: string;
  private readonly base: string;
  private readonly authorization: string | null;
  private readonly secrets: string[];
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly timeoutMs: number;

  constructor(options: MlflowClientOptions) {
    const { base, auth } = splitUri(options.uri);
    const merged: MlflowAuth = { token: options.token, username: options.username ?? auth.username, password: options.password ?? auth.password };
    this.base = base;
    this.uri = redactUri(base);
    this.authorization = authHeader(merged);
    this.secrets = [merged.token, merged.password, this.authorization?.split(' ')[1]].filter((s): s is string => !!s && s.length >= 3);
    this.retries = options.retries ?? 4;
    this.backoffMs = options.backoffMs ?? 500;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** A client for `uri` (default MLFLOW_TRACKING_URI) with credentials from the MLFLOW_TRACKING_* variables. */
  static fromEnv(options: Partial<MlflowClientOptions> = {}, env: NodeJS.ProcessEnv = process.env): MlflowClient {
    const uri = options.uri ?? env.MLFLOW_TRACKING_URI;
    if (!uri) throw new Error('no MLflow tracking URI: set MLFLOW_TRACKING_URI');
    return new MlflowClient({ ...authFromEnv(env), ...options, uri });
  }

  // ---- experiments ----

  async getExperimentByName(name: string): Promise<Experiment | null> {
    try {
      const res = await this.api('GET', 'experiments/get-by-name', { query: { experiment_name: name } });
      return toExperiment(res.experiment);
    } catch (err) {
      if (err instanceof MlflowError && err.errorCode === 'RESOURCE_DOES_NOT_EXIST') return null;
      throw err;
    }
  }

  async createExperiment(name: string, tags: RunTag[] = []): Promise<string> {
    const res = await this.api('POST', 'experiments/create', { json: { name, tags }, idempotent: false });
    return str(res.experiment_id);
  }

  async setExperimentTag(experimentId: string, key: string, value: string): Promise<void> {
    await this.api('POST', 'experiments/set-experiment-tag', { json: { experiment_id: experimentId, key, value } });
  }

  /**
   * The id of experiment `name`, created with `tags` if missing; safe when several processes
   * race to create it. An existing experiment gets those of `tags` it lacks, and keeps its own.
   */
  async ensureExperiment(name: string, tags: RunTag[] = []): Promise<string> {
    const found = await this.getExperimentByName(name);
    if (found) return this.addMissingTags(found, tags);
    try {
      return await this.createExperiment(name, tags);
    } catch (err) {
      if (!(err instanceof MlflowError && err.errorCode === 'RESOURCE_ALREADY_EXISTS')) throw err;
      const winner = await this.getExperimentByName(name);
      if (!winner) throw err;
      return this.addMissingTags(winner, tags);
    }
  }

  private async addMissingTags(experiment: Experiment, tags: RunTag[]): Promise<string> {
    for (const t of tags) if (!(t.key in experiment.tags)) await this.setExperimentTag(experiment.experimentId, t.key, t.value);
    return experiment.experimentId;
  }

  // ---- runs ----

  async createRun(request: CreateRunRequest): Promise<RunInfo> {
    const json = {
      experiment_id: request.experimentId,
      run_name: request.runName,
      start_time: request.startTime ?? Date.now(),
      tags: request.tags ?? [],
    };
    // Not idempotent: a retried create after a lost response would make a second run.
    const res = await this.api('POST', 'runs/create', { json, idempotent: false });
    return toRun(res.run).info;
  }

  async getRun(runId: string): Promise<Run> {
    const res = await this.api('GET', 'runs/get', { query: { run_id: runId } });
    return toRun(res.run);
  }

  async updateRun(runId: string, update: { status?: MlflowRunStatus; endTime?: number; runName?: string }): Promise<RunInfo> {
    const json = { run_id: runId, status: update.status, end_time: update.endTime, run_name: update.runName };
    const res = await this.api('POST', 'runs/update', { json });
    return toRunInfo(res.run_info);
  }

  async searchRuns(request: SearchRunsRequest): Promise<{ runs: Run[]; nextPageToken: string | null }> {
    const json = {
      experiment_ids: request.experimentIds,
      filter: request.filter,
      max_results: request.maxResults,
      order_by: request.orderBy,
      page_token: request.pageToken,
    };
    const res = await this.api('POST', 'runs/search', { json });
    return { runs: (res.runs ?? []).map(toRun), nextPageToken: res.next_page_token || null };
  }

  async setTag(runId: string, key: string, value: string): Promise<void> {
    await this.api('POST', 'runs/set-tag', { json: { run_id: runId, key, value } });
  }

  /** Logs any number of metrics, params and tags, split into calls within LOG_BATCH_LIMITS; returns the number of calls. */
  async logBatch(runId: string, batch: LogBatchRequest): Promise<number> {
    const chunks = chunkBatch(batch);
    for (const chunk of chunks) {
      const metrics = chunk.metrics.map((m) => ({ key: m.key, value: encodeMetricValue(m.value), timestamp: m.timestamp, step: m.step }));
      await this.api('POST', 'runs/log-batch', { json: { run_id: runId, metrics, params: chunk.params, tags: chunk.tags } });
    }
    return chunks.length;
  }

  /** Records datasets as the run's inputs, each with its mlflow.data.context tag (train, test). */
  async logInputs(runId: string, inputs: { dataset: MlflowDataset; context: string }[]): Promise<void> {
    const datasets = inputs.map(({ dataset: d, context }) => ({
      tags: [{ key: 'mlflow.data.context', value: context }],
      dataset: { name: d.name, digest: d.digest, source_type: d.sourceType, source: d.source, schema: d.schema, profile: d.profile },
    }));
    await this.api('POST', 'runs/log-inputs', { json: { run_id: runId, datasets } });
  }

  /** The whole history of one metric, following page tokens. */
  async getMetricHistory(runId: string, key: string, pageSize = 25_000): Promise<Metric[]> {
    const all: Metric[] = [];
    let pageToken: string | undefined;
    do {
      const query = { run_id: runId, metric_key: key, max_results: pageSize, page_token: pageToken };
      const res = await this.api('GET', 'metrics/get-history', { query });
      all.push(...(res.metrics ?? []).map(toMetric));
      pageToken = res.next_page_token || undefined;
    } while (pageToken);
    return all;
  }

  // ---- artifacts ----

  /** Files and folders directly under `path` (default: the root) of a run's artifacts. */
  async listArtifacts(runId: string, path?: string): Promise<FileInfo[]> {
    const files: FileInfo[] = [];
    let pageToken: string | undefined;
    do {
      const res = await this.api('GET', 'artifacts/list', { query: { run_id: runId, path, page_token: pageToken } });
      for (const f of res.files ?? []) files.push({ path: str(f.path), isDir: !!f.is_dir, fileSize: num(f.file_size) });
      pageToken = res.next_page_token || undefined;
    } while (pageToken);
    return files;
  }

  async uploadArtifact(artifactUri: string, artifactPath: string, data: Uint8Array): Promise<void> {
    const path = this.artifactPath(artifactUri, artifactPath);
    await this.request({ method: 'PUT', path, label: 'mlflow-artifacts PUT', body: data });
  }

  async uploadFile(artifactUri: string, localPath: string, artifactPath: string): Promise<void> {
    await this.uploadArtifact(artifactUri, artifactPath, await readFile(localPath));
  }

  /** Uploads every file under `localDir` to `artifactDir`, keeping relative paths. Returns the count. */
  async uploadDir(artifactUri: string, localDir: string, artifactDir: string): Promise<number> {
    let count = 0;
    for (const entry of await readdir(localDir, { withFileTypes: true })) {
      const local = join(localDir, entry.name);
      const remote = artifactDir ? posix.join(artifactDir, entry.name) : entry.name;
      if (entry.isDirectory()) count += await this.uploadDir(artifactUri, local, remote);
      else if (entry.isFile()) {
        await this.uploadFile(artifactUri, local, remote);
        count++;
      }
    }
    return count;
  }

  async downloadArtifact(artifactUri: string, artifactPath: string): Promise<Buffer> {
    const path = this.artifactPath(artifactUri, artifactPath);
    const res = await this.request({ method: 'GET', path, label: 'mlflow-artifacts GET' });
    return Buffer.from(await res.arrayBuffer());
  }

  // The server proxies artifacts when the run's root is mlflow-artifacts:/… (or its http form).
  private artifactPath(artifactUri: string, artifactPath: string): string {
    let root: string;
    const marker = '/api/2.0/mlflow-artifacts/artifacts/';
    if (artifactUri.startsWith('mlflow-artifacts:')) {
      root = new URL(artifactUri).pathname;
    } else if (/^https?:/.test(artifactUri) && artifactUri.includes(marker)) {
      root = artifactUri.slice(artifactUri.indexOf(marker) + marker.length);
    } else {
      throw new MlflowError(
        `MLflow artifacts at ${redactUri(artifactUri)} are not served by ${this.uri}: start the server with artifact serving (--artifacts-destination)`,
        'mlflow-artifacts',
        'client',
      );
    }
    const segments = [...root.split('/'), ...artifactPath.split('/')].filter((s) => s.length > 0);
    return `api/2.0/mlflow-artifacts/artifacts/${segments.map(encodeURIComponent).join('/')}`;
  }

  // ---- transport ----

  private async api(method: 'GET' | 'POST', endpoint: string, spec: Partial<RequestSpec> = {}): Promise<Json> {
    const label = `${method} ${endpoint}`;
    const res = await this.request({ ...spec, method, path: `api/2.0/mlflow/${endpoint}`, label });
    const text = await res.text();
    if (!text) return {};
    try {
      return JSON.parse(text) as Json;
    } catch {
      throw this.notMlflow(label, res, text);
    }
  }

  /** A 2xx that is not MLflow's JSON: most often a proxy's login page. */
  private notMlflow(label: string, res: Response, text: string): MlflowError {
    const html = isHtml(res, text);
    const what = html ? 'an HTML page' : `${res.headers.get('content-type') ?? 'something'} that is not JSON`;
    const hint = html ? ': is the URI pointing at a proxy or login page?' : '';
    const message = `MLflow ${label} failed: the server at ${this.uri} answered with ${what}, not MLflow's JSON API${hint}`;
    return new MlflowError(this.scrub(message), label, 'proxy', res.status);
  }

  private async request(spec: RequestSpec): Promise<Response> {
    const url = new URL(`${this.base}/${spec.path}`);
    for (const [key, value] of Object.entries(spec.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = {};
    if (this.authorization) headers.Authorization = this.authorization;
    let body: string | Uint8Array | undefined = spec.body;
    if (spec.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(spec.json);
    } else if (body) headers['Content-Type'] = 'application/octet-stream';

    for (let attempt = 0; ; attempt++) {
      let failure: MlflowError;
      try {
        const res = await fetch(url, { method: spec.method, headers, body, signal: AbortSignal.timeout(this.timeoutMs) });
        if (res.ok) {
          // An artifact upload answers JSON too; a download is whatever the file holds.
          if (spec.method === 'PUT' && isHtml(res, null)) throw this.notMlflow(spec.label, res, await res.text());
          return res;
        }
        failure = await this.httpError(spec.label, res);
        // Refused credentials or a wrong URI do not mend in seconds: no retry now.
        // A non-idempotent call is retried only when it surely never reached the server.
        if (failure.kind !== 'server' || spec.idempotent === false) throw failure;
      } catch (err) {
        if (err instanceof MlflowError) throw err;
        failure = this.networkError(spec.label, err, attempt + 1);
        const code = (err as { cause?: { code?: string } })?.cause?.code;
        if (spec.idempotent === false && !(code && CONNECT_ERRORS.has(code))) throw failure;
      }
      if (attempt >= this.retries) throw failure;
      await new Promise((done) => setTimeout(done, this.backoffMs * 2 ** attempt));
    }
  }

  private async httpError(label: string, res: Response): Promise<MlflowError> {
    let code: string | null = null;
    let detail = res.statusText;
    const text = await res.text().catch(() => '');
    let json = false;
    try {
      const parsed = JSON.parse(text) as { error_code?: string; message?: string };
      code = parsed.error_code ?? null;
      detail = parsed.message ?? detail;
      json = true;
    } catch {
      // not JSON: keep the status text
    }
    const status = `HTTP ${res.status}${code ? ` ${code}` : ''}`;
    const short = (d: string): string => (d.length > 500 ? `${d.slice(0, 500)}…` : d);
    let kind: ErrorKind;
    let message: string;
    if (res.status === 401 || res.status === 403) {
      kind = 'auth';
      const what = res.status === 401 ? 'unauthorized' : 'forbidden';
      message = `MLflow ${label} failed: ${what} (${status}) at ${this.uri}: check MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD`;
    } else if (res.status >= 500 || res.status === 429) {
      // 429 is the server asking us to come back later: treat it like a 5xx.
      kind = 'server';
      message = `MLflow ${label} failed: ${status}: ${short(detail)} (server ${this.uri})`;
    } else if (!json && isHtml(res, text)) {
      // MLflow answers its own errors in JSON: an HTML error page is something in front of it.
      kind = 'proxy';
      message = `MLflow ${label} failed: ${status}: the server at ${this.uri} answered with an HTML page, not MLflow's JSON API: is the URI pointing at a proxy or login page?`;
    } else {
      kind = 'client';
      message = `MLflow ${label} failed: ${status}: ${short(detail)} (server ${this.uri})`;
    }
    return new MlflowError(this.scrub(message), label, kind, res.status, code);
  }

  private networkError(label: string, err: unknown, attempts: number): MlflowError {
    const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
    const why = e?.name === 'TimeoutError' ? `timed out after ${this.timeoutMs} ms` : (e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err));
    const message = `MLflow ${label} failed: cannot reach ${this.uri} (${why}) after ${attempts} attempt${attempts > 1 ? 's' : ''}`;
    return new MlflowError(this.scrub(message), label, 'network');
  }

  // Belt and braces: no message leaves this client with a credential in it.
  private scrub(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join('***');
    return out;
  }
}
