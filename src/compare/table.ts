// compare/: run folders side by side: records, the comparison table, the learning-curves figure.
//
// Side by side: only the settings that differ between the runs, then their results,
// sorted by a chosen metric; as a text table, Markdown, CSV or JSON.
import { stringify as csv } from 'csv-stringify/sync';
import { flattenConfig } from '../config/flatten.js';
import { duration, fixed, int } from '../ui/format.js';
import { textTable, type Align } from '../ui/table.js';
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
}

export interface Comparison {
  sort: SortKey;
  reverse: boolean;
  /** Settings whose values are not the same in every run. */
  keys: string[];
  rows: ComparisonRow[];
}

/** Names, notes and tracking say nothing about what a run learned. */
const IGNORED = /^(name|description)$|^tracking\./;

/** Lower is better for bits/dim, size and time; for speed, higher is: best first either way. */
const SORTS: Record<SortKey, { value: (r: ComparisonRow) => number | string | null; descending?: boolean }> = {
  best: { value: (r) => r.results.best_test_bits_per_dim },
  test: { value: (r) => r.results.test_bits_per_dim },
  train: { value: (r) => r.results.train_bits_per_dim },
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
  const rows = records.map((r, i) => ({
    label: r.label,
    dir: r.dir,
    status: r.status,
    config: Object.fromEntries(keys.map((k) => [k, configs[i][k] ?? '-'])),
    results: r.results,
  }));
  return { sort, reverse, keys, rows: sortRows(rows, sort, reverse) };
}

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

const RESULT_HEADERS = ['status', 'steps', 'test bits/dim', 'best test', 'train bits/dim', 'params', 'img/s', 'wall'];
const RESULT_FIELDS = ['status', 'steps', 'test_bits_per_dim', 'best_test_bits_per_dim', 'train_bits_per_dim', 'params', 'images_per_second', 'wall_seconds'];

/** Cells for people: bits/dim to 4 places, counts with separators, times as 1m15s. */
function humanCells(c: Comparison): { header: string[]; rows: string[][]; align: Align[] } {
  const header = ['run', ...c.keys, ...RESULT_HEADERS];
  const rows = c.rows.map((r) => {
    const x = r.results;
    const count = (n: number | null) => (n === null ? '-' : int(n));
    return [
      r.label, ...c.keys.map((k) => r.config[k]), r.status, count(x.steps),
      fixed(x.test_bits_per_dim, 4), fixed(x.best_test_bits_per_dim, 4), fixed(x.train_bits_per_dim, 4),
      count(x.params), count(x.images_per_second), x.wall_seconds === null ? '-' : duration(x.wall_seconds),
    ];
  });
  const align: Align[] = header.map((_, i) => (i > c.keys.length + 1 ? 'r' : 'l'));
  return { header, rows, align };
}

export function formatComparison(c: Comparison, format: Format): string {
  switch (format) {
    case 'table': {
      const { header, rows, align } = humanCells(c);
      return textTable(header, rows, align);
    }
    case 'markdown':
      return markdownTable(humanCells(c));
    case 'csv':
      return csv(machineRows(c), { header: true, columns: ['run', 'dir', ...c.keys, ...RESULT_FIELDS] });
    case 'json':
      return `${JSON.stringify({ sort: c.sort, reverse: c.reverse, keys: c.keys, runs: c.rows }, null, 2)}\n`;
  }
}

/** Full-precision values for CSV: one flat record per run. */
function machineRows(c: Comparison): Record<string, unknown>[] {
  return c.rows.map((r) => ({ run: r.label, dir: r.dir ?? '', ...r.config, status: r.status, ...stripStart(r.results) }));
}

const stripStart = ({ started_at: _s, ...rest }: Results) => rest;

function markdownTable({ header, rows, align }: { header: string[]; rows: string[][]; align: Align[] }): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
  const rule = `|${align.map((a) => (a === 'r' ? '---:' : '---')).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n') + '\n';
}
