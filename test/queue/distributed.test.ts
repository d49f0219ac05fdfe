// Distributed sweeps end to end: a real redis-server, the real MLflow server, and real
// `pxl worker` processes with their own runs folders on tiny members. A worker killed
// outright mid-member is taken over by another that has never seen it (its checkpoint comes
// from MLflow) and the member's metric history ends up that of an uninterrupted run; Redis
// restarted and MLflow down mid-sweep; a cancel and a second enqueue; payloads that are not
// members; credentials kept out of jobs, logs and params.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue, type Job } from 'bullmq';
import { beforeAll, describe, expect, inject, it, onTestFailed } from 'vitest';
import { MlflowClient } from '../../src/track/mlflow-client.js';
import { parseQueueUrl, QUEUE_NAME } from '../../src/queue/connection.js';
import { asProgress } from '../../src/queue/progress.js';
import { waitForMlflow } from '../setup/mlflow-server.js';
import { ROOT, pxl } from '../helpers/cli.js';
import { startRedis } from '../helpers/redis.js';
import { tempDir, writeFiles } from '../helpers/tmp.js';
import { pxlAsync } from '../track/pxl-async.js';
import { recordingProxy } from '../track/recording-proxy.js';
import { flakyProxy } from './flaky-proxy.js';
import { startWorker } from './workers.js';

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
async function waitForJob(queue: Queue, id: string, ok: (job: Job) => boolean | Promise<boolean>, timeoutMs = 180_000): Promise<Job> {
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
/** The step after which the killed worker's member waits (PXL_TEST_HOLD_AFTER_STEP) for the kill. */
const HELD = 30;

/** An uninterrupted local run of a member file, tracking off: its step losses and its folder. */
function uninterrupted(memberFile: string, runsDir: string): { losses: Map<number, number>; runDir: string } {
  const r = pxl(['run', memberFile, '--runs-dir', runsDir, '--reporter', 'json'], { env: { MLFLOW_TRACKING_URI: '' } });
  expect(r.status, r.stderr).toBe(0);
  const events = lines(r.stdout);
  return {
    losses: new Map(events.filter((e) => e.type === 'step').map((e) => [e.step as number, e.loss as number])),
    runDir: events.find((e) => e.type === 'start')!.runDir as string,
  };
}

/** The sha256 of a finished run folder's final sample grid and of its best checkpoint's weights. */
const endOf = (runDir: string) => {
  const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
  const grids = readdirSync(join(runDir, 'samples')).sort();
  return { grid: `${grids.at(-1)} ${sha(join(runDir, 'samples', grids.at(-1)!))}`, best: sha(join(runDir, 'checkpoints', 'best', 'weights.bin')) };
};

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
    // Started before the sweep exists: it waits for work, and takes the first member, the long
    // one, which waits after step 30 until killed: the kill comes at a known point, whatever the
    // load. The workers started later (which may take it over) do not hold.
    const a = startWorker(redis.url, join(dir, 'a'), { PXL_TEST_HOLD_AFTER_STEP: String(HELD) });
    await a.waitFor(/worker .* 1 slot/);
    const workers = [a];
    onTestFailed(() => console.error(workers.map((w) => w.output()).join('\n')));

    const runsDir = join(dir, 'runs');
    const env = { MLFLOW_TRACKING_URI: server.uri };
    const args = ['sweep', join(dir, 's.yaml'), '--queue', redis.url, '--runs-dir', runsDir];
    const enqueued = await pxlAsync([...args, '--detach'], { env });
    expect(enqueued.status, enqueued.stderr).toBe(0);
    expect(enqueued.stdout).toContain('3 enqueued, 0 put back after a cancel, 0 already there');

    // The long member held after step 30, its checkpoint of step 20 in MLflow and MLflow holding
    // steps 1..30 (the evaluation of step 30 sent them): steps 21..30 are what a naive resume
    // would log twice.
    const longId = await jobIdOf(queue, 'long');
    await waitForJob(queue, longId, (j) => asProgress(j.progress)?.worker.includes(`/${a.child.pid}#`) ?? false);
    const b = startWorker(redis.url, join(dir, 'b'));
    workers.push(b);
    await waitForJob(queue, longId, (j) => asProgress(j.progress)?.uploadedStep === 20);
    const parent = parentOf(runsDir, sweep);
    const before = (await memberRuns(experiment, parent)).find((r) => r.data.tags['pxl.sweep_member'] === 'long')!;
    const job = await waitForJob(queue, longId, async () =>
      Math.max(0, ...(await client.getMetricHistory(before.info.runId, 'train/loss')).map((m) => m.step)) === HELD);
    const progress = asProgress(job.progress)!;
    expect(progress).toMatchObject({ uploadedStep: 20, resumedFromStep: 0, totalSteps: 60 });
    const uploaded = progress.uploadedStep!;
    const victim = [a, b].find((w) => progress.worker.includes(`/${w.child.pid}#`))!;
    // A machine dying: the worker and its member at once, no checkpoint, no goodbye.
    const member = JSON.parse(readFileSync(join(progress.runDir!, 'run.lock.json'), 'utf8')) as { pid: number };
    victim.child.kill('SIGKILL');
    process.kill(member.pid, 'SIGKILL');

    // A third machine, with an empty runs folder.
    const c = startWorker(redis.url, join(dir, 'c'));
    workers.push(c);
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
    const reference = uninterrupted(join(runsDir, 'sweeps', sweep, 'members', 'long.yaml'), join(dir, 'local'));
    expect(history.map((m) => m.value)).toEqual(steps(60).map((s) => reference.losses.get(s)));
    // The best checkpoint came along (the final grid is drawn from it): the same as the uninterrupted run's.
    expect(endOf(longRow.result!.runDir)).toEqual(endOf(reference.runDir));
    expect((await client.getMetricHistory(long.info.runId, 'test/bits_per_dim')).map((m) => m.step)).toEqual(steps(12).map((i) => i * 5));

    // The results, from MLflow alone: the member folders are on the workers.
    const compared = pxl(['compare', '--sweep', join(runsDir, 'sweeps', sweep), '--format', 'json', '--no-figure']);
    expect(compared.status, compared.stderr).toBe(0);
    const table = JSON.parse(compared.stdout) as { runs: { label: string; status: string; results: { steps: number | null } }[] };
    expect(table.runs.map((r) => [r.label, r.status, r.results.steps]).sort()).toEqual([['bad-data', 'failed', null], ['long', 'finished', 60], ['short', 'finished', 8]]);
    expect((await client.getRun(parent)).info.status).toBe('FAILED');
    await queue.close();
  }, 420_000);

  it('ends with every member finished and none run twice when Redis restarts and MLflow is down mid-sweep', async () => {
    const dir = tempDir();
    const redis = await startRedis(join(dir, 'redis'));
    const queue = new Queue(QUEUE_NAME, { connection: parseQueueUrl(redis.url).connection });
    const proxy = await flakyProxy(server.uri);
    const sweep = unique('faults');
    const experiment = unique('pxl-faults');
    writeFiles(dir, {
      's.yaml': [
        `name: ${sweep}`, `experiment: ${TINY}`, 'set:', '  train.sample_every: 0', '  train.steps: 30', '  train.checkpoint_every: 10',
        '  train.eval_every: 10', `  tracking.experiment: ${experiment}`, 'variants:', '  bn: {}', '  no-bn: {model.batch_norm: false}', '',
      ].join('\n'),
    });
    // The default lock (30 s): a restart on a loaded machine must not outlast it (a lapsed lock is a takeover, tested above).
    const lock = { PXL_QUEUE_LOCK_MS: '30000' };
    const workers = [startWorker(redis.url, join(dir, 'a'), lock), startWorker(redis.url, join(dir, 'b'), lock)];
    const runsDir = join(dir, 'runs');
    const env = { MLFLOW_TRACKING_URI: proxy.uri };
    const args = ['sweep', join(dir, 's.yaml'), '--queue', redis.url, '--runs-dir', runsDir];
    expect((await pxlAsync([...args, '--detach'], { env })).status).toBe(0);
    for (const m of ['bn', 'no-bn']) await waitForJob(queue, await jobIdOf(queue, m), (j) => (asProgress(j.progress)?.step ?? 0) >= 3);

    // Redis away for 12 s, longer than BullMQ's default reconnect backoff (tries after 2.7 and
    // 10.1 s, the next at 30.1 s) tolerates with a 30 s lock; MLflow down meanwhile.
    proxy.down();
    await redis.restart(12_000);
    proxy.up();
    expect(proxy.refused()).toBeGreaterThan(0);

    const followed = await pxlAsync([...args, '--reporter', 'json'], { env });
    expect(followed.status, followed.stdout + followed.stderr).toBe(0);
    const logs = workers.map((w) => w.output()).join('\n');
    for (const m of ['bn', 'no-bn']) {
      // Started once, by one worker, never taken over or resumed.
      expect(logs.split('\n').filter((l) => l.includes(`${sweep}/${m} [slot 0]: starting`)), logs).toHaveLength(1);
    }
    expect(logs, logs).not.toMatch(/resuming|downloaded|lost its lock/);
    const runs = await memberRuns(experiment, parentOf(runsDir, sweep));
    expect(runs.map((r) => r.data.tags['pxl.sweep_member']).sort()).toEqual(['bn', 'no-bn']);
    for (const r of runs) {
      expect(r.info.status).toBe('FINISHED');
      expect((await client.getMetricHistory(r.info.runId, 'train/loss')).map((m) => m.step)).toEqual(steps(30));
      expect((await client.getMetricHistory(r.info.runId, 'test/bits_per_dim')).map((m) => m.step)).toEqual([10, 20, 30]);
    }
    await queue.close();
    await proxy.close();
  }, 300_000);

  it('cancels cleanly with a checkpoint and goes on when enqueued again; refuses payloads that are not members; keeps credentials out', async () => {
    const dir = tempDir();
    const redisSecret = 's3cret-redis';
    const mlflowSecret = 's3cret-mlflow';
    const redis = await startRedis(join(dir, 'redis'), ['--requirepass', redisSecret]);
    const url = redis.url.replace('redis://', `redis://:${redisSecret}@`);
    const queue = new Queue(QUEUE_NAME, { connection: parseQueueUrl(url).connection });
    const proxy = await recordingProxy(server.uri);
    const sweep = unique('cancel');
    const experiment = unique('pxl-cancel');
    const marker = join(dir, 'pwned');
    writeFiles(dir, {
      's.yaml': [
        `name: ${sweep}`, `experiment: ${TINY}`, 'set:', '  train.sample_every: 0', `  tracking.experiment: ${experiment}`,
        'variants:', '  long: {train.steps: 60, train.checkpoint_every: 10, train.eval_every: 30}', '  short: {}', '',
      ].join('\n'),
    });
    // Not members: a command, and a member whose experiment the schema refuses.
    await queue.add('member', { kind: 'command', command: `touch ${marker}` }, { jobId: 'evil', attempts: 3 });
    await queue.add('member', {
      kind: 'pxl-sweep-member', version: 1, sweep: 'x', member: 'y', index: 1, total: 1, hash: '0123456789abcdef',
      experiment: { name: 'x', model: { hidden: 'lots' } }, mlflow: null,
    }, { jobId: 'x__y__0123456789abcdef', attempts: 3 });
    const worker = startWorker(url, join(dir, 'w'), { MLFLOW_TRACKING_USERNAME: 'alice', MLFLOW_TRACKING_PASSWORD: mlflowSecret });
    await worker.waitFor(/refused job x__y__0123456789abcdef: its experiment does not match the experiment schema: model\.hidden/);
    expect(worker.output()).toMatch(/refused job evil: not a pxl sweep member/);
    for (const id of ['evil', 'x__y__0123456789abcdef']) {
      const job = await waitForJob(queue, id, async (j) => (await j.getState()) === 'failed');
      expect(job.attemptsMade).toBe(1);
    }
    expect(existsSync(marker)).toBe(false);

    const runsDir = join(dir, 'runs');
    const env = { MLFLOW_TRACKING_URI: proxy.uri.replace('http://', `http://alice:${mlflowSecret}@`) };
    const args = ['sweep', join(dir, 's.yaml'), '--queue', url, '--runs-dir', runsDir];
    const first = await pxlAsync([...args, '--detach'], { env });
    expect(first.stdout).toContain('2 enqueued, 0 put back after a cancel, 0 already there');
    const again = await pxlAsync([...args, '--detach'], { env });
    expect(again.stdout).toContain('0 enqueued, 0 put back after a cancel, 2 already there');

    const longId = await jobIdOf(queue, 'long');
    const shortId = await jobIdOf(queue, 'short');
    await waitForJob(queue, longId, (j) => (asProgress(j.progress)?.step ?? 0) >= 12);
    const cancel = await pxlAsync(['sweep', 'cancel', join(dir, 's.yaml'), '--queue', url, '--runs-dir', runsDir], { env });
    expect(cancel.status, cancel.stderr).toBe(0);
    expect(cancel.stdout).toContain('1 queued member taken off the queue, 1 running stops after its step with a checkpoint');
    const cancelled = (await queue.getJob(longId))!;
    expect(await cancelled.getState()).toBe('failed');
    expect(cancelled.failedReason).toMatch(/^cancelled/);
    const runDir = asProgress(cancelled.progress)!.runDir!;
    const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as { status: string; steps: number };
    expect(summary.status).toBe('interrupted');
    expect(readFileSync(join(runDir, 'checkpoints', 'latest'), 'utf8').trim()).toBe(`step-${String(summary.steps).padStart(8, '0')}`);
    expect(await queue.getJob(shortId)).toBeUndefined(); // taken off the queue before it started

    const followed = await pxlAsync(args, { env });
    expect(followed.status, followed.stdout + followed.stderr).toBe(0);
    expect(followed.stdout).toContain('1 enqueued, 1 put back after a cancel, 0 already there');
    expect(worker.output()).toMatch(new RegExp(`${sweep}/long \\[slot 0\\]: resuming ${runDir}`));
    const runs = await memberRuns(experiment, parentOf(runsDir, sweep));
    const long = runs.find((r) => r.data.tags['pxl.sweep_member'] === 'long')!;
    expect((await client.getMetricHistory(long.info.runId, 'train/loss')).map((m) => m.step)).toEqual(steps(60));

    // Credentials: in no job, log, param or sweep file; the members sent the worker's own to MLflow.
    const redisClient = await queue.client;
    const stored = JSON.stringify(await Promise.all(['evil', longId].map((id) => redisClient.hgetall(`bull:${QUEUE_NAME}:${id}`))));
    expect(stored).toContain('pxl-sweep-member');
    const seen = [stored, worker.output(), first.stdout, first.stderr, followed.stdout, followed.stderr, cancel.stdout, JSON.stringify(runs.map((r) => r.data))];
    for (const f of readdirSync(join(runsDir, 'sweeps', sweep), { recursive: true, withFileTypes: true })) {
      if (f.isFile()) seen.push(readFileSync(join(f.parentPath, f.name), 'utf8'));
    }
    for (const text of seen) {
      expect(text).not.toContain(redisSecret);
      expect(text).not.toContain(mlflowSecret);
    }
    expect(proxy.authorizations).toContain(`Basic ${Buffer.from(`alice:${mlflowSecret}`).toString('base64')}`);
    await queue.close();
    await proxy.close();
  }, 300_000);

  it('works over rediss:// (TLS) with the server checked against a given CA, and refuses a server it cannot check', async () => {
    const dir = tempDir();
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const tls = await startRedis(join(dir, 'redis'), ['--port', '0', '--tls-port', 'PORT', '--tls-cert-file', cert, '--tls-key-file', key, '--tls-ca-cert-file', cert, '--tls-auth-clients', 'no'], 'rediss');
    writeFiles(dir, { 's.yaml': `name: ${unique('tls')}\nexperiment: ${TINY}\nset:\n  train.sample_every: 0\nvariants:\n  only: {}\n` });
    const env = { NODE_EXTRA_CA_CERTS: cert, MLFLOW_TRACKING_URI: '' };
    startWorker(tls.url, join(dir, 'w'), env);
    const args = ['sweep', join(dir, 's.yaml'), '--queue', tls.url, '--runs-dir', join(dir, 'runs')];
    const followed = await pxlAsync(args, { env });
    expect(followed.status, followed.stdout + followed.stderr).toBe(0);
    expect(followed.stdout).toMatch(/\[1\/1\] only: finished/);
    // Without the CA the server's certificate cannot be checked: no connection, a clear error, exit 1.
    const untrusted = await pxlAsync(['sweep', 'status', join(dir, 's.yaml'), '--queue', tls.url, '--runs-dir', join(dir, 'runs')], { env: { MLFLOW_TRACKING_URI: '' } });
    expect(untrusted.status).toBe(1);
    expect(untrusted.stderr).toMatch(/did not answer in 15 s \(.*self[- ]signed certificate/);
  }, 180_000);
});
