// `pxl compare` (and so a sweep's results) says what each run's best checkpoint was chosen on
// once some run has a validation set; runs without one keep the columns they always had.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadExperiment } from '../../src/config/load.js';
import { deepMerge } from '../../src/config/compose.js';
import { readCurves, recordsFromDirs } from '../../src/compare/records.js';
import { compareRuns, formatComparison } from '../../src/compare/table.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const BASE = loadExperiment(join(ROOT, 'test/fixtures/tiny.yaml')).experiment;
const T0 = Date.parse('2026-12-01T10:00:00Z');

/** A run folder with a validation set: validation evaluations at steps 10 and 20, the final tests, and (finished) its summary. */
function validationRun(root: string, id: string, finished: boolean): string {
  const dir = join(root, 'held-out', id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.yaml'), stringify(deepMerge({ ...BASE, name: 'held-out' }, { dataset: { validation: 16 } })));
  const evalEv = (step: number, set: string, weights: string, bits: number, best: number, bestStep: number) =>
    ({ type: 'eval', time: T0 + step * 1000, step, set, weights, loss: bits * Math.LN2, bitsPerDim: bits, bestBitsPerDim: best, bestStep, images: 16 });
  const events = [
    { type: 'start', time: T0, params: 1000, runId: id },
    { type: 'step', time: T0 + 10_000, step: 10, bitsPerDim: 3, imagesPerSecond: 50 },
    evalEv(10, 'validation', 'current', 3.2, 3.2, 10),
    { type: 'step', time: T0 + 20_000, step: 20, bitsPerDim: 2.8, imagesPerSecond: 50 },
    evalEv(20, 'validation', 'current', 3.3, 3.2, 10),
    ...(finished ? [evalEv(20, 'test', 'current', 3.4, 3.2, 10), evalEv(20, 'test', 'best', 3.25, 3.2, 10)] : []),
  ];
  writeFileSync(join(dir, 'metrics.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  if (finished) {
    writeFileSync(join(dir, 'summary.json'), JSON.stringify({
      status: 'finished', run_id: id, experiment: 'held-out', steps: 20, epochs: 1, train_bits_per_dim: 2.8, test_bits_per_dim: 3.4,
      best_test_bits_per_dim: 3.25, test_bits_per_dim_best_checkpoint: 3.25, best_chosen_on: 'validation', best_step: 10,
      validation_bits_per_dim: 3.3, best_validation_bits_per_dim: 3.2, params: 1000, backend: 'cpu', wall_seconds: 20, images_per_second: 50,
      started_at: '2026-12-01T10:00:00.000Z', ended_at: '2026-12-01T10:00:20.000Z', message: '',
    }));
  }
  return dir;
}

/** A finished run of pxl before validation sets: its summary has none of their fields. */
function oldRun(root: string): string {
  const dir = join(root, 'old', '20261130-100000-aaaa');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.yaml'), stringify({ ...BASE, name: 'old' }));
  writeFileSync(join(dir, 'metrics.jsonl'), `${JSON.stringify({ type: 'eval', time: T0, step: 10, testBitsPerDim: 3.1, bestTestBitsPerDim: 3.1 })}\n`);
  writeFileSync(join(dir, 'summary.json'), JSON.stringify({
    status: 'finished', run_id: 'x', experiment: 'old', steps: 10, epochs: 1, train_bits_per_dim: 3, test_bits_per_dim: 3.1, best_test_bits_per_dim: 3.1,
    params: 1000, backend: 'cpu', wall_seconds: 10, images_per_second: 50, started_at: '2026-11-30T10:00:00.000Z', ended_at: null, message: '',
  }));
  return dir;
}

describe('comparing runs with a validation set', () => {
  const root = tempDir();
  const held = validationRun(root, '20261201-100000-bbbb', true);
  const going = validationRun(root, '20261201-110000-cccc', false);
  const old = oldRun(root);

  it('adds what the best was chosen on and the best validation bits/dim, in every format', () => {
    const cmp = compareRuns(recordsFromDirs([held, old]));
    const table = formatComparison(cmp, 'table').split('\n');
    expect(table[0]).toMatch(/test bits\/dim\s+best test\s+train bits\/dim\s+best on\s+best validation\s+params/);
    expect(table.find((l) => l.startsWith('held-out'))).toMatch(/3\.4000\s+3\.2500\s+2\.8000\s+validation\s+3\.2000/);
    expect(table.find((l) => l.startsWith('old'))).toMatch(/3\.1000\s+3\.1000\s+3\.0000\s+test\s+-/);
    const csv = formatComparison(cmp, 'csv').split('\n');
    expect(csv[0]).toContain(',test_bits_per_dim,best_test_bits_per_dim,train_bits_per_dim,best_chosen_on,best_validation_bits_per_dim,params,');
    const json = JSON.parse(formatComparison(cmp, 'json'));
    expect(json.runs.map((r: { label: string; results: { best_chosen_on: string | null } }) => [r.label, r.results.best_chosen_on])).toEqual([['old', null], ['held-out', 'validation']]);
  });

  it('keeps the old columns when no run has a validation set', () => {
    const header = formatComparison(compareRuns(recordsFromDirs([old])), 'csv').split('\n')[0];
    expect(header).not.toContain('best_chosen_on');
    expect(header).not.toContain('best_validation');
  });

  it('reads a run still going from its events: validation figures, no test figure yet', () => {
    const [r] = recordsFromDirs([going]);
    expect(r.results).toMatchObject({ best_chosen_on: 'validation', best_validation_bits_per_dim: 3.2, test_bits_per_dim: null, best_test_bits_per_dim: null });
  });

  it('draws the validation evaluations as the curve, named for its set; old runs keep their test curve', () => {
    expect(readCurves(held)).toMatchObject({ evalSet: 'validation', test: [{ step: 10, value: 3.2 }, { step: 20, value: 3.3 }] });
    expect(readCurves(old)).toMatchObject({ evalSet: 'test', test: [{ step: 10, value: 3.1 }] });
  });
});
