// The REST client against the real MLflow server from the global setup.
// Only the auth and retry checks use a local HTTP listener, to see what goes over the wire.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  LOG_BATCH_LIMITS,
  MlflowClient,
  MlflowError,
  authFromEnv,
  authHeader,
  chunkBatch,
  redactUri,
  type Metric,
  type Param,
  type RunInfo,
} from '../../src/track/mlflow-client.js';
import { waitForMlflow } from '../setup/mlflow-server.js';

const server = inject('mlflow');
const unique = (prefix: string): string => `${prefix}-${randomBytes(4).toString('hex')}`;

let client: MlflowClient;
beforeAll(async () => {
  await waitForMlflow(server);
  client = new MlflowClient({ uri: server.uri });
});

async function newRun(name = unique('run')): Promise<RunInfo> {
  const experimentId = await client.ensureExperiment(unique('client-test'));
  return client.createRun({ experimentId, runName: name, startTime: 1_700_000_000_000 });
}

describe('experiments', () => {
  it('returns null for a missing experiment and creates it once', async () => {
    const name = unique('exp');
    expect(await client.getExperimentByName(name)).toBeNull();
    const id = await client.ensureExperiment(name);
    expect(await client.ensureExperiment(name)).toBe(id);
    expect((await client.getExperimentByName(name))?.experimentId).toBe(id);
  });

  it('creates an experiment with the given tags and adds those an existing one lacks, keeping its own', async () => {
    const kind = [{ key: 'mlflow.experimentKind', value: 'custom_model_development' }, { key: 'pxl.tool', value: 'pxl' }];
    const fresh = unique('kind');
    await client.ensureExperiment(fresh, kind);
    expect((await client.getExperimentByName(fresh))!.tags).toMatchObject({ 'mlflow.experimentKind': 'custom_model_development', 'pxl.tool': 'pxl' });
    const older = unique('kind');
    await client.createExperiment(older, [{ key: 'mlflow.experimentKind', value: 'genai_development' }]);
    await client.ensureExperiment(older, kind);
    expect((await client.getExperimentByName(older))!.tags).toMatchObject({ 'mlflow.experimentKind': 'genai_development', 'pxl.tool': 'pxl' });
  });

  it('lets concurrent callers race to create the same experiment', async () => {
    const name = unique('race');
    // Separate clients, like separate processes starting a sweep at once.
    const clients = Array.from({ length: 4 }, () => new MlflowClient({ uri: server.uri }));
    const ids = await Promise.all(clients.map((c) => c.ensureExperiment(name)));
    expect(new Set(ids).size).toBe(1);
  });
});

describe('runs', () => {
  it('creates, tags, updates, gets and searches a run', async () => {
    const run = await newRun('readable name');
    expect(run.status).toBe('RUNNING');
    expect(run.artifactUri).toMatch(/^mlflow-artifacts:/);
    await client.setTag(run.runId, 'pxl.kind', 'unit');
    const updated = await client.updateRun(run.runId, { status: 'KILLED', endTime: 1_700_000_100_000 });
    expect(updated.status).toBe('KILLED');
    const got = await client.getRun(run.runId);
    expect(got.info).toMatchObject({ runName: 'readable name', status: 'KILLED', startTime: 1_700_000_000_000, endTime: 1_700_000_100_000 });
    expect(got.data.tags['pxl.kind']).toBe('unit');
    const found = await client.searchRuns({ experimentIds: [run.experimentId], filter: "tags.`pxl.kind` = 'unit'" });
    expect(found.runs.map((r) => r.info.runId)).toEqual([run.runId]);
  });

  it('chunks a batch of 2500 metrics, 250 params and 150 tags within the server limits', async () => {
    const run = await newRun();
    const metrics: Metric[] = Array.from({ length: 2500 }, (_, i) => ({ key: 'train/loss', value: 1 / (i + 1), step: i + 1, timestamp: 1_700_000_000_000 + i }));
    const params: Param[] = Array.from({ length: 250 }, (_, i) => ({ key: `model.p${i}`, value: String(i) }));
    const tags = Array.from({ length: 150 }, (_, i) => ({ key: `t${i}`, value: `v${i}` }));
    const calls = await client.logBatch(run.runId, { metrics, params, tags });
    // 250 params need 3 calls, 150 tags 2 more, 2500 metrics at least 3 more (minus what shares a call).
    expect(calls).toBeGreaterThanOrEqual(5);
    const got = await client.getRun(run.runId);
    expect(Object.keys(got.data.params)).toHaveLength(250);
    expect(got.data.params['model.p249']).toBe('249');
    expect(got.data.tags.t149).toBe('v149');
    // A small page size exercises the page tokens.
    const history = await client.getMetricHistory(run.runId, 'train/loss', 1000);
    expect(history).toHaveLength(2500);
    expect(history.map((m) => m.step)).toEqual(metrics.map((m) => m.step));
    expect(history[2499]).toEqual({ key: 'train/loss', value: 1 / 2500, step: 2500, timestamp: 1_700_000_002_499 });
  });

  it('splits by bytes: 300 params of 5000 characters pass in calls under 1 MB', async () => {
    const params: Param[] = Array.from({ length: 300 }, (_, i) => ({ key: `big.p${i}`, value: 'x'.repeat(5000) }));
    const chunks = chunkBatch({ params });
    for (const chunk of chunks) {
      expect(Buffer.byteLength(JSON.stringify(chunk))).toBeLessThanOrEqual(LOG_BATCH_LIMITS.bytes);
      expect(chunk.params.length).toBeLessThanOrEqual(LOG_BATCH_LIMITS.params);
    }
    expect(chunks.flatMap((c) => c.params)).toEqual(params);
    const run = await newRun();
    expect(await client.logBatch(run.runId, { params })).toBe(chunks.length);
    expect(Object.keys((await client.getRun(run.runId)).data.params)).toHaveLength(300);
  });

  it('never puts more than 1000 items in one call', () => {
    const metrics = Array.from({ length: 950 }, (_, i) => ({ key: 'm', value: i, step: i, timestamp: 0 }));
    const params = Array.from({ length: 100 }, (_, i) => ({ key: `p${i}`, value: '1' }));
    const chunks = chunkBatch({ metrics, params });
    expect(chunks.map((c) => c.metrics.length + c.params.length)).toEqual([1000, 50]);
  });

  it('sends NaN and infinities the way MLflow does and reads NaN back', async () => {
    const run = await newRun();
    const t = 1_700_000_000_000;
    await client.logBatch(run.runId, {
      metrics: [
        { key: 'x', value: Number.NaN, step: 1, timestamp: t },
        { key: 'x', value: Number.POSITIVE_INFINITY, step: 2, timestamp: t },
        { key: 'x', value: Number.NEGATIVE_INFINITY, step: 3, timestamp: t },
      ],
    });
    const values = (await client.getMetricHistory(run.runId, 'x')).map((m) => m.value);
    expect(values).toEqual([Number.NaN, Number.MAX_VALUE, -Number.MAX_VALUE]);
  });

  it('stores a metric logged twice with the same step, time and value once', async () => {
    const run = await newRun();
    const metrics = [1, 2, 3].map((step) => ({ key: 'm', value: step / 10, step, timestamp: 1_700_000_000_000 + step }));
    await client.logBatch(run.runId, { metrics });
    await client.logBatch(run.runId, { metrics: metrics.slice(1) });
    expect(await client.getMetricHistory(run.runId, 'm')).toHaveLength(3);
  });
});

describe('errors', () => {
  it('names the endpoint and the server error code on a 4xx', async () => {
    const run = await newRun();
    const err = await client.logBatch(run.runId, { params: [{ key: 'bad[0]', value: '1' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MlflowError);
    const e = err as MlflowError;
    expect(e).toMatchObject({ status: 400, errorCode: 'INVALID_PARAMETER_VALUE', kind: 'client', transient: false });
    expect(e.message).toContain('POST runs/log-batch');
    expect(e.message).toContain('INVALID_PARAMETER_VALUE');
    expect(e.message).toContain('Names may only contain');
  });

  it('refuses to change a param', async () => {
    const run = await newRun();
    await client.logBatch(run.runId, { params: [{ key: 'p', value: '1' }] });
    await client.logBatch(run.runId, { params: [{ key: 'p', value: '1' }] }); // same value: fine
    await expect(client.logBatch(run.runId, { params: [{ key: 'p', value: '2' }] })).rejects.toThrow(/Changing param values is not allowed/);
  });

  it('reports a missing run as RESOURCE_DOES_NOT_EXIST', async () => {
    await expect(client.getRun('0'.repeat(32))).rejects.toMatchObject({ errorCode: 'RESOURCE_DOES_NOT_EXIST', endpoint: 'GET runs/get' });
  });

  it('gives up on an unreachable server with a transient error after its retries', async () => {
    const port = await closedPort();
    const offline = new MlflowClient({ uri: `http://127.0.0.1:${port}`, retries: 2, backoffMs: 10 });
    const err = (await offline.getRun('abc').catch((e: unknown) => e)) as MlflowError;
    expect(err).toMatchObject({ kind: 'network', transient: true });
    expect(err.message).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\) after 3 attempts/);
  });
});

describe('artifacts', () => {
  it('uploads files and folders, lists and downloads them byte for byte', async () => {
    const run = await newRun();
    const dir = mkdtempSync(join(tmpdir(), 'pxl-artifacts-'));
    const png = randomBytes(5000);
    mkdirSync(join(dir, 'ckpt', 'weights'), { recursive: true });
    writeFileSync(join(dir, 'ckpt', 'model.json'), '{"a":1}');
    writeFileSync(join(dir, 'ckpt', 'weights', 'w 1.bin'), randomBytes(300));
    await client.uploadArtifact(run.artifactUri, 'samples/step-10.png', png);
    expect(await client.uploadDir(run.artifactUri, join(dir, 'ckpt'), 'model')).toBe(2);

    const root = await client.listArtifacts(run.runId);
    expect(root.map((f) => [f.path, f.isDir])).toEqual([['model', true], ['samples', true]]);
    expect(await client.listArtifacts(run.runId, 'samples')).toEqual([{ path: 'samples/step-10.png', isDir: false, fileSize: 5000 }]);
    expect((await client.listArtifacts(run.runId, 'model/weights')).map((f) => f.path)).toEqual(['model/weights/w 1.bin']);

    expect((await client.downloadArtifact(run.artifactUri, 'samples/step-10.png')).equals(png)).toBe(true);
    expect((await client.downloadArtifact(run.artifactUri, 'model/model.json')).toString()).toBe('{"a":1}');
    await expect(client.downloadArtifact(run.artifactUri, 'samples/none.png')).rejects.toMatchObject({ status: 404 });
  });
});

describe('auth and secrets', () => {
  it('builds the header MLflow clients send: Basic before Bearer', () => {
    expect(authHeader({ token: 'tok' })).toBe('Bearer tok');
    expect(authHeader({ username: 'u', password: 'p', token: 'tok' })).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
    expect(authHeader({ username: 'u' })).toBeNull();
    expect(authFromEnv({ MLFLOW_TRACKING_TOKEN: 't', MLFLOW_TRACKING_USERNAME: 'u', MLFLOW_TRACKING_PASSWORD: 'p' })).toEqual({ token: 't', username: 'u', password: 'p' });
  });

  it('redacts userinfo from URIs', () => {
    expect(redactUri('https://alice:s3cret@mlflow.example/base')).toBe('https://***@mlflow.example/base');
    expect(redactUri('http://127.0.0.1:5000')).toBe('http://127.0.0.1:5000');
    expect(redactUri('not a url //bob:pw@host')).toBe('not a url //***@host');
  });

  describe('on the wire', () => {
    let listener: Server;
    let base: string;
    const seen: IncomingMessage[] = [];
    let failNext = 0;
    beforeAll(async () => {
      listener = createServer((req, res) => {
        seen.push(req);
        if (failNext > 0) {
          failNext--;
          res.writeHead(503).end();
          return;
        }
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error_code: 'UNAUTHENTICATED', message: 'bad credentials' }));
      });
      await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(listener.address() as { port: number }).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => listener.close(() => resolve())));

    it('sends the token from the environment and keeps it out of errors', async () => {
      const c = MlflowClient.fromEnv({}, { MLFLOW_TRACKING_URI: base, MLFLOW_TRACKING_TOKEN: 'tok-123456' });
      const err = (await c.getRun('r').catch((e: unknown) => e)) as MlflowError;
      expect(seen.at(-1)?.headers.authorization).toBe('Bearer tok-123456');
      expect(err).toMatchObject({ status: 401, errorCode: 'UNAUTHENTICATED', kind: 'auth' });
      expect(err.message).not.toContain('tok-123456');
    });

    it('turns userinfo in the URI into Basic auth and never shows it', async () => {
      const withUser = base.replace('http://', 'http://alice:pa%24%24word@');
      const c = new MlflowClient({ uri: withUser, retries: 0 });
      expect(c.uri).toBe(base);
      const err = (await c.getRun('r').catch((e: unknown) => e)) as MlflowError;
      expect(seen.at(-1)?.headers.authorization).toBe(`Basic ${Buffer.from('alice:pa$$word').toString('base64')}`);
      expect(err.message).not.toMatch(/alice|pa\$\$word|pa%24%24word/);
    });

    it('retries 5xx with backoff, then reports the client error', async () => {
      failNext = 2;
      const before = seen.length;
      const c = new MlflowClient({ uri: base, retries: 3, backoffMs: 5 });
      await expect(c.getRun('r')).rejects.toMatchObject({ status: 401 });
      expect(seen.length - before).toBe(3);
    });

    it('does not retry a run creation that may have reached the server', async () => {
      failNext = 1;
      const before = seen.length;
      const c = new MlflowClient({ uri: base, retries: 3, backoffMs: 5 });
      // The 503 came after the server saw the request: it may have made the run, so no second try.
      await expect(c.createRun({ experimentId: '1' })).rejects.toMatchObject({ status: 503, kind: 'server' });
      expect(seen.length - before).toBe(1);
    });
  });
});

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
