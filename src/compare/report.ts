// A sweep's results in its folder: the comparison as Markdown and CSV, and the figure.
import { writeFileSync } from 'node:fs';
import { sweepPaths } from '../sweep/state.js';
import { writeFileAtomic } from '../util/files.js';
import { learningCurvesPng, type CurveSeries } from './figure.js';
import { eightBitEquivalent } from './levels.js';
import { readCurves, recordsFromSweep, type Curves, type RunRecord } from './records.js';
import { compareRuns, formatComparison, type Comparison, type SortKey } from './table.js';

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
  const { series, eightBit } = figureSeries(records);
  return learningCurvesPng(series, title, { eightBit });
}

/** The curves drawn: when the runs' colour levels differ, on the 8-bit-equivalent scale, as the table ranks them. */
export function figureSeries(records: RunRecord[]): { series: CurveSeries[]; eightBit: boolean } {
  const eightBit = new Set(records.map((r) => r.experiment.model.color_levels)).size > 1;
  const series = records.filter((r) => r.dir).map((r) => {
    const curves = readCurves(r.dir!);
    if (!eightBit) return { label: r.label, curves };
    const levels = r.experiment.model.color_levels;
    const shift = (points: Curves['train']) => points.map((p) => ({ step: p.step, value: eightBitEquivalent(p.value, levels) }));
    return { label: r.label, curves: { train: shift(curves.train), test: shift(curves.test) } };
  });
  return { series, eightBit };
}
