// A sweep in MLflow: one parent run holding the sweep file and, at the end, the results (a
// ranked table artifact, the same table in its note, tags, and the results files); each
// member's run is its child (mlflow.parentRunId, given to `pxl run` by the runner). A resumed
// sweep reopens the same parent. MLflow trouble never stops a sweep: it is reported and the
// sweep goes on.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { TrackingSection } from '../track/settings.js';
import { MlflowClient, MlflowError, credentialsFor, type MlflowAuth, type MlflowRunStatus, type RunTag } from '../track/mlflow-client.js';
import { EXPERIMENT_TAGS, resolveTracking, splitCredentials } from '../track/settings.js';
import type { SweepDefinition } from './definition.js';
import type { SweepStatus } from './events.js';
import { sweepSummary, TABLE_ARTIFACT } from './mlflow-summary.js';
import type { SweepState } from './state.js';

const STATUS: Record<SweepStatus, MlflowRunStatus> = { finished: 'FINISHED', failed: 'FAILED', interrupted: 'KILLED' };
const MAX_NOTE = 8000;

/**
 * The sweep with any user:password@ taken out of its members' tracking.uri and out of the
 * sweep file's text (kept as a copy in the sweep folder and uploaded to the parent run), and
 * those credentials: the parent run's client gets them, the members get them as
 * MLFLOW_TRACKING_USERNAME/_PASSWORD (see credentialsEnv).
 */
export function splitSweepCredentials(def: SweepDefinition): { def: SweepDefinition; auth: MlflowAuth } {
  let auth: MlflowAuth = {};
  const members = def.members.map((m) => {
    const split = splitCredentials(m.experiment);
    if (split.auth.username || split.auth.password) auth = split.auth;
    return { ...m, experiment: split.experiment };
  });
  // The text is the user's own, kept as written but for the userinfo of any URL in it.
  const text = def.text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@'"]+@/gi, '$1');
  return { def: { ...def, members, text }, auth };
}

/** The environment variables that hand `auth` on to a member process. */
export function credentialsEnv(auth: MlflowAuth): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  if (auth.username) env.MLFLOW_TRACKING_USERNAME = auth.username;
  if (auth.password) env.MLFLOW_TRACKING_PASSWORD = auth.password;
  if (auth.token) env.MLFLOW_TRACKING_TOKEN = auth.token;
  return env;
}

export interface ParentRun {
  runId: string;
  experimentName: string;
  link: string;
}

export class SweepTracker {
  private constructor(
    private readonly client: MlflowClient,
    private readonly artifactUri: string,
    readonly parent: ParentRun,
    private readonly log: (message: string) => void,
    private readonly def: SweepDefinition,
  ) {}

  /**
   * Creates the parent run, or reopens the one in `state` (same server), and records it
   * there. Null when tracking is off or the server cannot be used (said through `log`).
   */
  static async open(
    def: SweepDefinition, state: SweepState, tracking: TrackingSection, log: (m: string) => void, auth: MlflowAuth = {},
  ): Promise<SweepTracker | null> {
    const settings = resolveTracking(tracking);
    if (!settings) return null;
    const client = new MlflowClient({ ...credentialsFor(settings.uri, auth), uri: settings.uri, retries: 2, backoffMs: 250, timeoutMs: 10_000 });
    const experimentName = settings.experimentName ?? def.baseName;
    try {
      const reopened = state.mlflow && state.mlflow.uri === client.uri ? await reopen(client, state.mlflow.run_id) : null;
      if (!reopened) {
        const experimentId = await client.ensureExperiment(experimentName, [...EXPERIMENT_TAGS]);
        const info = await client.createRun({ experimentId, runName: def.name, tags: parentTags(def) });
        state.mlflow = { uri: client.uri, experiment_id: experimentId, experiment_name: experimentName, run_id: info.runId, artifact_uri: info.artifactUri };
      }
      const m = state.mlflow!;
      await client.uploadArtifact(m.artifact_uri, 'sweep.yaml', Buffer.from(def.text));
      const link = `${client.uri.replace(/\/+$/, '')}/#/experiments/${m.experiment_id}/runs/${m.run_id}`;
      return new SweepTracker(client, m.artifact_uri, { runId: m.run_id, experimentName: m.experiment_name, link }, log, def);
    } catch (err) {
      if (!(err instanceof MlflowError)) throw err;
      log(`MLflow: ${err.message}; the sweep goes on without its parent run (each member tracks itself)`);
      return null;
    }
  }

  /**
   * The results: a ranked table (artifact and note), tags, the results files, the status.
   * No metrics: the experiment's chart view is for the members' curves.
   */
  async finish(state: SweepState, status: SweepStatus, files: string[]): Promise<void> {
    const time = Date.now();
    const levels = new Map(this.def.members.map((m) => [m.name, m.experiment.model.color_levels]));
    const summary = sweepSummary(state.members, levels);
    const note = `${this.def.description}${this.def.description ? '\n\n' : ''}${summary.markdown}`.slice(0, MAX_NOTE);
    const tags: RunTag[] = [{ key: 'pxl.sweep.status', value: status }, { key: 'mlflow.note.content', value: note }, ...summary.tags];
    try {
      await this.client.logBatch(this.parent.runId, { tags });
      await this.client.uploadArtifact(this.artifactUri, TABLE_ARTIFACT, Buffer.from(`${JSON.stringify(summary.table)}\n`));
      for (const file of files) await this.client.uploadArtifact(this.artifactUri, basename(file), await readFile(file));
      await this.client.updateRun(this.parent.runId, { status: STATUS[status], endTime: time });
    } catch (err) {
      if (!(err instanceof MlflowError)) throw err;
      this.log(`MLflow: the sweep's results could not be recorded in its parent run: ${err.message}`);
    }
  }
}

async function reopen(client: MlflowClient, runId: string): Promise<boolean> {
  try {
    const run = await client.getRun(runId);
    if (run.info.lifecycleStage !== 'active') return false;
    await client.updateRun(runId, { status: 'RUNNING' });
    return true;
  } catch (err) {
    if (err instanceof MlflowError && err.kind === 'client') return false; // deleted, or another server's id
    throw err;
  }
}

function parentTags(def: SweepDefinition): RunTag[] {
  const tags: Record<string, string> = {
    'mlflow.note.content': def.description.slice(0, 8000),
    'mlflow.source.name': 'pxl sweep',
    'mlflow.source.type': 'LOCAL',
    'pxl.sweep': def.name,
    'pxl.sweep.kind': def.kind,
    'pxl.sweep.members': String(def.members.length),
    'pxl.sweep.experiment_file': def.experimentFile,
  };
  return Object.entries(tags).map(([key, value]) => ({ key, value }));
}
