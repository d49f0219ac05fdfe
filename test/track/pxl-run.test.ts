// `pxl run` with tracking on, against the real MLflow server: what the user finds in MLflow.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { MlflowClient } from '../../src/track/mlflow-client.js';
import { readState } from '../../src/track/mlflow-sync.js';
import { waitForMlflow } from '../setup/mlflow-server.js';
import { pxl, ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const server = inject('mlflow');
const TINY = join(ROOT, 'test/fixtures/tiny.yaml');

beforeAll(async () => {
  await waitForMlflow(server);
});

describe('pxl run with MLflow tracking', () => {
  it('records params, the full metric history, tags, status and byte-identical artifacts', async () => {
    const runsDir = tempDir();
    const experiment = `pxl-run-${randomBytes(4).toString('hex')}`;
    const r = pxl(['run', TINY, '--set', 'backend=wasm', '--set', `tracking.experiment=${experiment}`, '--set', 'tracking.log_model=true', '--runs-dir', runsDir, '--reporter', 'json'], {
      env: { MLFLOW_TRACKING_URI: server.uri },
    });
    expect(r.status, r.stderr).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const link = events.find((e) => e.type === 'tracking' && e.link)?.link as string;
    expect(link).toMatch(new RegExp(`^${server.uri.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/#/experiments/\\d+/runs/[0-9a-f]{32}$`));

    const runDir = join(runsDir, 'tiny', readdirSync(join(runsDir, 'tiny'))[0]);
    const client = new MlflowClient({ uri: server.uri });
    const run = await client.getRun(readState(runDir).runId!);
    expect(run.info.status).toBe('FINISHED');
    expect(run.data.params).toMatchObject({
      'model.hidden': '4',
      'model.blocks.count': '1',
      'train.optimizer.learning_rate': '0.01',
      'dataset.dir': 'null',
      'pxl.backend': 'wasm',
    });
    expect(run.data.tags).toMatchObject({ 'mlflow.note.content': 'Tiny test model.', 'pxl.backend': 'wasm' });
    expect(run.data.tags['mlflow.runName']).toMatch(/^tiny \d{8}-\d{6}-[0-9a-f]{4}$/);

    // The UI opens the experiment on its runs, not on MLflow 3's GenAI overview.
    expect((await client.getExperimentByName(experiment))!.tags['mlflow.experimentKind']).toBe('custom_model_development');
    // The Dataset column: the two splits as loaded (64 and 16 images), each a dataset input.
    const inputs = run.inputs.datasetInputs.map((d) => ({ ...d.dataset, profile: JSON.parse(d.dataset.profile!), source: JSON.parse(d.dataset.source) }));
    expect(inputs.map((d) => [d.name, d.profile.split, d.profile.num_images])).toEqual([['mnist', 'train', 64], ['mnist', 'test', 16]]);
    expect(run.inputs.datasetInputs.map((d) => d.tags['mlflow.data.context'])).toEqual(['train', 'test']);
    expect(inputs.every((d) => /^[0-9a-f]{16}$/.test(d.digest) && d.sourceType === 'local' && typeof d.source.uri === 'string')).toBe(true);
    expect(inputs[0].digest).not.toBe(inputs[1].digest);
    expect(JSON.parse(inputs[0].schema!).mlflow_tensorspec.features).toContain('[-1, 28, 28, 1]'.replace(/ /g, ''));

    const steps = events.filter((e) => e.type === 'step');
    const history = await client.getMetricHistory(run.info.runId, 'train/loss');
    expect(history.map((m) => m.step)).toEqual(steps.map((e) => e.step));
    history.forEach((m, i) => expect(m.value).toBeCloseTo(steps[i].loss, 6));
    const evals = await client.getMetricHistory(run.info.runId, 'test/bits_per_dim');
    expect(evals.map((m) => m.step)).toEqual([4, 8]);
    const best = await client.getMetricHistory(run.info.runId, 'best/test_bits_per_dim');
    expect(best).toHaveLength(1);

    const artifactUri = run.info.artifactUri;
    for (const [local, remote] of [
      ['config.yaml', 'config.yaml'],
      ['metrics.jsonl', 'metrics.jsonl'],
      ['samples/step-00000008.png', 'samples/step-00000008.png'],
      ['checkpoints/step-00000008/weights.bin', 'model/weights.bin'],
    ]) {
      const got = await client.downloadArtifact(artifactUri, remote);
      expect(got.equals(readFileSync(join(runDir, local))), remote).toBe(true);
    }
  });

  it('says once how to turn tracking on when no URI is configured', () => {
    const r = pxl(['run', TINY, '--set', 'backend=wasm', '--set', 'train.steps=2', '--set', 'train.sample_every=0', '--runs-dir', tempDir()], {
      env: { MLFLOW_TRACKING_URI: '' },
    });
    expect(r.status).toBe(0);
    expect(r.stdout.match(/MLflow tracking is off/g)).toHaveLength(1);
  });
});
