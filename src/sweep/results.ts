// A sweep's results in its folder: the comparison as Markdown and CSV, and the figure.
import { writeFileSync } from 'node:fs';
import { sweepPaths } from './state.js';
import { writeFileAtomic } from '../util/files.js';
import { learningCurvesPng } from '../compare/figure.js';
import { readCurves, recordsFromSweep, type RunRecord } from '../compare/records.js';
import { compareRuns, formatComparison, type Comparison, type SortKey } from '../compare/table.js';

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

/** The learning-curves figure of the runs that have any recorded steps. */
export function curvesFigure(records: RunRecord[], title: string): Promise<Uint8Array | null> {
  const series = records.filter((r) => r.dir).map((r) => ({ label: r.label, curves: readCurves(r.dir!) }));
  return learningCurvesPng(series, title);
}
