// `pxl sweep` end to end on tiny members: stopped with SIGINT and started again, the table,
// the figure, and the MLflow parent/child runs on the real server; members in parallel with
// one failing; bad input.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { MlflowClient } from '../../src/track/mlflow-client.js';
import { readState } from '../../src/track/mlflow-sync.js';
import { lockSweep, sweepPaths, SweepStoreError, type SweepState } from '../../src/sweep/state.js';
import { waitForMlflow } from '../setup/mlflow-server.js';
import { PXL, pxl, ROOT } from '../helpers/cli.js';
import { tempDir, writeFiles } from '../helpers/tmp.js';
import { pngStats } from './png.js';

const server = inject('mlflow');
const TINY = join(ROOT, 'test/fixtures/tiny.yaml');

type Ev = { type: string; member?: string; event?: Record<string, unknown> } & Record<string, unknown>;
const parse = (out: string): Ev[] => out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Ev);
const stateOf = (dir: string): SweepState => JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as SweepState;
const member = (s: SweepState, name: string) => s.members.find((m) => m.name === name)!;

/** Runs the sweep until `member`'s run reports a step, then sends SIGINT; resolves with the exit status and events. */
function sweepUntilStep(args: string[], env: NodeJS.ProcessEnv, stopAt: string): Promise<{ status: number | null; events: Ev[] }> {
  const child = spawn(process.execPath, [PXL, ...args], { env: { ...process.env, CI: 'true', ...env } });
  let out = '';
  let sent = false;
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (!sent && out.split('\n').some((l) => l.includes('"type":"member-run"') && l.includes(`"member":"${stopAt}"`) && l.includes('"type":"step"'))) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, events: parse(out) })));
}

beforeAll(async () => {
  await waitForMlflow(server);
});

describe('pxl sweep', () => {
  it('stops on SIGINT, goes on where it stopped, and records a parent run with one child per member', async () => {
    const dir = tempDir();
    const runsDir = join(dir, 'runs');
    const experiment = `pxl-sweep-${randomBytes(4).toString('hex')}`;
    writeFiles(dir, {
      's.yaml': [
        'name: e2e', 'description: Tiny members for the test.', `experiment: ${TINY}`,
        'set:', '  backend: wasm', '  train.sample_every: 0', `  tracking.experiment: ${experiment}`,
        'variants:', '  reference: {}', '  long:', '    train.steps: 40', '    train.checkpoint_every: 0', '  no-bn:', '    model.batch_norm: false', '',
      ].join('\n'),
    });
    const args = ['sweep', join(dir, 's.yaml'), '--runs-dir', runsDir, '--reporter', 'json'];
    const env = { MLFLOW_TRACKING_URI: server.uri };
    const sweepDir = join(runsDir, 'sweeps', 'e2e');

    // First go: stopped while the second member trains.
    const first = await sweepUntilStep(args, env, 'long');
    expect(first.status).toBe(130);
    expect(first.events.at(-1)).toMatchObject({ type: 'sweep-end', status: 'interrupted', counts: { finished: 1, interrupted: 1, pending: 1 } });
    const stopped = stateOf(sweepDir);
    expect(stopped.members.map((m) => m.status)).toEqual(['finished', 'interrupted', 'pending']);
    const long = member(stopped, 'long');
    expect(long.summary!.steps).toBeGreaterThan(0);
    expect(long.summary!.steps).toBeLessThan(40);
    const parentId = stopped.mlflow!.run_id;

    // Second go: the finished member is skipped, the interrupted one resumes from its checkpoint.
    const second = pxl(args, { env });
    expect(second.status, second.stderr).toBe(0);
    const events = parse(second.stdout);
    const longDir = join(sweepDir, long.run_dir!);
    expect(events.find((e) => e.type === 'member-skip')).toMatchObject({ member: 'reference', index: 1, total: 3 });
    expect(events.find((e) => e.type === 'member-start' && e.member === 'long')).toMatchObject({ resume: longDir });
    expect(events.find((e) => e.type === 'member-run' && e.member === 'long' && e.event!.type === 'start')!.event).toMatchObject({
      resumedFromStep: long.summary!.steps,
    });
    const done = stateOf(sweepDir);
    expect(done.status).toBe('finished');
    expect(done.members.map((m) => [m.name, m.status])).toEqual([['reference', 'finished'], ['long', 'finished'], ['no-bn', 'finished']]);
    expect(member(done, 'long')).toMatchObject({ run_dir: long.run_dir, summary: { steps: 40 } });
    expect(done.mlflow!.run_id).toBe(parentId);

    // One table: the settings that differ and every member's results.
    const end = events.at(-1)!;
    expect(end).toMatchObject({ type: 'sweep-end', status: 'finished' });
    expect(end.table as string).toMatch(/^run\s+model\.batch_norm\s+train\.steps\s+train\.checkpoint_every\s+status/);
    const cmp = JSON.parse(pxl(['compare', '--sweep', sweepDir, '--format', 'json', '--no-figure']).stdout);
    expect(cmp.keys).toEqual(['model.batch_norm', 'train.steps', 'train.checkpoint_every']);
    expect(cmp.runs.map((r: { label: string }) => r.label).sort()).toEqual(['long', 'no-bn', 'reference']);
    expect(cmp.runs.every((r: { status: string; results: { best_test_bits_per_dim: number } }) => r.status === 'finished' && r.results.best_test_bits_per_dim > 0)).toBe(true);
    expect(readFileSync(join(sweepDir, 'results.md'), 'utf8')).toContain('| long | true | 40 | 0 | finished | 40 |');

    // One figure: a real PNG, not blank.
    const png = pngStats(join(sweepDir, 'learning-curves.png'));
    expect(png.width).toBeGreaterThanOrEqual(1200);
    expect(png.colours).toBeGreaterThan(50);
    expect(png.ink).toBeGreaterThan(0.01);

    // MLflow: the parent holds the sweep and its results; each member is one child run.
    const client = new MlflowClient({ uri: server.uri });
    const parent = await client.getRun(parentId);
    expect(parent.info.status).toBe('FINISHED');
    expect(parent.info.runName).toBe('e2e');
    expect(parent.data.tags).toMatchObject({ 'pxl.sweep': 'e2e', 'pxl.sweep.status': 'finished' });
    expect(parent.data.tags['mlflow.note.content']).toMatch(/^Tiny members for the test\.\n\nRanked by best test bits\/dim\.\n/);
    // The results are a table, not metrics: the chart view opens on the members' curves.
    expect(parent.data.metrics).toEqual([]);
    const artifacts = (await client.listArtifacts(parentId)).map((f) => f.path).sort();
    expect(artifacts).toEqual(['learning-curves.png', 'results-table.json', 'results.csv', 'results.md', 'sweep.yaml']);
    const table = JSON.parse((await client.downloadArtifact(parent.info.artifactUri, 'results-table.json')).toString());
    expect(table.columns.slice(0, 5)).toEqual(['rank', 'member', 'status', 'color_levels', 'best_test_bits_per_dim']);
    expect(table.data.map((r: unknown[]) => r[1]).sort()).toEqual(['long', 'no-bn', 'reference']);
    expect(JSON.parse(parent.data.tags['mlflow.loggedArtifacts'])).toEqual([{ path: 'results-table.json', type: 'table' }]);
    expect(parent.data.tags['pxl.sweep.ranked_by']).toBe('best test bits/dim');
    expect((await client.downloadArtifact(parent.info.artifactUri, 'sweep.yaml')).toString()).toBe(readFileSync(join(dir, 's.yaml'), 'utf8'));
    const children = await client.searchRuns({ experimentIds: [parent.info.experimentId], filter: `tags.mlflow.parentRunId = '${parentId}'` });
    expect(children.runs.map((r) => r.data.tags['pxl.sweep_member']).sort()).toEqual(['long', 'no-bn', 'reference']);
    expect(children.runs.every((r) => r.info.status === 'FINISHED' && r.data.tags['pxl.sweep'] === 'e2e')).toBe(true);
    // The resumed member went on in the same MLflow run.
    expect(children.runs.find((r) => r.data.tags['pxl.sweep_member'] === 'long')!.info.runId).toBe(readState(longDir).runId);
  }, 240_000);

  it('runs members in parallel; a failing one is recorded the same everywhere and the others finish; exit 1', () => {
    const dir = tempDir();
    writeFiles(dir, {
      'p.yaml': [
        `experiment: ${TINY}`, 'set: {backend: wasm, train.steps: 4, train.sample_every: 0}',
        'variants:', '  a: {}', '  b: {model.hidden: 8}', '  four: {model.color_levels: 4}', '  too-big: {train.batch_size: 128}', '',
      ].join('\n'),
    });
    const r = pxl(['sweep', join(dir, 'p.yaml'), '--runs-dir', join(dir, 'runs'), '--parallel', '2'], { env: { MLFLOW_TRACKING_URI: '' } });
    expect(r.status, r.stderr).toBe(1);
    const lines = r.stdout.split('\n');
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
    // Both started before either ended; each member's lines say whose they are.
    expect(at(/^\[2\/4\] b: starting/)).toBeLessThan(at(/^\[1\/4\] a: finished/));
    expect(at(/^\[a\] step 4\/4/)).toBeGreaterThan(0);
    expect(r.stdout).toMatch(/\[4\/4\] too-big: failed; no results\n\s+.*smaller than the batch size 128/);
    expect(r.stdout).toContain('sweep failed: 3 finished, 1 failed');
    const sweepDir = join(dir, 'runs', 'sweeps', 'p');
    const state = stateOf(sweepDir);
    expect(state.members.map((m) => [m.name, m.status])).toEqual([['a', 'finished'], ['b', 'finished'], ['four', 'finished'], ['too-big', 'failed']]);
    expect(member(state, 'too-big').message).toContain('smaller than the batch size 128');
    // The failed member is "failed" in the printed table, results.md and results.csv too, never "pending".
    expect(lines.find((l) => l.startsWith('too-big '))).toMatch(/^too-big\s.*\sfailed\s/);
    expect(readFileSync(join(sweepDir, 'results.md'), 'utf8')).toMatch(/^\| too-big \|.*\| failed \|/m);
    expect(readFileSync(join(sweepDir, 'results.csv'), 'utf8')).toMatch(/^too-big,.*,failed,/m);
    // The 4-level member's bits/dim are shown on the 8-bit scale too, and ranked on it.
    const md = readFileSync(join(sweepDir, 'results.md'), 'utf8');
    expect(md).toContain('best test (8-bit eq.)');
    expect(md).toContain('note: the runs model different colour levels');
    expect(r.stdout).toContain('note: the runs model different colour levels');
    const csv = readFileSync(join(sweepDir, 'results.csv'), 'utf8').trim().split('\n');
    const header = csv[0].split(',');
    const rows = csv.slice(1).map((l) => l.split(','));
    const col = (name: string) => header.indexOf(name);
    const four = rows.find((row) => row[0] === 'four')!;
    expect(Number(four[col('best_test_bits_per_dim_8bit')])).toBeCloseTo(Number(four[col('best_test_bits_per_dim')]) + 6, 12); // log2(256/4)
    const ranked = rows.filter((row) => row[col('status')] === 'finished').map((row) => Number(row[col('best_test_bits_per_dim_8bit')]));
    expect(ranked).toEqual([...ranked].sort((x, y) => x - y));
  }, 120_000);

  it('rejects a bad sweep file with located errors, exit 2, and creates nothing', () => {
    const dir = tempDir();
    writeFiles(dir, { 'bad.yaml': `experiment: ${TINY}\ngrid:\n  model.batch_nrm: [true, false]\n  model.hidden: [4, wide]\n` });
    const runsDir = join(dir, 'runs');
    const r = pxl(['sweep', join(dir, 'bad.yaml'), '--runs-dir', runsDir]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/bad\.yaml:3:9: model\.batch_nrm: unknown key "batch_nrm"; did you mean "batch_norm"\?$/),
      expect.stringMatching(/bad\.yaml:4:21: model\.hidden: expected an integer from 1 to 4096; found the string "wide"$/),
    ]);
    expect(pxl(['sweep', join(dir, 'bad.yaml'), '--parallel', '0', '--runs-dir', runsDir]).stderr).toContain('--parallel expects an integer from 1 to 64');
    expect(existsSync(runsDir)).toBe(false);
  });
});

/** Live processes whose command line mentions `text` (read from /proc, as ps would). */
function processesMentioning(text: string): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).flatMap((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text) ? [Number(pid)] : [];
    } catch {
      return []; // ended meanwhile
    }
  });
}

async function until<T>(probe: () => T | undefined | null | false, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('a sweep killed outright', () => {
  it('leaves no member training: the member checkpoints and stops, and the next sweep resumes it', async () => {
    const dir = tempDir();
    const runsDir = join(dir, 'runs');
    writeFiles(dir, {
      'k.yaml': ['name: killed', `experiment: ${TINY}`, 'set:', '  backend: wasm', '  train.steps: 300', '  train.checkpoint_every: 0', '  train.eval_every: 0', '  train.sample_every: 0', 'variants:', '  only: {}', ''].join('\n'),
    });
    const args = ['sweep', join(dir, 'k.yaml'), '--runs-dir', runsDir, '--reporter', 'json'];
    const sweepDir = join(runsDir, 'sweeps', 'killed');
    const sweep = spawn(process.execPath, [PXL, ...args], { env: { ...process.env, CI: 'true' } });
    let out = '';
    sweep.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await until(() => /"type":"member-run".*"type":"step","time":\d+,"step":([1-9]\d)/.test(out), 60_000, 'the member trains');
    const exited = new Promise((resolve) => sweep.on('exit', resolve));
    sweep.kill('SIGKILL'); // no handler runs: the member must notice on its own
    await exited;

    // The member stops after its step with a checkpoint, as on Ctrl-C, long before its 300 steps.
    const runDir = join(sweepDir, await until(() => stateOf(sweepDir).members[0].run_dir, 5_000, 'the member has a run folder'));
    const summary = await until(() => existsSync(join(runDir, 'summary.json')) && JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')), 10_000, 'the member ends');
    expect(summary).toMatchObject({ status: 'interrupted' });
    expect(summary.steps).toBeLessThan(300);
    await until(() => processesMentioning(sweepDir).length === 0, 10_000, 'no member process is left');
    expect(readdirSync(join(runDir, 'checkpoints'))).toContain(`step-${String(summary.steps).padStart(8, '0')}`);

    // The stale lock is taken over and the member goes on from its checkpoint.
    const again = pxl(args);
    expect(again.status, again.stderr).toBe(0);
    const start = parse(again.stdout).find((e) => e.type === 'member-run' && e.event!.type === 'start');
    expect(start!.event).toMatchObject({ resumedFromStep: summary.steps });
    expect(stateOf(sweepDir).members[0]).toMatchObject({ status: 'finished', summary: { steps: 300 } });
  }, 120_000);
});

describe('sweep lock', () => {
  it('refuses a second sweep of the same folder while the first lives, and takes over a stale lock', () => {
    const paths = sweepPaths(tempDir());
    writeFileSync(paths.lock, `${process.ppid}\n`);
    expect(() => lockSweep(paths)).toThrow(SweepStoreError);
    writeFileSync(paths.lock, `${spawnSync('true').pid}\n`);
    const release = lockSweep(paths);
    expect(readFileSync(paths.lock, 'utf8').trim()).toBe(String(process.pid));
    release();
    expect(existsSync(paths.lock)).toBe(false);
  });
});
