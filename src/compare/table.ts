// compare/: run folders side by side: records, the comparison table, the learning-curves figure.
//
// Side by side: only the settings that differ between the runs, then their results,
// sorted by a chosen metric; as a text table, Markdown, CSV or JSON.
import { stringify as csv } from 'csv-stringify/sync';
import { flattenConfig } from '../config/flatten.js';
import { duration, fixed, int } from '../ui/format.js';
import { textTable, type Align } from '../ui/table.js';
import { eightBitEquivalent } from './levels.js';
import type { RecordStatus, Results, RunRecord } from './records.js';

export const SORT_KEYS = ['best', 'test', 'train', 'params', 'speed', 'wall', 'name', 'status'] as const;
export type SortKey = (typeof SORT_KEYS)[number];
export const FORMATS = ['table', 'markdown', 'csv', 'json'] as const;
export type Format = (typeof FORMATS)[number];

export interface ComparisonRow {
  label: string;
  dir: string | null;
  status: RecordStatus;
  /** The differing settings, as MLflow params are written: dotted keys, string values. */
  config: Record<string, string>;
  results: Results;
  /** The run's model.color_levels. */
  levels: number;
  /** Bits/dim on the 8-bit scale (bits/dim + log2(256 / levels)); only when the runs' levels differ. */
  eight_bit: EightBit | null;
}

export interface EightBit {
  test_bits_per_dim: number | null;
  best_test_bits_per_dim: number | null;
  train_bits_per_dim: number | null;
}

export interface Comparison {
  sort: SortKey;
  reverse: boolean;
  /** Settings whose values are not the same in every run. */
  keys: string[];
  rows: ComparisonRow[];
  /** The runs model data of different colour levels: bits/dim are ranked and shown on the 8-bit scale too. */
  mixedLevels: boolean;
}

/** Names, notes and tracking say nothing about what a run learned. */
const IGNORED = /^(name|description)$|^tracking\./;

/** The bits/dim a row is ranked on: the 8-bit equivalent when the runs' levels differ. */
const bits = (r: ComparisonRow, key: keyof EightBit) => (r.eight_bit ?? r.results)[key];

/** Lower is better for bits/dim, size and time; for speed, higher is: best first either way. */
const SORTS: Record<SortKey, { value: (r: ComparisonRow) => number | string | null; descending?: boolean }> = {
  best: { value: (r) => bits(r, 'best_test_bits_per_dim') },
  test: { value: (r) => bits(r, 'test_bits_per_dim') },
  train: { value: (r) => bits(r, 'train_bits_per_dim') },
  params: { value: (r) => r.results.params },
  speed: { value: (r) => r.results.images_per_second, descending: true },
  wall: { value: (r) => r.results.wall_seconds },
  name: { value: (r) => r.label },
  status: { value: (r) => r.status },
};

export function compareRuns(records: RunRecord[], sort: SortKey = 'best', reverse = false): Comparison {
  const configs = records.map((r) => flattenConfig(r.experiment as unknown as Record<string, unknown>));
  const all = [...new Set(configs.flatMap((c) => Object.keys(c)))].filter((k) => !IGNORED.test(k));
  const keys = all.filter((k) => new Set(configs.map((c) => c[k])).size > 1);
  const mixedLevels = new Set(records.map((r) => r.experiment.model.color_levels)).size > 1;
  const rows = records.map((r, i): ComparisonRow => ({
    label: r.label,
    dir: r.dir,
    status: r.status,
    config: Object.fromEntries(keys.map((k) => [k, configs[i][k] ?? '-'])),
    results: r.results,
    levels: r.experiment.model.color_levels,
    eight_bit: mixedLevels ? eightBit(r.results, r.experiment.model.color_levels) : null,
  }));
  return { sort, reverse, keys, rows: sortRows(rows, sort, reverse), mixedLevels };
}

function eightBit(x: Results, levels: number): EightBit {
  const eq = (v: number | null) => (v === null ? null : eightBitEquivalent(v, levels));
  return { test_bits_per_dim: eq(x.test_bits_per_dim), best_test_bits_per_dim: eq(x.best_test_bits_per_dim), train_bits_per_dim: eq(x.train_bits_per_dim) };
}

/** Said under the table when the runs' colour levels differ. */
export const LEVELS_NOTE =
  'note: the runs model different colour levels (model.color_levels), so their raw bits/dim do not compare; ' +
  'the "8-bit eq." columns add log2(256/L) bits/dim to a run of L levels, and the rows are ranked on them.';

/** Stable; runs without the value go last whatever the direction. */
function sortRows(rows: ComparisonRow[], key: SortKey, reverse: boolean): ComparisonRow[] {
  const { value, descending } = SORTS[key];
  const sign = (descending ? -1 : 1) * (reverse ? -1 : 1);
  return rows
    .map((row, i) => ({ row, i, v: value(row) }))
    .sort((a, b) => {
      if (a.v === null || b.v === null) return (a.v === null ? 1 : 0) - (b.v === null ? 1 : 0) || a.i - b.i;
      const c = typeof a.v === 'number' && typeof b.v === 'number' ? a.v - b.v : String(a.v).localeCompare(String(b.v));
      return sign * c || a.i - b.i;
    })
    .map((x) => x.row);
}

const BITS: (keyof EightBit)[] = ['test_bits_per_dim', 'best_test_bits_per_dim', 'train_bits_per_dim'];
const BITS_HEADERS = ['test bits/dim', 'best test', 'train bits/dim'];
const RESULT_FIELDS = ['status', 'steps', ...BITS, 'params', 'images_per_second', 'wall_seconds'];
/** CSV columns of the 8-bit equivalents, when the levels differ. */
const EIGHT_BIT_FIELDS = BITS.map((k) => `${k}_8bit`);

/** Cells for people: bits/dim to 4 places (each beside its 8-bit equivalent when levels differ), counts with separators, times as 1m15s. */
function humanCells(c: Comparison): { header: string[]; rows: string[][]; align: Align[] } {
  const bitsHeaders = BITS_HEADERS.flatMap((h) => (c.mixedLevels ? [h, `${h.replace(' bits/dim', '')} (8-bit eq.)`] : [h]));
  const selection = withValidation(c);
  const header = ['run', ...c.keys, 'status', 'steps', ...bitsHeaders, ...(selection ? ['best on', 'best validation'] : []), 'params', 'img/s', 'wall'];
  const rows = c.rows.map((r) => {
    const x = r.results;
    const count = (n: number | null) => (n === null ? '-' : int(n));
    const bitsCells = BITS.flatMap((k) => (r.eight_bit ? [fixed(x[k], 4), fixed(r.eight_bit[k], 4)] : [fixed(x[k], 4)]));
    return [
      r.label, ...c.keys.map((k) => r.config[k]), r.status, count(x.steps), ...bitsCells,
      ...(selection ? [x.best_chosen_on ?? 'test', fixed(x.best_validation_bits_per_dim, 4)] : []),
      count(x.params), count(x.images_per_second), x.wall_seconds === null ? '-' : duration(x.wall_seconds),
    ];
  });
  const align: Align[] = header.map((_, i) => (i > c.keys.length + 1 ? 'r' : 'l'));
  return { header, rows, align };
}

export function formatComparison(c: Comparison, format: Format): string {
  const note = c.mixedLevels ? `\n${LEVELS_NOTE}\n` : '';
  switch (format) {
    case 'table': {
      const { header, rows, align } = humanCells(c);
      return textTable(header, rows, align) + note;
    }
    case 'markdown':
      return markdownTable(humanCells(c)) + note;
    case 'csv':
      return csv(machineRows(c), { header: true, columns: ['run', 'dir', ...c.keys, ...resultFields(c), ...(c.mixedLevels ? EIGHT_BIT_FIELDS : [])] });
    case 'json': {
      const json = { sort: c.sort, reverse: c.reverse, keys: c.keys, ...(c.mixedLevels ? { note: LEVELS_NOTE } : {}), runs: c.rows };
      return `${JSON.stringify(json, null, 2)}\n`;
    }
  }
}

/** Full-precision values for CSV: one flat record per run. */
function machineRows(c: Comparison): Record<string, unknown>[] {
  return c.rows.map((r) => {
    const eight = r.eight_bit ? Object.fromEntries(BITS.map((k, i) => [EIGHT_BIT_FIELDS[i], r.eight_bit![k]])) : {};
    return { run: r.label, dir: r.dir ?? '', ...r.config, status: r.status, ...stripStart(r.results), ...eight };
  });
}

const stripStart = ({ started_at: _s, ...rest }: Results) => rest;

/**
 * Some run chose its best checkpoint on a validation set: the table says, for each run, what its
 * best was chosen on ("best test" is then the best checkpoint's test bits/dim). Without any, the
 * columns stay those of runs before validation sets.
 */
const withValidation = (c: Comparison) => c.rows.some((r) => r.results.best_chosen_on === 'validation');

function resultFields(c: Comparison): string[] {
  if (!withValidation(c)) return RESULT_FIELDS;
  const at = RESULT_FIELDS.indexOf('train_bits_per_dim') + 1;
  return [...RESULT_FIELDS.slice(0, at), 'best_chosen_on', 'best_validation_bits_per_dim', ...RESULT_FIELDS.slice(at)];
}

function markdownTable({ header, rows, align }: { header: string[]; rows: string[][]; align: Align[] }): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
  const rule = `|${align.map((a) => (a === 'r' ? '---:' : '---')).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n') + '\n';
}
