// Start-up times of the pxl command line, as a user sees them: medians of repeated runs of the
// built CLI (bin/pxl.js, so run `npx tsc -p tsconfig.json` first), with the load average.
//
//   npm run bench:startup [-- --repeats 5 --old /path/to/other/pxl/checkout]
//
// --old: another built checkout of pxl (its bin/pxl.js and node_modules): each measurement then
// runs both, alternating, and prints them side by side. The breakdown of `pxl run`'s start
// (the phases up to the first step) runs in this process, on the same modules.
import { spawn, spawnSync } from 'node:child_process';
import { cpus, loadavg, tmpdir } from 'node:os';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { installFrugalBackprop } from '../src/backend/frugal-backprop.js';
import { loadExperiment } from '../src/config/load.js';
import { EpochOrder, loadDataset } from '../src/data/index.js';
import { PixelCNN } from '../src/model/pixelcnn.js';
import { measureStepMemory } from '../src/train/memory.js';
import { makeOptimizer } from '../src/train/optimizer.js';
import { gradientStep } from '../src/train/trainer.js';

const { values: args } = parseArgs({ options: { repeats: { type: 'string', default: '5' }, old: { type: 'string' } } });
const repeats = Number(args.repeats);
const QUICK = 'experiments/mnist-quick.yaml';
const trees: Record<string, string> = { new: resolve('.'), ...(args.old ? { old: resolve(args.old) } : {}) };
const work = mkdtempSync(join(tmpdir(), 'pxl-startup-'));
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Wall seconds of one command. */
function wall(cmd: string, argv: string[], cwd: string): number {
  const t = performance.now();
  const r = spawnSync(cmd, argv, { cwd, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return (performance.now() - t) / 1000;
}

/** Seconds from spawning `pxl run` to its start event and to its first step event; the run is then stopped. */
function firstStep(tree: string, runsDir: string): Promise<{ start: number; step: number }> {
  const argv = ['bin/pxl.js', 'run', QUICK, '--reporter', 'json', '--runs-dir', runsDir, '--set', 'train.log_every=1'];
  return new Promise((done, fail) => {
    const t = performance.now();
    const child = spawn(process.execPath, argv, { cwd: tree, env: { ...process.env, CI: 'true' } });
    const seen: { start?: number; step?: number } = {};
    let text = '';
    child.stdout.on('data', (d: Buffer) => {
      text += d.toString();
      const lines = text.split('\n');
      text = lines.pop()!;
      for (const line of lines) {
        const type = (JSON.parse(line) as { type: string }).type;
        if ((type === 'start' || type === 'step') && seen[type] === undefined) seen[type] = (performance.now() - t) / 1000;
        if (type === 'step') child.kill('SIGKILL');
      }
    });
    child.on('exit', () => (seen.step === undefined ? fail(new Error(`pxl run in ${tree} ended before its first step`)) : done(seen as { start: number; step: number })));
  });
}

/** A run of the quick experiment with a checkpoint, made by `tree`, to sample from. */
function quickRun(tree: string, name: string): string {
  const runsDir = join(work, name);
  const sets = ['train.steps=1', 'dataset.test_limit=32', 'train.eval_every=0', 'train.sample_every=0', 'train.checkpoint_every=1'];
  wall(process.execPath, ['bin/pxl.js', 'run', QUICK, '--reporter', 'plain', '--runs-dir', runsDir, ...sets.flatMap((s) => ['--set', s])], tree);
  const exp = join(runsDir, 'mnist-quick');
  return join(exp, readdirSync(exp)[0]);
}

async function endToEnd(): Promise<void> {
  const runs = Object.fromEntries(Object.entries(trees).map(([k, tree]) => [k, quickRun(tree, `runs-${k}`)]));
  const cases: [string, (tree: string, k: string) => number | Promise<number>][] = [
    ['node -e 0 (Node alone)', (tree) => wall(process.execPath, ['-e', '0'], tree)],
    ['pxl --version (imports)', (tree) => wall(process.execPath, ['bin/pxl.js', '--version'], tree)],
    ['pxl sample RUN --count 1', (tree, k) => wall(process.execPath, ['bin/pxl.js', 'sample', runs[k], '--count', '1', '--out', join(work, `${k}.png`)], tree)],
    ['pxl run quick: start event', async (tree, k) => (await firstStep(tree, join(work, `first-${k}`))).start],
    ['pxl run quick: first step', async (tree, k) => (await firstStep(tree, join(work, `first-${k}`))).step],
  ];
  console.log(`\n| command | ${Object.keys(trees).map((k) => `${k} (median s)`).join(' | ')} | load average |`);
  console.log(`|---|${Object.keys(trees).map(() => '---|').join('')}---|`);
  for (const [label, measure] of cases) {
    const times: Record<string, number[]> = Object.fromEntries(Object.keys(trees).map((k) => [k, []]));
    const before = load();
    for (let i = 0; i < repeats; i++) for (const [k, tree] of Object.entries(trees)) times[k].push(await measure(tree, k));
    console.log(`| ${label} | ${Object.keys(trees).map((k) => `${median(times[k]).toFixed(2)} (${times[k].map((t) => t.toFixed(2)).join(', ')})`).join(' | ')} | ${before} -> ${load()} |`);
  }
}

/** The phases of `pxl run`'s start in this process, in the order prepareRun and the trainer run them. */
async function breakdown(): Promise<void> {
  let last = performance.now();
  const rows: [string, number][] = [];
  const lap = (what: string) => {
    const now = performance.now();
    rows.push([what, now - last]);
    last = now;
  };
  tf.env().set('PROD', true);
  const { experiment: e } = loadExperiment(QUICK);
  lap('load and validate the experiment');
  const backend = await initBackend(e.backend, { wasmThreads: 'auto' });
  lap(`start the backend (${backend.name})`);
  const data = await loadDataset(e.dataset);
  lap('load the dataset (read, checksum marker)');
  installFrugalBackprop();
  const image = { height: data.height, width: data.width, channels: data.channels };
  await measureStepMemory(e.model, image, false);
  lap('memory plan: measure a step at batch 1 and 2');
  const model = new PixelCNN(e.model, image, e.seed);
  lap('build the model');
  const optimizer = makeOptimizer(e.train.optimizer);
  const order = new EpochOrder(e.seed, data.train.count, e.train.batch_size);
  for (let s = 0; s < 3; s++) {
    const { loss, grads } = gradientStep(model, optimizer, data.train, order.forStep(s), e.model.color_levels);
    await loss.data();
    loss.dispose();
    optimizer.applyGradients(grads);
    tf.dispose(grads.map((g) => g.tensor));
    lap(`training step ${s + 1}`);
  }
  console.log(`\nIn-process breakdown of pxl run's start on ${QUICK} (ms; load average ${load()}):\n`);
  console.log('| phase | ms |\n|---|---|');
  for (const [what, ms] of rows) console.log(`| ${what} | ${ms.toFixed(0)} |`);
  model.dispose();
}

console.log(`pxl start-up: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, load average ${load()}, ${repeats} repeats`);
try {
  await endToEnd();
  await breakdown();
} finally {
  rmSync(work, { recursive: true, force: true });
}
