// `pxl compare` and `pxl runs` on run folders written here (no training needed): only the
// differing settings, results, sorting, the four formats, the figure, and bad input.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadExperiment } from '../../src/config/load.js';
import { deepMerge } from '../../src/config/compose.js';
import { recordsFromDirs } from '../../src/compare/records.js';
import { compareRuns, formatComparison } from '../../src/compare/table.js';
import { figureSeries } from '../../src/compare/figure.js';
import { fileKind } from '../../src/util/png-mark.js';
import { pxl, ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { pngStats } from './png.js';

const BASE = loadExperiment(join(ROOT, 'test/fixtures/tiny.yaml')).experiment;

interface Fake {
  name: string;
  id: string;
  config?: Record<string, unknown>;
  /** null: no summary.json, as for a run still going */
  summary: { best: number; test: number; train: number; speed: number; wall: number; params: number } | null;
  /** test bits/dim at steps 10, 20, ... */
  evals: number[];
}

/** A run folder as `pxl run` leaves it: config.yaml, metrics.jsonl and (when ended) summary.json. */
function fakeRun(root: string, f: Fake): string {
  const dir = join(root, f.name, f.id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.yaml'), stringify(deepMerge({ ...BASE, name: f.name }, f.config ?? {})));
  const t0 = Date.parse('2026-11-30T10:00:00Z');
  const events: Record<string, unknown>[] = [{ type: 'start', time: t0, params: f.summary?.params ?? 1000, runId: f.id }];
  const steps = f.evals.length * 10;
  for (let s = 1; s <= steps; s++) {
    events.push({ type: 'step', time: t0 + s * 1000, step: s, bitsPerDim: 6 / Math.sqrt(s) + (f.evals[0] - 1.5), imagesPerSecond: 50 });
    if (s % 10 === 0) {
      const value = f.evals[s / 10 - 1];
      events.push({ type: 'eval', time: t0 + s * 1000, step: s, testBitsPerDim: value, bestTestBitsPerDim: Math.min(...f.evals.slice(0, s / 10)) });
    }
  }
  writeFileSync(join(dir, 'metrics.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  if (f.summary) {
    const s = f.summary;
    writeFileSync(join(dir, 'summary.json'), JSON.stringify({
      status: 'finished', run_id: f.id, experiment: f.name, steps, epochs: 1, train_bits_per_dim: s.train, test_bits_per_dim: s.test,
      best_test_bits_per_dim: s.best, params: s.params, backend: 'wasm', wall_seconds: s.wall, images_per_second: s.speed,
      started_at: '2026-11-30T10:00:00.000Z', ended_at: '2026-11-30T10:01:00.000Z', message: '',
    }));
  }
  return dir;
}

/** Three runs: two finished ones differing in width, one without a summary and without batch norm. */
function store(root: string): { a: string; b: string; c: string } {
  return {
    a: fakeRun(root, { name: 'narrow', id: '20261130-100000-aaaa', summary: { best: 3.1, test: 3.2, train: 3.0, speed: 80, wall: 75, params: 596 }, evals: [3.5, 3.1, 3.2] }),
    b: fakeRun(root, { name: 'wide', id: '20261130-110000-bbbb', config: { model: { hidden: 8 } }, summary: { best: 2.9, test: 2.9, train: 2.7, speed: 120.5, wall: 3700, params: 1656 }, evals: [3.3, 2.9] }),
    c: fakeRun(root, { name: 'no-bn', id: '20261130-120000-cccc', config: { model: { batch_norm: false } }, summary: null, evals: [3.6, 3.5] }),
  };
}

describe('comparison', () => {
  const root = join(tempDir(), 'runs, "odd" name');
  const { a, b, c } = store(root);

  it('keeps only the settings that differ, with the results, best first', () => {
    const cmp = compareRuns(recordsFromDirs([a, b, c]));
    expect(cmp.keys).toEqual(['model.hidden', 'model.batch_norm']);
    expect(cmp.rows.map((r) => [r.label, r.status, r.config])).toEqual([
      ['wide', 'finished', { 'model.hidden': '8', 'model.batch_norm': 'true' }],
      ['narrow', 'finished', { 'model.hidden': '4', 'model.batch_norm': 'true' }],
      ['no-bn', 'incomplete', { 'model.hidden': '4', 'model.batch_norm': 'false' }],
    ]);
    // A run without a summary reports what its metrics say so far.
    expect(cmp.rows[2].results).toMatchObject({ steps: 20, test_bits_per_dim: 3.5, best_test_bits_per_dim: 3.5, params: 1000, wall_seconds: 20 });
  });

  it('sorts by the chosen metric; speed fastest first; --reverse flips', () => {
    const labels = (sort: Parameters<typeof compareRuns>[1], reverse = false) => compareRuns(recordsFromDirs([a, b, c]), sort, reverse).rows.map((r) => r.label);
    expect(labels('speed')).toEqual(['wide', 'narrow', 'no-bn']);
    expect(labels('params')).toEqual(['narrow', 'no-bn', 'wide']);
    expect(labels('wall', true)).toEqual(['wide', 'narrow', 'no-bn']);
    expect(labels('name')).toEqual(['narrow', 'no-bn', 'wide']);
    expect(labels('train', true)).toEqual(['no-bn', 'narrow', 'wide']);
  });

  it('prints an aligned table and Markdown for people', () => {
    const cmp = compareRuns(recordsFromDirs([a, b, c]));
    const table = formatComparison(cmp, 'table').split('\n');
    expect(table[0]).toMatch(/^run\s+model\.hidden\s+model\.batch_norm\s+status\s+steps\s+test bits\/dim\s+best test\s+train bits\/dim\s+params\s+img\/s\s+wall$/);
    expect(table[2]).toMatch(/^wide\s+8\s+true\s+finished\s+20\s+2\.9000\s+2\.9000\s+2\.7000\s+1,656\s+121\s+1h01m$/);
    expect(table[3]).toMatch(/^narrow\s+4\s+true\s+finished\s+30\s+3\.2000\s+3\.1000\s+3\.0000\s+596\s+80\s+1m15s$/);
    const md = formatComparison(cmp, 'markdown').split('\n');
    expect(md[0]).toBe('| run | model.hidden | model.batch_norm | status | steps | test bits/dim | best test | train bits/dim | params | img/s | wall |');
    expect(md[1]).toBe('|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|');
    expect(md[2]).toBe('| wide | 8 | true | finished | 20 | 2.9000 | 2.9000 | 2.7000 | 1,656 | 121 | 1h01m |');
  });

  it('writes CSV with full-precision numbers and escaped fields, and JSON', () => {
    const cmp = compareRuns(recordsFromDirs([a, b, c]));
    const lines = formatComparison(cmp, 'csv').trim().split('\n');
    expect(lines[0]).toBe('run,dir,model.hidden,model.batch_norm,status,steps,test_bits_per_dim,best_test_bits_per_dim,train_bits_per_dim,params,images_per_second,wall_seconds');
    // The folder's comma and quotes are escaped the CSV way.
    expect(lines[1]).toBe(`wide,"${b.replace(/"/g, '""')}",8,true,finished,20,2.9,2.9,2.7,1656,120.5,3700`);
    expect(lines[3]).toMatch(/^no-bn,".*",4,false,incomplete,20,3\.5,3\.5,/);
    const json = JSON.parse(formatComparison(cmp, 'json'));
    expect(json.sort).toBe('best');
    expect(json.keys).toEqual(['model.hidden', 'model.batch_norm']);
    expect(json.runs[0]).toMatchObject({ label: 'wide', dir: b, status: 'finished', config: { 'model.hidden': '8' }, results: { images_per_second: 120.5 } });
  });
});

describe('runs of different colour levels', () => {
  // Raw test bits/dim 0.25 at 4 levels, 1.5 at 16 and 1.23 at 256: by hand, log2(256/4) = 6 and
  // log2(256/16) = 4, so on the 8-bit scale they are 6.25, 5.5 and 1.23.
  const root = join(tempDir(), 'runs');
  const runs = [
    fakeRun(root, { name: 'four', id: '20261130-100000-aaaa', config: { model: { color_levels: 4 } }, summary: { best: 0.25, test: 0.25, train: 0.2, speed: 80, wall: 75, params: 596 }, evals: [0.3, 0.25] }),
    fakeRun(root, { name: 'sixteen', id: '20261130-110000-bbbb', summary: { best: 1.5, test: 1.5, train: 1.4, speed: 80, wall: 75, params: 596 }, evals: [1.6, 1.5] }),
    fakeRun(root, { name: 'full', id: '20261130-120000-cccc', config: { model: { color_levels: 256 } }, summary: { best: 1.23, test: 1.23, train: 1.2, speed: 80, wall: 75, params: 596 }, evals: [1.3, 1.23] }),
  ];

  it('ranks on the 8-bit equivalent and shows it beside the raw figure, with a note', () => {
    const cmp = compareRuns(recordsFromDirs(runs));
    expect(cmp.mixedLevels).toBe(true);
    expect(cmp.rows.map((r) => [r.label, r.levels, r.results.best_test_bits_per_dim, r.eight_bit!.best_test_bits_per_dim])).toEqual([
      ['full', 256, 1.23, 1.23],
      ['sixteen', 16, 1.5, 5.5],
      ['four', 4, 0.25, 6.25],
    ]);
    expect(compareRuns(recordsFromDirs(runs), 'test', true).rows.map((r) => r.label)).toEqual(['four', 'sixteen', 'full']);
    const table = formatComparison(cmp, 'table').split('\n');
    expect(table[0]).toMatch(/status\s+steps\s+test bits\/dim\s+test \(8-bit eq\.\)\s+best test\s+best test \(8-bit eq\.\)\s+train bits\/dim\s+train \(8-bit eq\.\)\s+params/);
    expect(table[4]).toMatch(/^four\s+4\s+finished\s+20\s+0\.2500\s+6\.2500\s+0\.2500\s+6\.2500\s+0\.2000\s+6\.2000\s+596/);
    expect(table.at(-2)).toMatch(/^note: the runs model different colour levels .*log2\(256\/L\).*ranked on them/);
    const md = formatComparison(cmp, 'markdown');
    expect(md).toContain('| full | 256 | finished | 20 | 1.2300 | 1.2300 | 1.2300 | 1.2300 | 1.2000 | 1.2000 |');
    expect(md.trim().split('\n').at(-1)).toMatch(/^note: .*8-bit eq\./);
    const csv = formatComparison(cmp, 'csv').trim().split('\n');
    expect(csv[0]).toMatch(/,test_bits_per_dim_8bit,best_test_bits_per_dim_8bit,train_bits_per_dim_8bit$/);
    expect(csv[3]).toMatch(/^four,.*,6\.25,6\.25,6\.2$/);
    expect(JSON.parse(formatComparison(cmp, 'json')).note).toContain('log2(256/L)');
  });

  it('keeps the plain columns when every run has the same levels', () => {
    const cmp = compareRuns(recordsFromDirs([runs[1]]));
    expect(cmp.mixedLevels).toBe(false);
    expect(formatComparison(cmp, 'table')).not.toContain('8-bit');
  });

  it('draws the learning curves on the 8-bit scale too', () => {
    const { series, eightBit } = figureSeries(recordsFromDirs(runs));
    expect(eightBit).toBe(true);
    expect(series.map((s) => [s.label, s.curves.test.map((p) => p.value)])).toEqual([['four', [6.3, 6.25]], ['sixteen', [5.6, 5.5]], ['full', [1.3, 1.23]]]);
    expect(figureSeries(recordsFromDirs([runs[1]])).series[0].curves.test.map((p) => p.value)).toEqual([1.6, 1.5]);
  });

  it('pxl compare prints the note under the table, and marks its figure as a pxl PNG', () => {
    const figure = join(tempDir(), 'curves.png');
    const r = pxl(['compare', ...runs, '--figure', figure]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[2]).toMatch(/^full\s/);
    expect(r.stdout).toContain('note: the runs model different colour levels');
    expect(fileKind(figure)).toBe('pxl-png');
  });
});

describe('pxl compare', () => {
  it('prints the table and writes a learning-curves PNG with something drawn on it', () => {
    const dir = tempDir();
    const { a, b, c } = store(join(dir, 'runs'));
    const figure = join(dir, 'out', 'curves.png');
    const r = pxl(['compare', a, b, c, '--format', 'csv', '--figure', figure]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[1]).toMatch(/^wide,/);
    expect(r.stderr).toContain(`figure: ${figure}`);
    const png = pngStats(figure);
    expect(png.width).toBeGreaterThanOrEqual(1200);
    expect(png.height).toBeGreaterThanOrEqual(700);
    expect(png.colours).toBeGreaterThan(50); // three run colours, anti-aliased text and lines
    expect(png.ink).toBeGreaterThan(0.01);
  });

  it('rejects bad input with exit 2 and writes no figure', () => {
    const dir = tempDir();
    const { a } = store(join(dir, 'runs'));
    const figure = join(dir, 'f.png');
    const notRun = pxl(['compare', a, join(dir, 'nowhere'), '--figure', figure]);
    expect(notRun.status).toBe(2);
    expect(notRun.stderr).toContain('is not a pxl run folder');
    expect(pxl(['compare', a, '--format', 'xml', '--figure', figure]).stderr).toContain('--format must be one of table, markdown, csv, json');
    expect(pxl(['compare', a, '--sort', 'loss', '--figure', figure]).status).toBe(2);
    expect(pxl(['compare', '--figure', figure]).stderr).toContain('give run folders to compare, or --sweep DIR');
    expect(pxl(['compare', '--sweep', join(dir, 'runs'), '--figure', figure]).stderr).toContain('is not a pxl sweep folder');
    expect(existsSync(figure)).toBe(false);
  });
});

describe('pxl runs', () => {
  it('lists the store newest first with status and best test bits/dim', () => {
    const root = join(tempDir(), 'runs');
    store(root);
    const r = pxl(['runs', '--runs-dir', root]);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^run\s+status\s+steps\s+best test bits\/dim\s+wall\s+started \(UTC\)$/);
    expect(lines.slice(2).map((l) => l.split(/\s+/).slice(0, 4))).toEqual([
      ['no-bn/20261130-120000-cccc', 'incomplete', '20', '3.5000'],
      ['wide/20261130-110000-bbbb', 'finished', '20', '2.9000'],
      ['narrow/20261130-100000-aaaa', 'finished', '30', '3.1000'],
    ]);
    const json = JSON.parse(pxl(['runs', '--runs-dir', root, '--json']).stdout);
    expect(json.map((x: { run: string }) => x.run)).toEqual(['no-bn/20261130-120000-cccc', 'wide/20261130-110000-bbbb', 'narrow/20261130-100000-aaaa']);
    expect(pxl(['runs', '--runs-dir', join(root, 'empty')]).stdout).toContain('no runs in');
  });
});
