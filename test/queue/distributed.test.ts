// Distributed sweeps end to end: a real redis-server, the real MLflow server, and real
// `pxl worker` processes with their own runs folders on tiny members. A worker killed
// outright mid-member is taken over by another that has never seen it (its checkpoint comes
// from MLflow) and the member's metric history ends up that of an uninterrupted run; Redis
// restarted and MLflow down mid-sweep; a cancel and a second enqueue; payloads that are not
// members; credentials kept out of jobs, logs and params.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import { Queue, type Job } from 'bullmq';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { MlflowClient } from '../../src/track/mlflow-client.js';
import { parseQueueUrl, QUEUE_NAME } from '../../src/queue/connection.js';
import { asProgress } from '../../src/queue/progress.js';
import { waitForMlflow } from '../setup/mlflow-server.js';
import { ROOT, pxl } from '../helpers/cli.js';
import { startRedis } from '../helpers/redis.js';
import { tempDir, writeFiles } from '../helpers/tmp.js';
import { pxlAsync } from '../track/pxl-async.js';
import { recordingProxy } from '../track/recording-proxy.js';
import { startWorker, type TestWorker } from './workers.js';

const server = inject('mlflow');
const client = new MlflowClient({ uri: server.uri, retries: 2 });
const TINY = join(ROOT, 'test/fixtures/tiny.yaml');
const unique = (p: string) => `${p}-${randomBytes(4).toString('hex')}`;

type Ev = Record<string, unknown> & { type: string };
const lines = (out: string): Ev[] => out.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Ev);

beforeAll(async () => {
  await waitForMlflow(server);
});

/** Waits until the job exists and `ok` holds for it. */
async function waitForJob(queue: Queue, id: string, ok: (job: Job) => boolean | Promise<boolean>, timeoutMs = 90_000): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await queue.getJob(id);
    if (job && (await ok(job))) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} never got there; last progress ${JSON.stringify(job?.progress)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function jobIdOf(queue: Queue, member: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const ids = (await queue.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized'])).map((j) => j.id!);
    const id = ids.find((x) => x.includes(`__${member}__`));
    if (id) return id;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no job for ${member}`);
}

/** The member runs (children of the sweep's parent) in MLflow, by member name. */
async function memberRuns(experimentName: string, parentRunId: string) {
  const experiment = await client.getExperimentByName(experimentName);
  const { runs } = await client.searchRuns({ experimentIds: [experiment!.experimentId], filter: `tags.\`mlflow.parentRunId\` = '${parentRunId}'` });
  return runs;
}

const parentOf = (runsDir: string, sweep: string): string =>
  (JSON.parse(readFileSync(join(runsDir, 'sweeps', sweep, 'state.json'), 'utf8')) as { mlflow: { run_id: string } }).mlflow.run_id;

const steps = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/** The step losses of an uninterrupted local run of a member file, tracking off. */
function uninterruptedLosses(memberFile: string, runsDir: string): Map<number, number> {
  const r = pxl(['run', memberFile, '--runs-dir', runsDir, '--reporter', 'json'], { env: { MLFLOW_TRACKING_URI: '' } });
  expect(r.status, r.stderr).toBe(0);
  return new Map(lines(r.stdout).filter((e) => e.type === 'step').map((e) => [e.step as number, e.loss as number]));
}

describe('pxl sweep --queue with pxl worker', () => {
  it('takes a member over from a worker killed outright: resumed elsewhere from its MLflow checkpoint, with an exact metric history; a member that cannot work fails once', async () => {
    const dir = tempDir();
    const redis = await startRedis(join(dir, 'redis'));
    const queue = new Queue(QUEUE_NAME, { connection: parseQueueUrl(redis.url).connection });
    const sweep = unique('dist');
    const experiment = unique('pxl-dist');
    const bad = join(dir, 'bad-data');
    mkdirSync(bad);
    for (const f of ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) writeFileSync(join(bad, f), 'not idx');
    writeFiles(dir, {
      's.yaml': [
        `name: ${sweep}`, `experiment: ${TINY}`, 'set:', '  train.sample_every: 0', `  tracking.experiment: ${experiment}`,
        'variants:',
        '  long: {train.steps: 60, train.checkpoint_every: 20, train.eval_every: 5, train.log_every: 1}',
        '  short: {}',
        `  bad-data: {dataset: {name: idx, dir: ${bad}, train_limit: 64, test_limit: 16}}`, '',
      ].join('\n'),
    });
    // Started before the sweep exists: they wait for work.
    const a = startWorker(redis.url, join(dir, 'a'));
    const b = startWorker(redis.url, join(dir, 'b'));
    await Promise.all([a.waitFor(/worker .* 1 slot/), b.waitFor(/worker .* 1 slot/)]);

    const runsDir = join(dir, 'runs');
    const env = { MLFLOW_TRACKING_URI: server.uri };
    const args = ['sweep', join(dir, 's.yaml'), '--queue', redis.url, '--runs-dir', runsDir];
    const enqueued = await pxlAsync([...args, '--detach'], { env });
    expect(enqueued.status, enqueued.stderr).toBe(0);
    expect(enqueued.stdout).toContain('3 enqueued, 0 put back after a cancel, 0 already there');

    // The long member, once MLflow holds steps past its last uploaded checkpoint: what a naive
    // resume would log twice.
    const longId = await jobIdOf(queue, 'long');
    await waitForJob(queue, longId, (j) => (asProgress(j.progress)?.uploadedStep ?? 0) >= 20);
    const parent = parentOf(runsDir, sweep);
    const before = (await memberRuns(experiment, parent)).find((r) => r.data.tags['pxl.sweep_member'] === 'long')!;
    const job = await waitForJob(queue, longId, async (j) => {
      const logged = (await client.getMetricHistory(before.info.runId, 'train/loss')).map((m) => m.step);
      return Math.max(0, ...logged) > (asProgress(j.progress)?.uploadedStep ?? Infinity);
    });
    const progress = asProgress(job.progress)!;
    const uploaded = progress.uploadedStep!;
    const victim = [a, b].find((w) => progress.worker.includes(`/${w.child.pid}#`))!;
    // A machine dying: the worker and its member at once, no checkpoint, no goodbye.
    const member = JSON.parse(readFileSync(join(progress.runDir!, 'run.lock.json'), 'utf8')) as { pid: number };
    victim.child.kill('SIGKILL');
    process.kill(member.pid, 'SIGKILL');

    // A third machine, with an empty runs folder.
    const c = startWorker(redis.url, join(dir, 'c'));
    const followed = await pxlAsync([...args, '--reporter', 'json'], { env });
    expect(followed.status, followed.stderr).toBe(1); // bad-data failed
    const end = lines(followed.stdout).find((e) => e.type === 'sweep-end')!;
    expect(end, followed.stdout + followed.stderr).toBeDefined();
    const rows = end.members as { member: string; status: string; attempts: number; message: string; result: { runDir: string } | null }[];
    expect(rows.map((r) => [r.member, r.status])).toEqual([['long', 'finished'], ['short', 'finished'], ['bad-data', 'failed']]);
    // Bad input is not retried: one attempt, the reason kept.
    const failed = rows.find((r) => r.member === 'bad-data')!;
    expect(failed.attempts).toBe(1);
    expect(failed.message).toMatch(/not an IDX file/);

    // Resumed by a worker that had never seen it, from the uploaded checkpoint.
    const survivors = [a, b, c].filter((w) => w !== victim);
    const taker = survivors.find((w) => w.output().includes(`${sweep}/long`))!;
    expect(taker.output()).toMatch(new RegExp(`${sweep}/long \\[slot 0\\]: downloaded the checkpoint of step ${uploaded} from MLflow`));
    const longRow = rows.find((r) => r.member === 'long')!;
    expect(longRow.result!.runDir.startsWith(taker.runsDir)).toBe(true);
    const resumedStart = readFileSync(join(longRow.result!.runDir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Ev).filter((e) => e.type === 'start');
    expect(resumedStart.at(-1)).toMatchObject({ resumedFromStep: uploaded });

    // MLflow: one child run per member that started, the long one's history exact.
    const runs = await memberRuns(experiment, parent);
    expect(runs.map((r) => r.data.tags['pxl.sweep_member']).sort()).toEqual(['long', 'short']);
    const long = runs.find((r) => r.data.tags['pxl.sweep_member'] === 'long')!;
    expect(long.info).toMatchObject({ runId: before.info.runId, status: 'FINISHED' });
    const history = await client.getMetricHistory(long.info.runId, 'train/loss');
    expect(history.map((m) => m.step)).toEqual(steps(60));
    const reference = uninterruptedLosses(join(runsDir, 'sweeps', sweep, 'members', 'long.yaml'), join(dir, 'local'));
    expect(history.map((m) => m.value)).toEqual(steps(60).map((s) => reference.get(s)));
    expect((await client.getMetricHistory(long.info.runId, 'test/bits_per_dim')).map((m) => m.step)).toEqual(steps(12).map((i) => i * 5));

    // The results, from MLflow alone: the member folders are on the workers.
    const compared = pxl(['compare', '--sweep', join(runsDir, 'sweeps', sweep), '--format', 'json', '--no-figure']);
    expect(compared.status, compared.stderr).toBe(0);
    const table = JSON.parse(compared.stdout) as { runs: { label: string; status: string; results: { steps: number | null } }[] };
    expect(table.runs.map((r) => [r.label, r.status, r.results.steps]).sort()).toEqual([['bad-data', 'failed', null], ['long', 'finished', 60], ['short', 'finished', 8]]);
    expect((await client.getRun(parent)).info.status).toBe('FAILED');
    await queue.close();
  }, 300_000);
});
