// A sweep's results in its folder (the comparison as Markdown and CSV, and the figure), and its members as comparable records.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';
import { curvesFigure } from '../compare/figure.js';
import { NO_RESULTS, readRecord, type RunRecord } from '../compare/records.js';
import { compareRuns, formatComparison, type Comparison, type SortKey } from '../compare/table.js';
import type { Experiment } from '../config/types.js';
import { runPaths } from '../store/run-dir.js';
import { writeFileAtomic } from '../util/files.js';
import { memberFile, memberRunDir, readSweepState, sweepPaths } from './state.js';

export interface SweepResults {
  comparison: Comparison;
  table: string;
  files: { markdown: string; csv: string; figure: string | null };
}

export async function writeSweepResults(dir: string, sort: SortKey = 'best'): Promise<SweepResults> {
  const paths = sweepPaths(dir);
  const { name, records } = recordsFromSweep(dir);
  const comparison = compareRuns(records, sort);
  writeFileAtomic(paths.markdown, `# Sweep ${name}\n\n${formatComparison(comparison, 'markdown')}`);
  writeFileAtomic(paths.csv, formatComparison(comparison, 'csv'));
  const png = await curvesFigure(records, `Sweep ${name}: learning curves`);
  if (png) writeFileSync(paths.figure, png);
  return { comparison, table: formatComparison(comparison, 'table'), files: { markdown: paths.markdown, csv: paths.csv, figure: png ? paths.figure : null } };
}

/**
 * A sweep's members, labelled by member name, with the status state.json gives them: the one
 * source of the sweep's counts, its table and its files, also for a member that failed
 * before its run folder had a summary (or before it had a run folder at all).
 */
export function recordsFromSweep(dir: string): { name: string; records: RunRecord[] } {
  const state = readSweepState(dir);
  const paths = sweepPaths(dir);
  const records = state.members.map((m): RunRecord => {
    const runDir = memberRunDir(paths, m);
    if (runDir && existsSync(runPaths(runDir).config)) return { ...readRecord(runDir, m.name), status: m.status };
    const experiment = parse(readFileSync(memberFile(paths, m.name), 'utf8')) as Experiment;
    return { label: m.name, dir: null, status: m.status, experiment, results: NO_RESULTS };
  });
  return { name: state.name, records };
}
