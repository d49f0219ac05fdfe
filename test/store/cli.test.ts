// The run store as a user meets it through `pxl run`, `pxl runs` and `pxl compare`: one owner
// per run folder, store failures that stop the run, resumes that check what they continue.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PXL, pxl, ROOT } from '../helpers/cli.js';
import { tempDir, writeFiles } from '../helpers/tmp.js';

const TINY = join(ROOT, 'test/fixtures/tiny.yaml');
const WASM = ['--set', 'backend=wasm'];

interface Live {
  child: ChildProcessWithoutNullStreams;
  /** Resolves with the first JSON event on stdout that `match` accepts. */
  until: (match: (e: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>>;
  exit: Promise<number | null>;
  stderr: () => string;
}

const children: ChildProcessWithoutNullStreams[] = [];
// A test that fails while its run is still training must not leave the run behind.
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** `pxl ARGS --reporter json` in the background, its events readable as they come. */
function start(args: string[]): Live {
  const child = spawn(process.execPath, [PXL, ...args, '--reporter', 'json'], { env: { ...process.env, CI: 'true' } });
  children.push(child);
  let out = '';
  let err = '';
  const waiters: { match: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }[] = [];
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const lines = out.split('\n');
    out = lines.pop()!;
    for (const line of lines) {
      const e = JSON.parse(line) as Record<string, unknown>;
      for (const w of waiters.splice(0)) (w.match(e) ? w.resolve(e) : waiters.push(w));
    }
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('close', resolve));
  return {
    child,
    until: (match) => new Promise((resolve) => waiters.push({ match, resolve })),
    exit,
    stderr: () => err,
  };
}

const steps = (dir: string) =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.type === 'step').map((e) => e.step as number);
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const summaryOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));

function onlyRun(runsDir: string): string {
  const [exp] = readdirSync(runsDir);
  const [id] = readdirSync(join(runsDir, exp));
  return join(runsDir, exp, id);
}

/** A finished tiny run (8 steps, checkpoints at 4 and 8) turned into one killed after step 8, before its summary. */
function killedAfterTheEnd(): string {
  const runsDir = tempDir();
  expect(pxl(['run', TINY, ...WASM, '--runs-dir', runsDir, '--set', 'train.sample_every=0']).status).toBe(0);
  const dir = onlyRun(runsDir);
  rmSync(join(dir, 'summary.json'));
  return dir;
}

describe('one owner per run folder', () => {
  it('refuses a second process on a held folder, naming its holder, and takes over from a SIGKILLed one', async () => {
    const runsDir = tempDir();
    const first = start(['run', TINY, ...WASM, '--runs-dir', runsDir, '--set', 'train.steps=100000', '--set', 'train.checkpoint_every=0']);
    await first.until((e) => e.type === 'step');
    const dir = onlyRun(runsDir);
    const owner = JSON.parse(readFileSync(join(dir, 'run.lock.json'), 'utf8'));
    expect(owner).toMatchObject({ pid: first.child.pid, host: hostname() });

    const second = pxl(['run', '--resume', dir]);
    expect(second.status).toBe(1);
    expect(second.stderr).toContain(`${dir} is in use by pxl process ${first.child.pid} on ${hostname()} since ${owner.since}`);
    expect(second.stderr).not.toContain('    at ');
    expect(second.stdout).toBe(''); // refused before the data, the backend or the run's start

    first.child.kill('SIGKILL'); // leaves run.lock and run.lock.json behind
    await first.exit;
    expect(existsSync(join(dir, 'run.lock'))).toBe(true);
    expect(existsSync(join(dir, 'summary.json'))).toBe(false);

    // The killed run had no checkpoint yet: the resume takes the stale lock over and starts
    // again from step 0 in the same folder (a shorter run, which an edit of train.steps may ask for).
    const config = join(dir, 'config.yaml');
    writeFileSync(config, readFileSync(config, 'utf8').replace('steps: 100000', 'steps: 6'));
    const third = pxl(['run', '--resume', dir]);
    expect(third.stderr).toBe('');
    expect(third.status).toBe(0);
    expect(third.stdout).toContain('has no checkpoint (it was stopped before its first one): training starts again from step 0 in this folder');
    expect(steps(dir)).toEqual(range(1, 6)); // the killed run's steps are gone, none twice
    expect(summaryOf(dir)).toMatchObject({ status: 'finished', steps: 6 });
    expect(existsSync(join(dir, 'run.lock'))).toBe(false);
    expect(existsSync(join(dir, 'run.lock.json'))).toBe(false);
  });

  it('lists a run whose process holds it as running, and a killed one as incomplete with how to continue it', async () => {
    const runsDir = tempDir();
    const live = start(['run', TINY, ...WASM, '--runs-dir', runsDir, '--set', 'train.steps=100000', '--set', 'train.checkpoint_every=0']);
    await live.until((e) => e.type === 'step');
    const listed = pxl(['runs', '--runs-dir', runsDir]);
    expect(listed.stdout).toMatch(/tiny\/\S+\s+running\s/);
    live.child.kill('SIGKILL');
    await live.exit;
    const after = pxl(['runs', '--runs-dir', runsDir]);
    expect(after.stdout).toMatch(/tiny\/\S+\s+incomplete\s/);
    expect(after.stderr).toContain('`pxl run --resume RUN_DIR` continues it from its last checkpoint, or from step 0 if it had none');
  });
});

describe('run store failures', () => {
  it('stops the run at once, exit 1, naming the file and the error, when metrics.jsonl cannot be written', async () => {
    const runsDir = tempDir();
    const run = start(['run', TINY, ...WASM, '--runs-dir', runsDir, '--set', 'train.steps=100000', '--set', 'train.checkpoint_every=2', '--set', 'train.eval_every=0', '--set', 'train.sample_every=0']);
    await run.until((e) => e.type === 'checkpoint');
    const dir = onlyRun(runsDir);
    // Root may write through any permission bit, so the file becomes a folder: appending
    // to it fails (EISDIR) whoever runs the test.
    rmSync(join(dir, 'metrics.jsonl'));
    mkdirSync(join(dir, 'metrics.jsonl'));
    const end = await run.until((e) => e.type === 'end');
    expect(await run.exit).toBe(1);
    expect(end.status).toBe('failed');
    expect(end.message).toContain(`could not write ${join(dir, 'metrics.jsonl')}: EISDIR`);
    const summary = summaryOf(dir);
    expect(summary.status).toBe('failed');
    expect(summary.message).toContain('metrics.jsonl: EISDIR');
    expect(summary.steps).toBeLessThan(100);
    const latest = readFileSync(join(dir, 'checkpoints', 'latest'), 'utf8').trim();
    expect(existsSync(join(dir, 'checkpoints', latest, 'manifest.json'))).toBe(true);
  });

  it('refuses a --runs-dir that is a file, or under one, with exit 2 before loading any data', () => {
    const dir = tempDir();
    // The dataset folder does not exist: an error about it would mean the data was looked at first.
    writeFiles(dir, { 'x.yaml': `extends: ${TINY}\ndataset: {name: idx, dir: ./nowhere}\n`, 'a-file': 'not a folder\n' });
    const onFile = pxl(['run', join(dir, 'x.yaml'), '--runs-dir', join(dir, 'a-file')]);
    expect(onFile.status).toBe(2);
    expect(onFile.stderr).toBe(`pxl: --runs-dir: ${join(dir, 'a-file')} is a file, not a folder\n`);
    const under = pxl(['run', join(dir, 'x.yaml'), '--runs-dir', join(dir, 'a-file', 'runs')]);
    expect(under.status).toBe(2);
    expect(under.stderr).toContain(`cannot be created: ${join(dir, 'a-file')} is a file, not a folder`);
    expect(readFileSync(join(dir, 'a-file'), 'utf8')).toBe('not a folder\n');
  });
});

describe('metrics.jsonl after a crash', () => {
  it('drops a half-written last line with a warning in pxl compare, pxl runs and a resume', () => {
    const dir = killedAfterTheEnd();
    const torn = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n').length; // the line after the last newline
    appendFileSync(join(dir, 'metrics.jsonl'), '{"type":"step","time":17647'); // the crash cut the line short
    const compared = pxl(['compare', dir, '--no-figure']);
    expect(compared.status).toBe(0);
    expect(compared.stderr).toBe(`pxl: warning: ${join(dir, 'metrics.jsonl')}:${torn}: dropped a half-written last line (the run was most likely killed while writing it)\n`);
    expect(compared.stdout).toContain('incomplete');
    expect(pxl(['runs', '--runs-dir', join(dir, '..', '..')]).stdout).toMatch(/tiny\/\S+\s+incomplete\s+8\s/);
    const resumed = pxl(['run', '--resume', dir]);
    expect(resumed.stderr).toBe('');
    expect(resumed.status).toBe(0);
    expect(resumed.stdout).toContain('dropped a half-written last line');
    expect(steps(dir)).toEqual(range(1, 8));
    expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8')).not.toContain('17647');
  });

  it('reports a bad line in the middle as corruption, naming the file and line, and changes nothing', () => {
    const dir = killedAfterTheEnd();
    const file = join(dir, 'metrics.jsonl');
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[4] = lines[4].slice(0, 20);
    writeFileSync(file, lines.join('\n'));
    const before = readFileSync(file, 'utf8');
    const resumed = pxl(['run', '--resume', dir]);
    expect(resumed.status).toBe(1);
    expect(resumed.stderr).toContain(`${file}:5: not a JSON event`);
    expect(resumed.stderr).not.toContain('    at ');
    const compared = pxl(['compare', dir, '--no-figure']);
    expect(compared.stderr).toContain(`${file}:5: not a JSON event`);
    expect(compared.stderr).not.toContain('    at ');
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('removes checkpoint folders a crash left under their temporary name when the run is resumed', () => {
    const dir = killedAfterTheEnd();
    const left = join(dir, 'checkpoints', '.tmp-step-00000012-4242');
    mkdirSync(left);
    writeFileSync(join(left, 'weights.bin'), Buffer.alloc(64));
    expect(pxl(['run', '--resume', dir]).status).toBe(0);
    expect(readdirSync(join(dir, 'checkpoints')).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('leaves metrics.jsonl as it was when the resume fails on its checkpoint', () => {
    const dir = killedAfterTheEnd();
    const latest = join(dir, 'checkpoints', readFileSync(join(dir, 'checkpoints', 'latest'), 'utf8').trim());
    writeFileSync(join(latest, 'weights.bin'), Buffer.alloc(12)); // cut short
    const before = readFileSync(join(dir, 'metrics.jsonl'), 'utf8');
    expect(before).toContain('"type":"end"');
    const resumed = pxl(['run', '--resume', dir]);
    expect(resumed.status).toBe(2);
    expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8')).toBe(before);
    expect(existsSync(join(dir, 'run.lock'))).toBe(false);
  });
});

describe('resuming an edited config.yaml', () => {
  /** An interrupted tiny run: stopped by SIGINT with a checkpoint at step 2 of 200. */
  async function interrupted(): Promise<string> {
    const runsDir = tempDir();
    const run = start(['run', TINY, ...WASM, '--runs-dir', runsDir, '--set', 'train.steps=200', '--set', 'train.checkpoint_every=0']);
    await run.until((e) => e.type === 'step');
    run.child.kill('SIGINT');
    expect(await run.exit).toBe(130);
    return onlyRun(runsDir);
  }

  const edit = (dir: string, from: string, to: string) => {
    const file = join(dir, 'config.yaml');
    const text = readFileSync(file, 'utf8');
    expect(text).toContain(from);
    writeFileSync(file, text.replace(from, to));
  };
  const lineOf = (dir: string, text: string) => readFileSync(join(dir, 'config.yaml'), 'utf8').split('\n').findIndex((l) => l.includes(text)) + 1;

  it('refuses changes to what the checkpoint means, naming each key at its line with old -> new, exit 2', async () => {
    const dir = await interrupted();
    const metrics = readFileSync(join(dir, 'metrics.jsonl'), 'utf8');
    edit(dir, 'hidden: 4', 'hidden: 8');
    edit(dir, 'seed: 3', 'seed: 4');
    const r = pxl(['run', '--resume', dir]);
    expect(r.status).toBe(2);
    const config = join(dir, 'config.yaml');
    expect(r.stderr).toContain(`${config}:${lineOf(dir, 'seed: 4')}:7: seed: changed since the run was created (3 -> 4)`);
    expect(r.stderr).toContain(`${config}:${lineOf(dir, 'hidden: 8')}:11: model.hidden: changed since the run was created (4 -> 8)`);
    expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8')).toBe(metrics);
    expect(existsSync(join(dir, 'run.lock'))).toBe(false);
  });

  it('continues with a longer schedule and says what changed; refuses one that ends before the checkpoint', async () => {
    const dir = await interrupted();
    const stopped = summaryOf(dir).steps as number;
    edit(dir, 'steps: 200', 'steps: 1');
    const short = pxl(['run', '--resume', dir]);
    expect(short.status).toBe(2);
    expect(short.stderr).toContain(`train.steps: the run would end at step 1, but its checkpoint`);
    edit(dir, 'steps: 1', `steps: ${stopped + 3}`);
    const r = pxl(['run', '--resume', dir]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`config.yaml changed since the run was created: train.steps 200 -> ${stopped + 3}`);
    expect(steps(dir)).toEqual(range(1, stopped + 3));
  });

  it('resumes a run created before a setting existed: the new key takes its default, not a change', async () => {
    const dir = await interrupted();
    const stopped = summaryOf(dir).steps as number;
    // As pxl wrote the run before model.blocks.dilations and skip_connections were added.
    const originalFile = join(dir, 'config.original.json');
    const original = JSON.parse(readFileSync(originalFile, 'utf8'));
    delete original.model.blocks.dilations;
    delete original.model.blocks.skip_connections;
    writeFileSync(originalFile, JSON.stringify(original, null, 2));
    const file = join(dir, 'config.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').split('\n').filter((l) => !/^\s*(dilations|skip_connections):/.test(l)).join('\n'));
    edit(dir, 'steps: 200', `steps: ${stopped + 2}`);
    const r = pxl(['run', '--resume', dir]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`config.yaml changed since the run was created: train.steps 200 -> ${stopped + 2}`);
    expect(r.stdout).not.toContain('dilations');
  });

  it('reports a broken config.yaml with its file and line, exit 2', async () => {
    const dir = await interrupted();
    edit(dir, 'hidden: 4', 'hidden: [4');
    const r = pxl(['run', '--resume', dir]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^${join(dir, 'config.yaml').replace(/[.]/g, '\\.')}:\\d+:\\d+: `));
    expect(r.stderr).not.toContain('    at ');
  });
});
