// A sweep in MLflow: one parent run holding the sweep file and, at the end, the results
// (table and figure artifacts, per-member metrics and tags); each member's run is its
// child (mlflow.parentRunId, given to `pxl run` by the runner). A resumed sweep reopens
// the same parent. MLflow trouble never stops a sweep: it is reported and the sweep goes on.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { TrackingSection } from '../track/settings.js';
import { MlflowClient, MlflowError, authFromEnv, type Metric, type MlflowRunStatus, type RunTag } from '../track/mlflow-client.js';
import { resolveTracking } from '../track/settings.js';
import type { SweepDefinition } from './definition.js';
import type { SweepStatus } from './events.js';
import type { SweepState } from './state.js';

const STATUS: Record<SweepStatus, MlflowRunStatus> = { finished: 'FINISHED', failed: 'FAILED', interrupted: 'KILLED' };
const RESULT_METRICS = ['best_test_bits_per_dim', 'test_bits_per_dim', 'train_bits_per_dim', 'images_per_second', 'wall_seconds'] as const;

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
  ) {}

  /**
   * Creates the parent run, or reopens the one in `state` (same server), and records it
   * there. Null when tracking is off or the server cannot be used (said through `log`).
   */
  static async open(def: SweepDefinition, state: SweepState, tracking: TrackingSection, log: (m: string) => void): Promise<SweepTracker | null> {
    const settings = resolveTracking(tracking);
    if (!settings) return null;
    const client = new MlflowClient({ ...authFromEnv(), uri: settings.uri, retries: 2, backoffMs: 250, timeoutMs: 10_000 });
    const experimentName = settings.experimentName ?? def.baseName;
    try {
      const reopened = state.mlflow && state.mlflow.uri === client.uri ? await reopen(client, state.mlflow.run_id) : null;
      if (!reopened) {
        const experimentId = await client.ensureExperiment(experimentName);
        const info = await client.createRun({ experimentId, runName: def.name, tags: parentTags(def) });
        state.mlflow = { uri: client.uri, experiment_id: experimentId, experiment_name: experimentName, run_id: info.runId, artifact_uri: info.artifactUri };
      }
      const m = state.mlflow!;
      await client.uploadArtifact(m.artifact_uri, 'sweep.yaml', Buffer.from(def.text));
      const link = `${client.uri.replace(/\/+$/, '')}/#/experiments/${m.experiment_id}/runs/${m.run_id}`;
      return new SweepTracker(client, m.artifact_uri, { runId: m.run_id, experimentName: m.experiment_name, link }, log);
    } catch (err) {
      if (!(err instanceof MlflowError)) throw err;
      log(`MLflow: ${err.message}; the sweep goes on without its parent run (each member tracks itself)`);
      return null;
    }
  }

  /**
   * Per-member results as metrics (<member>/best_test_bits_per_dim, ...) and tags, the
   * results files as artifacts, and the status. No sweep-wide "best": members with other
   * colour levels have bits/dim that do not compare.
   */
  async finish(state: SweepState, status: SweepStatus, files: string[]): Promise<void> {
    const time = Date.now();
    const metrics: Metric[] = [];
    const tags: RunTag[] = [{ key: 'pxl.sweep.status', value: status }];
    for (const m of state.members) {
      tags.push({ key: `pxl.member.${m.name}.status`, value: m.status });
      for (const key of RESULT_METRICS) {
        const value = m.summary?.[key];
        if (typeof value === 'number') metrics.push({ key: `${m.name}/${key}`, value, step: m.summary!.steps, timestamp: time });
      }
    }
    try {
      await this.client.logBatch(this.parent.runId, { metrics, tags });
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
