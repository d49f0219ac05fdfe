// `pxl sample`: draw an image grid from a run's checkpoint. Every option, the output path
// and the size of the image are checked before the model is built and the sampling starts.
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadExperiment } from '../../config/load.js';
import { loadSchema, type JsonSchema } from '../../config/schema.js';
import { bestCheckpoint, checkpointName, latestCheckpoint, listCheckpoints, loadCheckpoint } from '../../checkpoint/checkpoint.js';
import { prepareSampling } from '../../app/run.js';
import { readRun } from '../../store/run-dir.js';
import { gridSize, gridPng, MAX_GRID_PIXELS, type GridOptions } from '../../sample/grid.js';
import { fileKind } from '../../util/png-mark.js';
import { samplerFor, type SampleMethod } from '../../sample/index.js';
import { duration, int } from '../../ui/format.js';
import { writeFileAtomic } from '../../util/files.js';
import { progressLine } from '../progress.js';
import { UsageError } from '../common.js';
import type { Experiment } from '../../config/types.js';
import { conditioningClasses } from '../../model/conditioning.js';
import { classRows, sampleClassList, type SampleRows } from '../../sample/rows.js';

interface SampleOpts {
  count?: string;
  columns?: string;
  method?: string;
  seed?: string;
  temperature?: string;
  checkpoint?: string;
  scale?: string;
  out?: string;
  force?: boolean;
  class?: string;
}

export function registerSampleCommand(program: Command): void {
  program
    .command('sample')
    .description("sample an image grid from a run's best checkpoint (or another one) and write it as a PNG")
    .argument('<run-dir>', 'a run folder, e.g. runs/mnist-quick/20261130-101500-ab12')
    .option('--count <n>', `images (default: sample.count of the run; at most ${int(sampleBounds().count.maximum ?? Infinity)})`)
    .option('--columns <n>', 'images per grid row (default: sample.columns, at most --count)')
    .option('--method <m>', 'naive | cached (default: sample.method of the run)')
    .option('--seed <s>', 'seed of the draws (default: sample.seed of the run)')
    .option('--temperature <t>', 'sampling temperature: divides the softmax logits (a mixture: its component logits, and multiplies its scales) (default: sample.temperature of the run)')
    .option('--class <k>', 'class-conditional runs: draw every image given class k (default: one row per class of sample.classes)')
    .option('--checkpoint <which>', 'best (the default; the latest where a run has no best yet), last, step-N, or a checkpoint folder')
    .option('--scale <n>', `draw each pixel as an n x n square (default: 1; the image at most ${int(MAX_GRID_PIXELS)} pixels)`)
    .option('--out <file>', 'PNG to write (default: RUN_DIR/samples/sample-<time>.png); replaces only a PNG pxl wrote')
    .option('--force', 'let --out replace a file that is not a PNG written by pxl')
    .action(async (runDir: string, opts: SampleOpts) => {
      const { paths } = readRun(runDir);
      const { experiment: e } = loadExperiment(paths.config);
      const s = e.sample;
      const bounds = sampleBounds();
      const rows = sampleRowsFor(e, opts, bounds);
      const { count, columns } = rows;
      const method = (opts.method ?? s.method) as SampleMethod;
      if (method !== 'naive' && method !== 'cached') throw new UsageError(`--method must be naive or cached; found ${JSON.stringify(opts.method)}`);
      const seed = intOption(opts.seed, '--seed', bounds.seed) ?? s.seed;
      const temperature = opts.temperature === undefined ? s.temperature : temperatureOption(opts.temperature, bounds.temperature);
      const scale = intOption(opts.scale, '--scale', { minimum: 1 }) ?? 1;
      const checkpoint = chooseCheckpoint(runDir, paths.checkpoints, opts.checkpoint);
      if (opts.out === undefined) mkdirSync(paths.samples, { recursive: true });
      const out = resolve(opts.out ?? join(paths.samples, `sample-${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}.png`));
      checkOut(out, opts.force ?? false);
      const sampler = samplerFor(method);
      const { model, backend, images } = await prepareSampling(e, paths);
      try {
        const { height, width, channels, levels } = images;
        const grid: GridOptions = { count, columns, height, width, channels, levels, scale, ...(rows.rowLabels ? { rowLabels: rows.rowLabels } : {}) };
        checkGridSize(grid);
        // A run with train.ema samples from its averaged weights, as its own grids do.
        const loaded = loadCheckpoint(checkpoint, model, 'averaged');
        loaded.optimizerWeights.forEach((w) => w.tensor.dispose());
        for (const warning of loaded.warnings) process.stderr.write(`pxl: warning: ${warning}\n`);
        const progress = progressLine({ label: `sampling ${count} images`, unit: 'row' });
        const result = await sampler.sample(model, { count, temperature, seed, labels: rows.labels, onProgress: (p) => progress.update(Math.floor(p / width), height) });
        progress.end();
        writeFileAtomic(out, gridPng(result.classes, grid));
        const given = opts.class !== undefined ? `, class ${opts.class}` : rows.rowLabels ? `, one row per class ${rows.rowLabels.join(' ')}` : '';
        process.stdout.write(`${count} samples (${method}${given}, seed ${seed}, temperature ${temperature}) from ${checkpoint}${loaded.averaged ? ' (averaged weights)' : ''} on ${backend.name} in ${duration(result.seconds)} -> ${out}\n`);
      } finally {
        model.dispose();
      }
    });
}

/**
 * The checkpoint folder --checkpoint names: best (checkpoints/best; a run without one, from
 * before best checkpoints were kept or stopped before its first evaluation, uses its latest),
 * last (the one `latest` names), step-N (a rolling checkpoint still kept), or a folder.
 */
function chooseCheckpoint(runDir: string, dir: string, which: string | undefined): string {
  const latest = () => latestCheckpoint(dir) ?? none();
  const none = (): never => {
    throw new UsageError(`${runDir} has no checkpoint yet`);
  };
  if (which === undefined) return bestCheckpoint(dir) ?? latest();
  if (which === 'best') return bestCheckpoint(dir) ?? (latestCheckpoint(dir) ? noBest() : none());
  if (which === 'last') return latest();
  const step = /^step-(\d+)$/.exec(which);
  if (step) {
    const name = checkpointName(Number(step[1]));
    if (listCheckpoints(dir).includes(name)) return join(dir, name);
    const kept = listCheckpoints(dir).join(', ') || 'none';
    throw new UsageError(`--checkpoint ${which}: ${runDir} keeps no checkpoint of step ${Number(step[1])} (kept: ${kept}; train.keep_checkpoints sets how many are kept)`);
  }
  if (existsSync(which)) return resolve(which);
  throw new UsageError(`--checkpoint expects best, last, step-N or a checkpoint folder; found ${JSON.stringify(which)}`);

  function noBest(): never {
    throw new UsageError(`--checkpoint best: ${runDir} has no best checkpoint (checkpoints/best; a run keeps one from its first evaluation on): use --checkpoint last`);
  }
}

type Bounds = Pick<JsonSchema, 'minimum' | 'maximum' | 'exclusiveMinimum'>;

/**
 * The images to draw and how the grid lays them out. Unconditional runs: --count in --columns.
 * Class-conditional runs: with --class k, --count images all of class k; without it, a row of
 * --columns images per class of sample.classes. --class on an unconditional run is an error.
 */
function sampleRowsFor(e: Experiment, opts: SampleOpts, bounds: Record<'count' | 'columns', Bounds>): SampleRows {
  const classes = conditioningClasses(e.model);
  const columnsOpt = intOption(opts.columns, '--columns', bounds.columns);
  const countOpt = intOption(opts.count, '--count', bounds.count);
  if (opts.class !== undefined) {
    if (classes === null) throw new UsageError(`--class ${opts.class}: this run's model is unconditional (model.conditioning.type none); it samples without a class`);
    const k = intOption(opts.class, '--class', { minimum: 0, maximum: classes - 1 })!;
    const count = countOpt ?? e.sample.count;
    const columns = Math.min(columnsOpt ?? e.sample.columns, count);
    const rows = Math.ceil(count / columns);
    return { count, columns, labels: Array<number>(count).fill(k), rowLabels: Array<string>(rows).fill(String(k)) };
  }
  if (classes === null) {
    const count = countOpt ?? e.sample.count;
    return { count, columns: Math.min(columnsOpt ?? e.sample.columns, count) };
  }
  if (countOpt !== undefined) throw new UsageError(`--count: a class-conditional run draws one row of --columns images per class of sample.classes; give --class k to draw --count images of class k`);
  const rows = classRows(sampleClassList(e.sample.classes, classes), columnsOpt ?? e.sample.columns);
  const max = bounds.count.maximum ?? Infinity;
  if (rows.count > max) throw new UsageError(`--columns ${rows.columns}: ${rows.rowLabels!.length} classes of ${rows.columns} images make ${int(rows.count)}, more than the ${int(max)} pxl samples at once`);
  return rows;
}

/** The bounds of the options that set `sample.*`: the experiment schema's, so the two agree. */
function sampleBounds(): Record<'count' | 'columns' | 'seed' | 'temperature', Bounds> {
  const p = loadSchema('experiment.schema.json').properties!.sample.properties!;
  return { count: p.count, columns: p.columns, seed: p.seed, temperature: p.temperature };
}

function intOption(v: string | undefined, flag: string, b: Bounds): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  const min = b.minimum ?? 0;
  if (Number.isInteger(n) && n >= min && (b.maximum === undefined || n <= b.maximum)) return n;
  const kind = min === 1 ? 'a positive integer' : min === 0 ? 'a non-negative integer' : `an integer of at least ${min}`;
  throw new UsageError(`${flag} expects ${kind}${b.maximum === undefined ? '' : ` up to ${int(b.maximum)}`}; found ${JSON.stringify(v)}`);
}

function temperatureOption(v: string, b: Bounds): number {
  const n = Number(v);
  const above = b.exclusiveMinimum ?? 0;
  if (!Number.isFinite(n) || !(n > above) || (b.maximum !== undefined && n > b.maximum)) {
    throw new UsageError(`--temperature expects a number greater than ${above}${b.maximum === undefined ? '' : ` and at most ${b.maximum}`}; found ${JSON.stringify(v)}`);
  }
  return n;
}

/**
 * The PNG can be written where --out says, and writing it loses nothing: its folder exists
 * and is writable, and what it replaces, if anything, is a PNG pxl wrote (it carries the
 * "Software: pxl" text chunk, see sample/png-mark.ts), unless --force.
 */
function checkOut(out: string, force: boolean): void {
  const folder = dirname(out);
  if (existsSync(out)) {
    const st = statSync(out);
    if (st.isDirectory()) throw new UsageError(`--out ${out} is a folder; give the PNG file to write, e.g. --out ${join(out, 'samples.png')}`);
    if (!st.isFile()) throw new UsageError(`--out ${out} exists and is not a regular file`);
    const kind = readableKind(out);
    if (kind !== 'pxl-png' && !force) {
      const what = kind === 'png' ? 'a PNG that pxl did not write (no "Software: pxl" text chunk)' : 'not a PNG';
      throw new UsageError(`--out ${out} exists and is ${what}; pxl replaces only its own PNGs: choose another file, or add --force to replace it`);
    }
  } else if (!existsSync(folder)) {
    throw new UsageError(`--out ${out}: the folder ${folder} does not exist`);
  } else if (!statSync(folder).isDirectory()) {
    throw new UsageError(`--out ${out}: ${folder} is not a folder`);
  }
  try {
    accessSync(folder, constants.W_OK);
  } catch {
    throw new UsageError(`--out ${out}: the folder ${folder} is not writable`);
  }
}

function readableKind(out: string): ReturnType<typeof fileKind> {
  try {
    return fileKind(out);
  } catch (err) {
    throw new UsageError(`--out ${out} exists and cannot be read to check what it is: ${(err as Error).message}`);
  }
}

/** The grid fits in MAX_GRID_PIXELS; otherwise says which --scale would. */
function checkGridSize(grid: GridOptions): void {
  const { width, height } = gridSize(grid);
  if (width * height <= MAX_GRID_PIXELS) return;
  const one = gridSize({ ...grid, scale: 1 });
  const fits = Math.floor(Math.sqrt(MAX_GRID_PIXELS / (one.width * one.height)));
  const hint = fits >= 1 ? `--scale ${fits} or less fits these ${grid.count} images` : 'fewer images (--count) are needed';
  throw new UsageError(`--scale ${grid.scale} makes a ${int(width)} x ${int(height)} image (${int(width * height)} pixels); pxl draws at most ${int(MAX_GRID_PIXELS)} pixels: ${hint}`);
}
