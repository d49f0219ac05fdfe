// The tracker fed a synthetic run, checked against what the real MLflow server stored.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { MlflowClient, type Run } from '../../src/track/mlflow-client.js';
import { createMlflowTracker } from '../../src/track/mlflow-tracker.js';
import { SPOOL_FILE, readState } from '../../src/track/mlflow-sync.js';
import { waitForMlflow } from '../setup/mlflow-server.js';
import { CONFIG, STEP_MS, T0, fakeRun, feed } from './fake-run.js';
import type { EndEvent, RunStartEvent } from '../../src/events/run-events.js';

const server = inject('mlflow');
let client: MlflowClient;

beforeAll(async () => {
  await waitForMlflow(server);
  client = new MlflowClient({ uri: server.uri });
});

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'pxl-track-'));
const unique = (prefix: string): string => `${prefix}-${randomBytes(4).toString('hex')}`;

async function trackedRun(runDir: string): Promise<Run> {
  const { runId } = readState(runDir);
  expect(runId).toMatch(/^[0-9a-f]{32}$/);
  return client.getRun(runId!);
}

describe('MLflow tracker', () => {
  it('logs params, tags, every metric, artifacts and the final status of a run', async () => {
    const experimentName = unique('tracker');
    const parent = await client.createRun({ experimentId: await client.ensureExperiment(experimentName), runName: 'sweep' });
    const run = fakeRun(tempDir());
    const messages: string[] = [];
    const tracker = createMlflowTracker({
      uri: server.uri,
      experimentName,
      runName: 'blocks=2 hidden=16',
      runDir: run.runDir,
      tags: { study: 'unit' },
      logModel: true,
      parentRunId: parent.runId,
      flushEverySteps: 25,
      log: (m) => messages.push(m),
    });
    await feed(tracker, run.events);
    expect(messages).toEqual([]);
    expect(existsSync(join(run.runDir, SPOOL_FILE))).toBe(false);

    const got = await trackedRun(run.runDir);
    expect(tracker.mlflowRunId()).toBe(got.info.runId);
    expect(got.info).toMatchObject({ runName: 'blocks=2 hidden=16', status: 'FINISHED', startTime: T0, endTime: T0 + 300 * STEP_MS + 10 });

    // Params: the flattened config, nulls and empty objects included, plus what pxl adds.
    expect(got.data.params).toMatchObject({
      name: 'tiny-mnist',
      'data.path': 'null',
      'data.shape': '[28,28,1]',
      'data.augment': '{}',
      'model.layers.0.mask': 'A',
      'model.layers.1.kind': 'gated',
      'train.lr': '0.001',
      'pxl.trainable_params': '12345',
      'pxl.backend': 'wasm',
      'pxl.test_nll': 'unconditional',
    });

    const head = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    expect(got.data.tags).toMatchObject({
      'mlflow.runName': 'blocks=2 hidden=16',
      'mlflow.note.content': 'A two-block PixelCNN on MNIST, to test tracking.',
      'mlflow.source.git.commit': head,
      'mlflow.parentRunId': parent.runId,
      'pxl.version': JSON.parse(readFileSync('package.json', 'utf8')).version,
      'pxl.device': 'CPU (2 threads)',
      'pxl.backend': 'wasm',
      study: 'unit',
    });

    // Every step, with the step number and the event's own time.
    const loss = await client.getMetricHistory(got.info.runId, 'train/loss');
    const steps = run.events.filter((e) => e.type === 'step');
    expect(loss).toEqual(steps.map((e) => ({ key: 'train/loss', value: e.loss, step: e.step, timestamp: e.time })));
    expect(await client.getMetricHistory(got.info.runId, 'train/bits_per_dim')).toHaveLength(300);
    expect(await client.getMetricHistory(got.info.runId, 'train/images_per_second')).toHaveLength(300);
    const evals = run.events.filter((e) => e.type === 'eval');
    expect(await client.getMetricHistory(got.info.runId, 'test/bits_per_dim')).toEqual(
      evals.map((e) => ({ key: 'test/bits_per_dim', value: e.bitsPerDim, step: e.step, timestamp: e.time })),
    );
    const best = await client.getMetricHistory(got.info.runId, 'best/test_bits_per_dim');
    expect(best).toEqual([{ key: 'best/test_bits_per_dim', value: evals.at(-1)!.bestBitsPerDim, step: 300, timestamp: T0 + 300 * STEP_MS + 10 }]);

    // Artifacts, byte for byte.
    const same = async (artifact: string, local: string): Promise<void> => {
      expect((await client.downloadArtifact(got.info.artifactUri, artifact)).equals(readFileSync(local)), artifact).toBe(true);
    };
    expect((await client.listArtifacts(got.info.runId)).map((f) => f.path)).toEqual(['config.yaml', 'metrics.jsonl', 'model', 'samples']);
    expect((await client.listArtifacts(got.info.runId, 'samples')).map((f) => f.path)).toEqual(['samples/step-000150.png', 'samples/step-000300.png']);
    await same('config.yaml', join(run.runDir, 'config.yaml'));
    await same('metrics.jsonl', join(run.runDir, 'metrics.jsonl'));
    for (const path of run.samplePaths) await same(`samples/${path.split('/').pop()}`, path);
    await same('model/model.json', join(run.checkpointDir, 'model.json'));
    await same('model/weights.bin', join(run.checkpointDir, 'weights.bin'));
  });

  it("names a class-conditional model's test metrics as conditional, and says so in a param", async () => {
    const run = fakeRun(tempDir(), { steps: 20, evalEvery: 10, sampleEvery: 1000 });
    const events = run.events.map((e) => {
      if (e.type === 'start') return { ...e, config: { ...e.config, model: { ...CONFIG.model, conditioning: { type: 'class', classes: 10 } } } };
      if (e.type === 'eval') return { ...e, conditional: true };
      if (e.type === 'end') return { ...e, summary: { ...e.summary, test_nll: 'conditional' as const } };
      return e;
    });
    await feed(createMlflowTracker({ uri: server.uri, experimentName: unique('conditional'), runDir: run.runDir, log: () => {} }), events);
    const got = await trackedRun(run.runDir);
    expect(got.data.params['pxl.test_nll']).toBe('conditional');
    const evals = events.filter((e) => e.type === 'eval');
    expect((await client.getMetricHistory(got.info.runId, 'test/bits_per_dim_conditional')).map((m) => m.value)).toEqual(evals.map((e) => e.bitsPerDim));
    expect((await client.getMetricHistory(got.info.runId, 'test/loss_conditional')).map((m) => m.step)).toEqual(evals.map((e) => e.step));
    expect(await client.getMetricHistory(got.info.runId, 'best/test_bits_per_dim_conditional')).toHaveLength(1);
    for (const plain of ['test/bits_per_dim', 'test/loss', 'best/test_bits_per_dim']) expect(await client.getMetricHistory(got.info.runId, plain), plain).toEqual([]);
  });

  it('marks failed runs FAILED with their message and interrupted runs KILLED', async () => {
    const experimentName = unique('status');
    for (const [status, expected] of [['failed', 'FAILED'], ['interrupted', 'KILLED']] as const) {
      const run = fakeRun(tempDir(), { steps: 20, evalEvery: 10, sampleEvery: 1000, status });
      await feed(createMlflowTracker({ uri: server.uri, experimentName, runDir: run.runDir, log: () => {} }), run.events);
      const got = await trackedRun(run.runDir);
      expect(got.info.status).toBe(expected);
      expect(got.info.runName).toBe(run.events[0].type === 'start' && run.events[0].runId);
      expect(got.data.tags['pxl.end_message']).toBe(status === 'failed' ? 'loss became NaN at step 300' : undefined);
      // Without logModel, no model artifact.
      expect((await client.listArtifacts(got.info.runId)).map((f) => f.path)).not.toContain('model');
    }
  });

  it('uses the same param keys for configs that differ only in values', async () => {
    const experimentName = unique('keys');
    const keys: string[][] = [];
    for (const hidden of [16, 32]) {
      const run = fakeRun(tempDir(), { steps: 5, evalEvery: 5, sampleEvery: 1000 });
      const start = run.events[0];
      if (start.type === 'start') start.config = { ...CONFIG, model: { ...CONFIG.model, hidden } };
      await feed(createMlflowTracker({ uri: server.uri, experimentName, runDir: run.runDir, log: () => {} }), run.events);
      keys.push(Object.keys((await trackedRun(run.runDir)).data.params).sort());
    }
    expect(keys[0]).toEqual(keys[1]);
  });

  it('continues the same MLflow run when a pxl run resumes', async () => {
    const experimentName = unique('resume');
    const run = fakeRun(tempDir(), { steps: 60, evalEvery: 30, sampleEvery: 1000 });
    const cut = run.events.findIndex((e) => e.type === 'step' && e.step === 31);
    const start = run.events[0] as RunStartEvent;
    const end = run.events.at(-1) as EndEvent;
    // First session: interrupted after step 30.
    const interrupted: EndEvent = { ...end, status: 'interrupted', time: T0 + 30 * STEP_MS + 10, summary: { ...end.summary, status: 'interrupted', steps: 30 } };
    await feed(createMlflowTracker({ uri: server.uri, experimentName, runDir: run.runDir, log: () => {} }), [...run.events.slice(0, cut), interrupted]);
    const first = await trackedRun(run.runDir);
    expect(first.info.status).toBe('KILLED');

    // Second session: the same pxl run resumed from step 30.
    const resumed: RunStartEvent = { ...start, time: T0 + 100_000, resumedFromStep: 30 };
    const messages: string[] = [];
    await feed(createMlflowTracker({ uri: server.uri, experimentName, runDir: run.runDir, log: (m) => messages.push(m) }), [resumed, ...run.events.slice(cut)]);
    expect(messages).toEqual([]);
    const second = await trackedRun(run.runDir);
    expect(second.info).toMatchObject({ runId: first.info.runId, status: 'FINISHED' });
    const steps = (await client.getMetricHistory(second.info.runId, 'train/loss')).map((m) => m.step);
    expect(steps).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    const ips = await client.getMetricHistory(second.info.runId, 'train/images_per_second');
    expect(ips[0].value).toBeNaN();
  });

  it('does not send again the steps a killed run had sent past its checkpoint, when it resumes', async () => {
    const experimentName = unique('killed');
    const run = fakeRun(tempDir(), { steps: 60, evalEvery: 30, sampleEvery: 1000 });
    const start = run.events[0] as RunStartEvent;
    const at = (step: number) => run.events.findIndex((e) => e.type === 'step' && e.step === step);
    // First session: steps 1..45 reach MLflow, then the process dies (no end event); its checkpoint was at 30.
    const first = createMlflowTracker({ uri: server.uri, experimentName, runDir: run.runDir, flushEverySteps: 5, log: () => {} });
    await feed(first, run.events.slice(0, at(45) + 1));
    await first.idle();
    const runId = (await trackedRun(run.runDir)).info.runId;
    expect((await client.getMetricHistory(runId, 'train/loss')).length).toBe(45);

    // Second session, later: resumed from step 30, it repeats 31..60 (the same values, resumes are exact; new times).
    const resumed: RunStartEvent = { ...start, time: T0 + 100_000, resumedFromStep: 30 };
    const later = run.events.slice(at(31)).map((e) => ({ ...e, time: e.time + 100_000 }));
    await feed(createMlflowTracker({ uri: server.uri, experimentName, runDir: run.runDir, log: () => {} }), [resumed, ...later]);
    const steps = (await client.getMetricHistory(runId, 'train/loss')).map((m) => m.step);
    expect(steps).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect((await client.getMetricHistory(runId, 'test/bits_per_dim')).map((m) => m.step)).toEqual([30, 60]);
  });
});
