// Credentials never leak, and an MLflow that refuses them, or a proxy page in its place, is
// reported as what it is with nothing lost. A real `pxl run` with a password in tracking.uri
// and a token in the environment, against the real server; then small fake servers on
// 127.0.0.1 for what a real MLflow cannot answer (401, 403, a login page with status 200).
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MlflowClient, MlflowError } from '../../src/track/mlflow-client.js';
import { createMlflowTracker, syncRun } from '../../src/track/mlflow-tracker.js';
import { SPOOL_FILE, readState } from '../../src/track/mlflow-sync.js';
import { waitForMlflow } from '../setup/mlflow-server.js';
import { PXL, pxl, ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { fakeRun, feed } from './fake-run.js';
import { recordingProxy } from './recording-proxy.js';
import { pxlAsync } from './pxl-async.js';

const server = inject('mlflow');
const TINY = join(ROOT, 'test/fixtures/tiny.yaml');
const PASSWORD = 's3cret-XYZ';
const TOKEN = 'tok-XYZ';
const ENV_PASSWORD = 'envpw-XYZ';

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((rel) => join(dir, rel))
    .filter((p) => statSync(p, { throwIfNoEntry: false })?.isFile());
}

/** The files under `dir` whose bytes contain any of `secrets` (as written, or base64 as in a Basic header). */
function filesHolding(dir: string, secrets: string[]): string[] {
  const needles = secrets.flatMap((s) => [s, Buffer.from(s).toString('base64').replace(/=+$/, '')]);
  return filesUnder(dir).filter((f) => {
    const bytes = readFileSync(f);
    return needles.some((n) => bytes.includes(n));
  });
}

beforeAll(async () => {
  await waitForMlflow(server);
});

describe('credentials', () => {
  it('a password in tracking.uri, MLFLOW_TRACKING_TOKEN and MLFLOW_TRACKING_PASSWORD reach no file, output, database or artifact', async () => {
    const dir = tempDir();
    const runsDir = join(dir, 'runs');
    const experiment = `pxl-secrets-${randomBytes(4).toString('hex')}`;
    const proxy = await recordingProxy(server.uri);
    const withPassword = proxy.uri.replace('http://', `http://user:${PASSWORD}@`);
    const file = join(dir, 'secret.yaml');
    writeFileSync(file, `extends: ${TINY}\nbackend: wasm\ntracking:\n  uri: ${withPassword}\n  experiment: ${experiment}\n  log_model: true\n`);
    const r = await pxlAsync(['run', file, '--runs-dir', runsDir, '--reporter', 'json'], {
      env: { MLFLOW_TRACKING_TOKEN: TOKEN, MLFLOW_TRACKING_USERNAME: 'env-user', MLFLOW_TRACKING_PASSWORD: ENV_PASSWORD, MLFLOW_TRACKING_URI: '' },
    });
    expect(r.status, r.stderr).toBe(0);

    // It was tracked: the run is in MLflow, with the URI less its credentials as the param.
    const runDir = join(runsDir, 'tiny', readdirSync(join(runsDir, 'tiny'))[0]);
    const run = await new MlflowClient({ uri: server.uri }).getRun(readState(runDir).runId!);
    expect(run.info.status).toBe('FINISHED');
    expect(run.data.params['tracking.uri']).toBe(proxy.uri);
    // Every request carried the password from the URI, as Basic auth (it wins over the variables).
    await proxy.close();
    expect(proxy.authorizations.length).toBeGreaterThan(5);
    expect(new Set(proxy.authorizations)).toEqual(new Set([`Basic ${Buffer.from(`user:${PASSWORD}`).toString('base64')}`]));

    for (const secret of [PASSWORD, TOKEN, ENV_PASSWORD]) expect(`${r.stdout}\n${r.stderr}`).not.toContain(secret);
    expect(filesHolding(runDir, [PASSWORD, TOKEN, ENV_PASSWORD])).toEqual([]);
    // The server's sqlite database, its artifact store and its log.
    expect(filesUnder(server.data).some((f) => f.endsWith('mlflow.db'))).toBe(true);
    expect(filesHolding(server.data, [PASSWORD, TOKEN, ENV_PASSWORD])).toEqual([]);
  });
});

/** Starts `pxl run`, sends SIGINT once it reports step `at`, and resolves with its exit status. */
function runUntilStep(args: string[], env: NodeJS.ProcessEnv, at: number): Promise<number | null> {
  const child = spawn(process.execPath, [PXL, ...args], { env: { ...process.env, CI: 'true', ...env } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (!child.killed && [...out.matchAll(/"type":"step","time":\d+,"step":(\d+)/g)].some((m) => Number(m[1]) >= at)) child.kill('SIGINT');
  });
  child.stderr.resume();
  return new Promise((resolve) => child.on('close', resolve));
}

describe('a resumed run', () => {
  it('has its credentials back from MLFLOW_TRACKING_USERNAME and _PASSWORD, its run folder holding none', async () => {
    const dir = tempDir();
    const runsDir = join(dir, 'runs');
    const proxy = await recordingProxy(server.uri);
    const basic = `Basic ${Buffer.from(`user:${PASSWORD}`).toString('base64')}`;
    const file = join(dir, 'resume.yaml');
    const tracking = `tracking:\n  uri: ${proxy.uri.replace('http://', `http://user:${PASSWORD}@`)}\n  experiment: pxl-resume-${randomBytes(4).toString('hex')}\n`;
    writeFileSync(file, `extends: ${TINY}\nbackend: wasm\ntrain:\n  steps: 300\n  checkpoint_every: 10\n  sample_every: 0\n  eval_every: 100\n${tracking}`);
    const noEnv = { MLFLOW_TRACKING_URI: '', MLFLOW_TRACKING_USERNAME: '', MLFLOW_TRACKING_PASSWORD: '', MLFLOW_TRACKING_TOKEN: '' };
    expect(await runUntilStep(['run', file, '--runs-dir', runsDir, '--reporter', 'json'], noEnv, 20)).toBe(130);
    const runDir = join(runsDir, 'tiny', readdirSync(join(runsDir, 'tiny'))[0]);
    expect(readFileSync(join(runDir, 'config.yaml'), 'utf8')).toContain(`uri: ${proxy.uri}\n`);
    expect(filesHolding(runDir, [PASSWORD])).toEqual([]);
    const before = proxy.authorizations.splice(0);
    expect(before.length).toBeGreaterThan(0);
    expect(new Set(before)).toEqual(new Set([basic]));

    const r = await pxlAsync(['run', '--resume', runDir, '--reporter', 'json'], { env: { ...noEnv, MLFLOW_TRACKING_USERNAME: 'user', MLFLOW_TRACKING_PASSWORD: PASSWORD } });
    expect(r.status, r.stderr).toBe(0);
    await proxy.close();
    expect(proxy.authorizations.length).toBeGreaterThan(0);
    expect(new Set(proxy.authorizations)).toEqual(new Set([basic]));
    const run = await new MlflowClient({ uri: server.uri }).getRun(readState(runDir).runId!);
    expect(run.info.status).toBe('FINISHED');
    expect(filesHolding(runDir, [PASSWORD])).toEqual([]);
  }, 120_000);
});

type Answer = { status: number; type: string; body: string };
const ANSWERS: Record<string, Answer> = {
  unauthorized: { status: 401, type: 'text/plain', body: 'You are not authenticated. Please see the documentation.' },
  forbidden: { status: 403, type: 'application/json', body: JSON.stringify({ error_code: 'PERMISSION_DENIED', message: 'Permission denied' }) },
  'login page': { status: 200, type: 'text/html; charset=utf-8', body: '<!DOCTYPE html><html><body><form action="/login">Sign in</form></body></html>' },
};

describe('a server that refuses the credentials or is not MLflow', () => {
  let fake: Server;
  let fakeUri: string;
  let answer: Answer = ANSWERS.unauthorized;
  const seen: IncomingMessage[] = [];
  beforeAll(async () => {
    fake = createServer((req, res) => {
      seen.push(req);
      req.resume();
      req.on('end', () => res.writeHead(answer.status, { 'content-type': answer.type }).end(answer.body));
    });
    await new Promise<void>((done) => fake.listen(0, '127.0.0.1', done));
    fakeUri = `http://127.0.0.1:${(fake.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((done) => fake.close(() => done())));

  it.each([
    ['unauthorized', /unauthorized \(HTTP 401\) at http:\/\/127\.0\.0\.1:\d+: check MLFLOW_TRACKING_TOKEN/],
    ['forbidden', /forbidden \(HTTP 403 PERMISSION_DENIED\) at http:\/\/127\.0\.0\.1:\d+: check MLFLOW_TRACKING_TOKEN/],
    ['login page', /the server at http:\/\/127\.0\.0\.1:\d+ answered with an HTML page, not MLflow's JSON API: is the URI pointing at a proxy or login page\?/],
  ])('%s: the client says so at once, without retrying', async (name, said) => {
    answer = ANSWERS[name];
    const before = seen.length;
    const c = new MlflowClient({ uri: fakeUri.replace('http://', `http://user:${PASSWORD}@`), token: TOKEN, retries: 3, backoffMs: 5 });
    const err = (await c.getRun('r').catch((e: unknown) => e)) as MlflowError;
    expect(err).toBeInstanceOf(MlflowError);
    expect(err.message).toMatch(said);
    expect(err.transient).toBe(true);
    expect(err.message).not.toContain(PASSWORD);
    expect(seen.length - before).toBe(1);
  });

  it('a login page answering an artifact upload is no upload', async () => {
    answer = ANSWERS['login page'];
    const c = new MlflowClient({ uri: fakeUri, retries: 0 });
    await expect(c.uploadArtifact('mlflow-artifacts:/1/abc/artifacts', 'config.yaml', Buffer.from('x'))).rejects.toMatchObject({
      kind: 'proxy',
      message: expect.stringMatching(/answered with an HTML page/),
    });
  });

  it.each(Object.keys(ANSWERS))('%s: a run spools everything, keeps no secret in the spool, and `pxl sync` sends it later', async (name) => {
    answer = ANSWERS[name];
    const run = fakeRun(tempDir(), { steps: 20, evalEvery: 10, sampleEvery: 10 });
    const messages: string[] = [];
    const track = createMlflowTracker({
      uri: fakeUri.replace('http://', `http://user:${PASSWORD}@`),
      experimentName: `refused-${randomBytes(4).toString('hex')}`,
      runDir: run.runDir,
      auth: { token: TOKEN },
      retryEveryMs: 60_000,
      log: (m) => messages.push(m),
    });
    await feed(track, run.events);
    const said = messages.join('\n');
    expect(said).toMatch(name === 'login page' ? /answered with an HTML page/ : /check MLFLOW_TRACKING_TOKEN/);
    expect(said).toMatch(/MLflow operations not sent .*pxl sync/);
    expect(said).not.toMatch(/dropped/);
    expect(said).not.toContain(PASSWORD);
    expect(filesHolding(run.runDir, [PASSWORD, TOKEN])).toEqual([]);
    const spooled = readFileSync(join(run.runDir, SPOOL_FILE), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { op: string });
    expect(spooled.map((o) => o.op)).toEqual(expect.arrayContaining(['create-run', 'log', 'artifact', 'status']));

    // Later, `pxl sync` pointed at the real server, with the credentials from the environment, sends it all.
    const synced = pxl(['sync', run.runDir, '--uri', server.uri], { env: { MLFLOW_TRACKING_URI: '', MLFLOW_TRACKING_USERNAME: 'user', MLFLOW_TRACKING_PASSWORD: PASSWORD } });
    expect(synced.status, synced.stderr).toBe(0);
    expect(synced.stdout).toContain(`sent ${spooled.length} records to ${server.uri}`);
    const runId = readState(run.runDir).runId!;
    const client = new MlflowClient({ uri: server.uri });
    expect((await client.getRun(runId)).info.status).toBe('FINISHED');
    expect((await client.getMetricHistory(runId, 'train/loss')).map((m) => m.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect((await client.listArtifacts(runId)).map((f) => f.path)).toContain('config.yaml');
  });

  it('`pxl sync` against a server that still refuses says why the records wait', async () => {
    answer = ANSWERS.unauthorized;
    const run = fakeRun(tempDir(), { steps: 4, evalEvery: 2, sampleEvery: 0 });
    await feed(createMlflowTracker({ uri: fakeUri, experimentName: 'refused', runDir: run.runDir, log: () => {} }), run.events);
    const messages: string[] = [];
    const r = await syncRun(run.runDir, { env: {}, retries: 0, log: (m) => messages.push(m) });
    expect(r.status).toBe('offline');
    expect(r.error).toMatch(/unauthorized \(HTTP 401\).*check MLFLOW_TRACKING_TOKEN/);
    expect(messages.join('\n')).toMatch(/unauthorized/);
  });
});
