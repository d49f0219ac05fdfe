// `pxl compare`: runs side by side (only the settings that differ, and the results) and a
// figure of their learning curves.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { curvesFigure } from '../../compare/figure.js';
import { recordsFromSweep } from '../../sweep/results.js';
import { recordsFromDirs, type RunRecord } from '../../compare/records.js';
import { compareRuns, FORMATS, formatComparison, SORT_KEYS, type Format, type SortKey } from '../../compare/table.js';
import { UsageError } from '../common.js';

interface CompareOpts {
  sweep?: string;
  sort: string;
  reverse?: boolean;
  format: string;
  /** A path, false for --no-figure, or absent for the default place. */
  figure?: string | false;
}

export function registerCompareCommand(program: Command): void {
  program
    .command('compare')
    .description('compare runs: the settings that differ and their results in one table, and their learning curves in one PNG')
    .argument('[run-dirs...]', 'run folders, e.g. runs/mnist-quick/20261130-101500-ab12')
    .option('--sweep <dir>', "a sweep's folder (runs/sweeps/<name>), instead of run folders")
    .option('--sort <key>', `${SORT_KEYS.join(' | ')}: best (test bits/dim) first; speed: fastest first`, 'best')
    .option('--reverse', 'reverse the order')
    .option('--format <f>', FORMATS.join(' | '), 'table')
    .option('--figure <file>', 'learning-curves PNG to write (default: learning-curves.png, or in the sweep folder with --sweep)')
    .option('--no-figure', 'write no figure')
    .action(async (dirs: string[], opts: CompareOpts) => {
      const sort = oneOf(opts.sort, SORT_KEYS, '--sort') as SortKey;
      const format = oneOf(opts.format, FORMATS, '--format') as Format;
      const { records, title } = load(dirs, opts.sweep);
      const comparison = compareRuns(records, sort, opts.reverse ?? false);
      process.stdout.write(formatComparison(comparison, format));
      if (opts.figure === false) return;
      const out = resolve(typeof opts.figure === 'string' ? opts.figure : opts.sweep ? join(opts.sweep, 'learning-curves.png') : 'learning-curves.png');
      const png = await curvesFigure(records, title);
      if (!png) {
        process.stderr.write('no figure: none of these runs has recorded a step yet\n');
        return;
      }
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, png);
      process.stderr.write(`figure: ${out}\n`);
    });
}

function load(dirs: string[], sweep: string | undefined): { records: RunRecord[]; title: string } {
  if (sweep && dirs.length) throw new UsageError('give either run folders or --sweep DIR, not both');
  if (!sweep && dirs.length === 0) throw new UsageError('give run folders to compare, or --sweep DIR');
  try {
    if (sweep) {
      const { name, records } = recordsFromSweep(sweep);
      return { records, title: `Sweep ${name}: learning curves` };
    }
    const records = recordsFromDirs(dirs);
    return { records, title: `Learning curves of ${records.length} run${records.length === 1 ? '' : 's'}` };
  } catch (err) {
    const name = (err as Error).name;
    if (name === 'RunStoreError' || name === 'SweepStoreError') throw new UsageError((err as Error).message);
    throw err;
  }
}

function oneOf(value: string, allowed: readonly string[], flag: string): string {
  if (allowed.includes(value)) return value;
  throw new UsageError(`${flag} must be one of ${allowed.join(', ')}; found ${JSON.stringify(value)}`);
}
