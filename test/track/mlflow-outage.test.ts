// Outages: a second real server of our own is stopped and restarted around a
// run (same port, same data dir); after the tracker's retries or syncRun, MLflow
// must hold exactly the metric history of an uninterrupted run of the same events.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MlflowClient, type Metric } from '../../src/track/mlflow-client.js';
import { createMlflowTracker, syncRun, type MlflowTrackerOptions } from '../../src/track/mlflow-tracker.js';
import { SPOOL_FILE, STATE_FILE, readState } from '../../src/track/mlflow-sync.js';
import type { RunEvent } from '../../src/events/run-events.js';
import { PXL, pxl, ROOT } from '../helpers/cli.js';
import { startMlflowServer, stopMlflowServer, waitForMlflow } from '../setup/mlflow-server.js';
import { fakeRun, feed } from './fake-run.js';

const KEYS = ['train/loss', 'train/bits_per_dim', 'train/images_per_second', 'test/loss', 'test/bits_per_dim', 'best/test_bits_per_dim'];
const shared = inject('mlflow');
const tempDir = (): string => mkdtempSync(join(tmpdir(), 'pxl-outage-'));

let data: string; // our own server's data dir
let uri: string;
let port: number;
let reference: Record<string, Metric[]>;

async function histories(client: MlflowClient, runId: string): Promise<Record<string, Metric[]>> {
  const out: Record<string, Metric[]> = {};
  for (const key of KEYS) out[key] = await client.getMetricHistory(runId, key);
  return out;
}

/** The index just past the step event `step` and whatever follows it before the next step. */
function after(events: RunEvent[], step: number): number {
  const next = events.findIndex((e) => e.type === 'step' && e.step === step + 1);
  return next === -1 ? events.length : next;
}

function tracker(runDir: string, messages: string[], extra: Partial<MlflowTrackerOptions> = {}) {
  return createMlflowTracker({
    uri,
    experimentName: 'outages',
    runDir,
    logModel: true,
    flushEverySteps: 10,
    log: (m) => messages.push(m),
    ...extra,
  });
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  data = tempDir();
  [uri] = await Promise.all([startMlflowServer(data), waitForMlflow(shared)]);
  port = Number(new URL(uri).port);
  // The uninterrupted run, on the shared server.
  const run = fakeRun(tempDir());
  await feed(createMlflowTracker({ uri: shared.uri, experimentName: 'outage-reference', runDir: run.runDir, log: () => {} }), run.events);
  const sharedClient = new MlflowClient({ uri: shared.uri });
  reference = await histories(sharedClient, readState(run.runDir).runId!);
  expect(reference['train/loss']).toHaveLength(300);
});

afterAll(async () => {
  await stopMlflowServer(data);
  rmSync(data, { recursive: true, force: true });
});

describe('MLflow outages', () => {
  it('spools while the server is down mid-run and sends it all when it is back', async () => {
    const run = fakeRun(tempDir());
    const messages: string[] = [];
    const track = tracker(run.runDir, messages, { retryEveryMs: 300 });
    await feed(track, run.events.slice(0, after(run.events, 100)));
    await track.idle();

    await stopMlflowServer(data, true);
    // Steps 101..200, an eval and a sample while the server is gone: the listener must not hold
    // training up, so it hands back nothing to wait for (the sending happens in the background).
    const outage = run.events.slice(after(run.events, 100), after(run.events, 200));
    for (const event of outage) expect(track(event)).toBeUndefined();
    await track.idle();
    expect(existsSync(join(run.runDir, SPOOL_FILE))).toBe(true);

    await startMlflowServer(data, port);
    // The tracker's own periodic retry empties the spool.
    await waitFor(() => !existsSync(join(run.runDir, SPOOL_FILE)), 30_000);
    await feed(track, run.events.slice(after(run.events, 200)));

    const client = new MlflowClient({ uri });
    const runId = readState(run.runDir).runId!;
    expect(await histories(client, runId)).toEqual(reference);
    expect((await client.getRun(runId)).info.status).toBe('FINISHED');
    expect((await client.listArtifacts(runId, 'samples')).map((f) => f.path)).toEqual(['samples/step-000150.png', 'samples/step-000300.png']);
    expect(messages.some((m) => m.includes('spooling to'))).toBe(true);
    expect(messages.some((m) => m.includes('reachable again'))).toBe(true);
  });

  it('syncRun completes a run whose end could not be sent and creates one that never reached the server', async () => {
    // Run A loses the server near its end; run B starts after that and never reaches it.
    const a = fakeRun(tempDir());
    const b = fakeRun(tempDir());
    const messages: string[] = [];
    const trackA = tracker(a.runDir, messages, { retryEveryMs: 600_000 });
    await feed(trackA, a.events.slice(0, after(a.events, 250)));
    await trackA.idle();

    await stopMlflowServer(data, true);
    await feed(trackA, a.events.slice(after(a.events, 250)));
    // The end tried once more, then gave up and said how to finish.
    expect(messages.at(-1)).toContain(`pxl sync ${a.runDir}`);
    const spooledA = readFileSync(join(a.runDir, SPOOL_FILE), 'utf8').trim().split('\n').length;

    await feed(tracker(b.runDir, messages, { experimentName: `late-${randomBytes(3).toString('hex')}` }), b.events);
    expect(readState(b.runDir).runId).toBeNull();
    const spoolB = join(b.runDir, SPOOL_FILE);
    copyFileSync(spoolB, `${spoolB}.copy`);
    // Still down: sync says so and keeps everything.
    expect(await syncRun(b.runDir, { retries: 0 })).toMatchObject({ status: 'offline', sent: 0, runId: null });

    await startMlflowServer(data, port);
    const client = new MlflowClient({ uri });

    const resultA = await syncRun(a.runDir);
    expect(resultA).toMatchObject({ status: 'synced', sent: spooledA, pending: 0, uri });
    expect(await histories(client, resultA.runId!)).toEqual(reference);
    const gotA = await client.getRun(resultA.runId!);
    expect(gotA.info.status).toBe('FINISHED');
    expect((await client.listArtifacts(resultA.runId!)).map((f) => f.path)).toEqual(['config.yaml', 'metrics.jsonl', 'model', 'samples']);
    expect((await client.downloadArtifact(gotA.info.artifactUri, 'model/weights.bin')).equals(readFileSync(join(a.checkpointDir, 'weights.bin')))).toBe(true);
    expect(await syncRun(a.runDir)).toMatchObject({ status: 'nothing', sent: 0 });

    const resultB = await syncRun(b.runDir);
    expect(resultB.status).toBe('synced');
    const gotB = await client.getRun(resultB.runId!);
    expect(gotB.info).toMatchObject({ status: 'FINISHED', runName: b.events[0].type === 'start' ? b.events[0].runId : '' });
    expect(gotB.data.params['model.hidden']).toBe('16');
    expect(gotB.data.tags['pxl.device']).toBe('CPU (2 threads)');
    expect(await histories(client, resultB.runId!)).toEqual(reference);

    // As if the acknowledgements were lost in a crash: the whole spool goes again, and nothing doubles.
    copyFileSync(`${spoolB}.copy`, spoolB);
    const state = JSON.parse(readFileSync(join(b.runDir, STATE_FILE), 'utf8'));
    writeFileSync(join(b.runDir, STATE_FILE), JSON.stringify({ ...state, spoolAcked: 0 }));
    expect((await syncRun(b.runDir)).status).toBe('synced');
    expect(await histories(client, resultB.runId!)).toEqual(reference);
    // And the run was not created twice.
    expect((await client.searchRuns({ experimentIds: [gotB.info.experimentId] })).runs).toHaveLength(1);
  });

  it('a real `pxl run` trains on through a server crash, and `pxl sync` leaves MLflow its full history', async () => {
    const runsDir = tempDir();
    const experiment = `outage-run-${randomBytes(3).toString('hex')}`;
    const args = ['run', join(ROOT, 'test/fixtures/tiny.yaml'), '--runs-dir', runsDir, '--reporter', 'json', '--set', 'backend=wasm', '--set', `tracking.experiment=${experiment}`];
    for (const set of ['train.steps=400', 'train.eval_every=100', 'train.checkpoint_every=200', 'train.sample_every=200']) args.push('--set', set);
    const child = spawn(process.execPath, [PXL, ...args], { env: { ...process.env, MLFLOW_TRACKING_URI: uri, CI: 'true' } });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const lastStep = () => Math.max(0, ...[...stdout.matchAll(/"type":"step","time":\d+,"step":(\d+)/g)].map((m) => Number(m[1])));
    const reached = new Promise<void>((resolve) =>
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (lastStep() >= 40) resolve();
      }),
    );
    await reached;
    await stopMlflowServer(data, true); // a crash at step 40 or so
    const stoppedAt = lastStep();
    await startMlflowServer(data, port); // back while the run goes on, or after it ended
    expect(await exited, stderr).toBe(0);
    expect(stoppedAt).toBeLessThan(400); // the crash happened mid-run

    const runDir = join(runsDir, 'tiny', readdirSync(join(runsDir, 'tiny'))[0]);
    const sync = pxl(['sync', runDir]);
    expect(sync.status, sync.stderr).toBe(0);
    const client = new MlflowClient({ uri });
    const run = await client.getRun(readState(runDir).runId!);
    expect(run.info.status).toBe('FINISHED');
    const events = stdout.trim().split('\n').map((l) => JSON.parse(l) as RunEvent);
    expect(events.some((e) => e.type === 'warning' && /spooling to/.test(e.message)) || /spooling to/.test(stderr), 'the outage was noticed').toBe(true);
    const steps = events.flatMap((e) => (e.type === 'step' ? [e] : []));
    const history = await client.getMetricHistory(run.info.runId, 'train/loss');
    expect(history.map((m) => m.step)).toEqual(steps.map((e) => e.step));
    history.forEach((m, i) => expect(m.value).toBeCloseTo(steps[i].loss, 6));
    const evals = events.flatMap((e) => (e.type === 'eval' ? [e.step] : []));
    expect((await client.getMetricHistory(run.info.runId, 'test/bits_per_dim')).map((m) => m.step)).toEqual(evals);
    expect(evals).toEqual([100, 200, 300, 400]);
    expect((await client.listArtifacts(run.info.runId, 'samples')).map((f) => f.path)).toEqual(['samples/step-00000200.png', 'samples/step-00000400.png']);
  });
});
