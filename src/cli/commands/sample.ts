// `pxl sample`: draw an image grid from a run's checkpoint.
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadExperiment } from '../../config/load.js';
import { latestCheckpoint, loadCheckpoint } from '../../train/checkpoint.js';
import { prepareExperiment } from '../../train/run.js';
import { readRun } from '../../store/run-dir.js';
import { gridPng } from '../../sample/grid.js';
import { samplerFor, type SampleMethod } from '../../sample/index.js';
import { duration } from '../../ui/format.js';
import { UsageError } from '../common.js';

interface SampleOpts {
  count?: string;
  columns?: string;
  method?: string;
  seed?: string;
  temperature?: string;
  checkpoint?: string;
  scale?: string;
  out?: string;
}

export function registerSampleCommand(program: Command): void {
  program
    .command('sample')
    .description("sample an image grid from a run's latest checkpoint and write it as a PNG")
    .argument('<run-dir>', 'a run folder, e.g. runs/mnist-quick/20261130-101500-ab12')
    .option('--count <n>', 'images (default: sample.count of the run)')
    .option('--columns <n>', 'images per grid row (default: sample.columns, at most --count)')
    .option('--method <m>', 'naive | cached (default: sample.method of the run)')
    .option('--seed <s>', 'seed of the draws (default: sample.seed of the run)')
    .option('--temperature <t>', 'softmax temperature (default: sample.temperature of the run)')
    .option('--checkpoint <dir>', 'a checkpoint folder (default: the latest)')
    .option('--scale <n>', 'draw each pixel as an n x n square (default: 1)')
    .option('--out <file>', 'PNG to write (default: RUN_DIR/samples/sample-<time>.png)')
    .action(async (runDir: string, opts: SampleOpts) => {
      const { paths } = readRun(runDir);
      const { experiment: e } = loadExperiment(paths.config);
      const s = e.sample;
      const count = positiveInt(opts.count, '--count') ?? s.count;
      const columns = Math.min(positiveInt(opts.columns, '--columns') ?? s.columns, count);
      const method = (opts.method ?? s.method) as SampleMethod;
      if (method !== 'naive' && method !== 'cached') throw new UsageError(`--method must be naive or cached; found ${JSON.stringify(opts.method)}`);
      const seed = opts.seed === undefined ? s.seed : nonNegativeInt(opts.seed, '--seed');
      const temperature = opts.temperature === undefined ? s.temperature : positiveNumber(opts.temperature, '--temperature');
      const scale = positiveInt(opts.scale, '--scale') ?? 1;
      const checkpoint = opts.checkpoint ? resolve(opts.checkpoint) : latestCheckpoint(paths.checkpoints);
      if (!checkpoint) throw new UsageError(`${runDir} has no checkpoint yet`);
      const sampler = samplerFor(method);
      const { model, backend } = await prepareExperiment({ ...e, dataset: { ...e.dataset, train_limit: 1, test_limit: 1 }, train: { ...e.train, batch_size: 1 } }, false);
      const loaded = loadCheckpoint(checkpoint, model);
      loaded.optimizerWeights.forEach((w) => w.tensor.dispose());
      for (const warning of loaded.warnings) process.stderr.write(`pxl: warning: ${warning}\n`);
      const result = await sampler.sample(model, { count, temperature, seed });
      const { height, width, channels } = model.image;
      const png = gridPng(result.classes, { count, columns, height, width, channels, levels: e.model.color_levels, scale });
      const out = resolve(opts.out ?? join(paths.samples, `sample-${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}.png`));
      writeFileSync(out, png);
      process.stdout.write(`${count} samples (${method}, seed ${seed}, temperature ${temperature}) from ${checkpoint} on ${backend.name} in ${duration(result.seconds)} -> ${out}\n`);
      model.dispose();
    });
}

function positiveInt(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} expects a positive integer; found ${JSON.stringify(v)}`);
  return n;
}

function nonNegativeInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} expects a non-negative integer; found ${JSON.stringify(v)}`);
  return n;
}

function positiveNumber(v: string, flag: string): number {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new UsageError(`${flag} expects a number greater than 0; found ${JSON.stringify(v)}`);
  return n;
}
