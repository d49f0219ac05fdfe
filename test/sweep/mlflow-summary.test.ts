// The sweep's parent run in MLflow: its results as a ranked table, not per-member metrics;
// ranked on the 8-bit equivalent when members differ in colour levels; and a password in the
// sweep's tracking.uri kept out of the sweep folder and the parent run.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { MlflowClient } from '../../src/track/mlflow-client.js';
import { sweepSummary } from '../../src/sweep/mlflow-summary.js';
import type { MemberState } from '../../src/sweep/state.js';
import type { RunSummary } from '../../src/events/run-events.js';
import { waitForMlflow } from '../setup/mlflow-server.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir, writeFiles } from '../helpers/tmp.js';
import { recordingProxy } from '../track/recording-proxy.js';
import { pxlAsync } from '../track/pxl-async.js';

const server = inject('mlflow');
const TINY = join(ROOT, 'test/fixtures/tiny.yaml');
const PASSWORD = 's3cret-SWEEP';

function member(name: string, best: number | null, status: MemberState['status'] = 'finished'): MemberState {
  const summary = best === null ? null : ({ steps: 10, best_test_bits_per_dim: best, test_bits_per_dim: best, train_bits_per_dim: best + 0.1 } as RunSummary);
  return { name, experiment: name, hash: 'h', status, run_dir: null, message: '', summary, earlier_runs: [] };
}

describe('sweep summary', () => {
  it('ranks on the 8-bit equivalent beside the raw figure when colour levels differ, and says so', () => {
    // 0.25 bits/dim at 4 levels is 0.25 + log2(64) = 6.25 on the 8-bit scale: behind 1.23 at 256.
    const s = sweepSummary([member('four', 0.25), member('full', 1.23), member('broken', null, 'failed')], new Map([['four', 4], ['full', 256], ['broken', 256]]));
    expect(s.table.columns.slice(0, 6)).toEqual(['rank', 'member', 'status', 'color_levels', 'best_test_bits_per_dim', 'best_test_bits_per_dim_8bit']);
    expect(s.table.data.map((r) => r.slice(0, 6))).toEqual([
      [1, 'full', 'finished', 256, 1.23, 1.23],
      [2, 'four', 'finished', 4, 0.25, 6.25],
      [null, 'broken', 'failed', 256, null, null],
    ]);
    expect(s.markdown).toMatch(/^Ranked by best test bits\/dim on the 8-bit scale \(bits\/dim \+ log2\(256\/L\)\): members differ in colour levels/);
    expect(s.markdown).toContain('| 2 | four | finished | 4 | 0.2500 | 6.2500 | 10 |');
    expect(Object.fromEntries(s.tags.map((t) => [t.key, t.value]))).toMatchObject({ 'pxl.sweep.best_member': 'full', 'pxl.member.broken.status': 'failed' });
  });

  it('ranks on raw bits/dim, with no 8-bit column, when every member has the same levels', () => {
    const s = sweepSummary([member('a', 1.5), member('b', 1.2)], new Map([['a', 16], ['b', 16]]));
    expect(s.table.columns).not.toContain('best_test_bits_per_dim_8bit');
    expect(s.table.data.map((r) => [r[0], r[1]])).toEqual([[1, 'b'], [2, 'a']]);
    expect(s.markdown.split('\n')[0]).toBe('Ranked by best test bits/dim.');
  });
});

describe('a sweep tracked with a password in tracking.uri', () => {
  beforeAll(async () => {
    await waitForMlflow(server);
  });

  it('gives the parent run a ranked table on the 8-bit scale, no metrics, and keeps the password out of every file and the server', async () => {
    const dir = tempDir();
    const runsDir = join(dir, 'runs');
    const experiment = `pxl-sweep-summary-${randomBytes(4).toString('hex')}`;
    const proxy = await recordingProxy(server.uri);
    const uri = proxy.uri.replace('http://', `http://user:${PASSWORD}@`);
    writeFiles(dir, {
      's.yaml': [
        'name: levels', 'description: Two colour depths.', `experiment: ${TINY}`,
        'set:', '  backend: wasm', '  train.steps: 4', '  train.sample_every: 0', '  train.checkpoint_every: 0',
        `  tracking.uri: ${uri}`, `  tracking.experiment: ${experiment}`,
        'variants:', '  four: {model.color_levels: 4}', '  sixteen: {}', '',
      ].join('\n'),
    });
    const r = await pxlAsync(['sweep', join(dir, 's.yaml'), '--runs-dir', runsDir, '--reporter', 'json'], { env: { MLFLOW_TRACKING_URI: '' } });
    expect(r.status, r.stderr).toBe(0);
    const state = JSON.parse(readFileSync(join(runsDir, 'sweeps', 'levels', 'state.json'), 'utf8'));
    const client = new MlflowClient({ uri: server.uri });
    const parent = await client.getRun(state.mlflow.run_id);
    expect(parent.data.metrics).toEqual([]);
    const table = JSON.parse((await client.downloadArtifact(parent.info.artifactUri, 'results-table.json')).toString());
    expect(table.columns).toContain('best_test_bits_per_dim_8bit');
    const col = (name: string) => table.columns.indexOf(name);
    for (const row of table.data) {
      const levels = row[col('color_levels')];
      expect(levels === 4 || levels === 16).toBe(true);
      // log2(256/4) = 6, log2(256/16) = 4
      expect(row[col('best_test_bits_per_dim_8bit')]).toBeCloseTo(row[col('best_test_bits_per_dim')] + (levels === 4 ? 6 : 4), 10);
    }
    const eight = table.data.map((row: number[]) => row[col('best_test_bits_per_dim_8bit')]);
    expect(eight).toEqual([...eight].sort((a, b) => a - b));
    expect(parent.data.tags['pxl.sweep.ranked_by']).toMatch(/8-bit scale/);
    expect((await client.getExperimentByName(experiment))!.tags['mlflow.experimentKind']).toBe('custom_model_development');
    // The members were tracked as the parent's children, sending the password they got by the environment.
    const children = await client.searchRuns({ experimentIds: [parent.info.experimentId], filter: `tags.mlflow.parentRunId = '${parent.info.runId}'` });
    expect(children.runs.map((c) => c.info.status)).toEqual(['FINISHED', 'FINISHED']);
    await proxy.close();
    expect(new Set(proxy.authorizations)).toEqual(new Set([`Basic ${Buffer.from(`user:${PASSWORD}`).toString('base64')}`]));

    const holding = (root: string) =>
      readdirSync(root, { recursive: true, encoding: 'utf8' })
        .map((rel) => join(root, rel))
        .filter((p) => statSync(p).isFile() && readFileSync(p).includes(PASSWORD));
    expect(holding(runsDir)).toEqual([]);
    expect(holding(server.data)).toEqual([]);
    expect(`${r.stdout}${r.stderr}`).not.toContain(PASSWORD);
    expect(readFileSync(join(runsDir, 'sweeps', 'levels', 'sweep.yaml'), 'utf8')).toContain(`tracking.uri: ${proxy.uri}`);
  }, 120_000);
});
