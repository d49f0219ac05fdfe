// Sweep files: bad input is reported at FILE:LINE:COL with the key path and what was
// expected, as for experiment files; good input expands into the right members.
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/diagnostics.js';
import { loadExperiment } from '../../src/config/load.js';
import { loadSweep } from '../../src/sweep/definition.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir, writeFiles } from '../helpers/tmp.js';

const TINY = readFileSync(join(ROOT, 'test/fixtures/tiny.yaml'), 'utf8');

interface Case {
  name: string;
  sweep: string;
  errors: { at: string; path?: string; says: string[] }[];
}

const CASES: Case[] = [
  {
    name: 'YAML syntax error: a tab in the indentation',
    sweep: 'experiment: base.yaml\nvariants:\n\ta: {}\n',
    errors: [{ at: 's.yaml:3:1', says: ['YAML syntax error'] }],
  },
  {
    name: 'two variants of the same name',
    sweep: 'experiment: base.yaml\nvariants:\n  a: {}\n  a: {seed: 2}\n',
    errors: [{ at: 's.yaml:4:3', says: ['YAML syntax error', 'unique'] }],
  },
  {
    name: 'top level is a list',
    sweep: '- experiment: base.yaml\n',
    errors: [{ at: 's.yaml:1:1', says: ['expected a map with experiment: and grid: or variants:'] }],
  },
  {
    name: 'no base experiment',
    sweep: 'variants:\n  a: {}\n',
    errors: [{ at: 's.yaml:1:1', path: 'experiment', says: ['is required'] }],
  },
  {
    name: 'typo in a top-level key',
    sweep: 'experiment: base.yaml\nvariant:\n  a: {}\n',
    errors: [{ at: 's.yaml:2:1', path: 'variant', says: ['unknown key "variant"', 'did you mean "variants"?'] }],
  },
  {
    name: 'base experiment not found',
    sweep: 'experiment: ./nowhere.yaml\nvariants:\n  a: {}\n',
    errors: [{ at: 's.yaml:1:13', path: 'experiment', says: ['experiment file "./nowhere.yaml" not found'] }],
  },
  {
    name: 'neither grid nor variants',
    sweep: 'experiment: base.yaml\nseeds: [1]\n',
    errors: [{ at: 's.yaml:1:1', says: ['expected grid: (values to combine) or variants: (named members); found neither'] }],
  },
  {
    name: 'both grid and variants',
    sweep: 'experiment: base.yaml\ngrid:\n  seed: [1, 2]\nvariants:\n  a: {}\n',
    errors: [{ at: 's.yaml:4:1', path: 'variants', says: ['either grid: or variants:, not both'] }],
  },
  {
    name: 'typo in a grid key: the column of the bad segment and a suggestion',
    sweep: 'experiment: base.yaml\ngrid:\n  model.batch_nrm: [true, false]\n',
    errors: [{ at: 's.yaml:3:9', path: 'model.batch_nrm', says: ['unknown key "batch_nrm"', 'did you mean "batch_norm"?'] }],
  },
  {
    name: 'typo in a quoted grid key',
    sweep: 'experiment: base.yaml\ngrid:\n  "model.hiden": [4]\n',
    errors: [{ at: 's.yaml:3:10', path: 'model.hiden', says: ['did you mean "hidden"?'] }],
  },
  {
    name: 'grid key in the wrong section',
    sweep: 'experiment: base.yaml\ngrid:\n  train.hidden: [4, 8]\n',
    errors: [{ at: 's.yaml:3:9', path: 'train.hidden', says: ['did you mean model.hidden?'] }],
  },
  {
    name: 'a grid value of the wrong type is reported at the value',
    sweep: 'experiment: base.yaml\ngrid:\n  model.blocks.count: [2, many, 4]\n',
    errors: [{ at: 's.yaml:3:27', path: 'model.blocks.count', says: ['expected an integer from 0 to 256', 'found the string "many"'] }],
  },
  {
    name: 'grid values that are not a list',
    sweep: 'experiment: base.yaml\ngrid:\n  model.hidden: 8\n',
    errors: [{ at: 's.yaml:3:17', path: 'grid.model.hidden', says: ['expected a list of the values to try', 'found 8'] }],
  },
  {
    name: 'an empty grid',
    sweep: 'experiment: base.yaml\ngrid: {}\n',
    errors: [{ at: 's.yaml:2:7', path: 'grid', says: ['expected a map from setting keys to lists of values'] }],
  },
  {
    name: 'typo in a nested variant key',
    sweep: 'experiment: base.yaml\nvariants:\n  no-bn:\n    model:\n      batch_nrom: false\n',
    errors: [{ at: 's.yaml:5:7', path: 'model.batch_nrom', says: ['did you mean "batch_norm"?'] }],
  },
  {
    name: 'a variant value of the wrong type',
    sweep: 'experiment: base.yaml\nvariants:\n  no-bn:\n    model.batch_norm: maybe\n',
    errors: [{ at: 's.yaml:4:23', path: 'model.batch_norm', says: ['expected true or false', 'found the string "maybe"'] }],
  },
  {
    name: 'a variant that breaks a model rule',
    sweep: 'experiment: base.yaml\nvariants:\n  leaky: {model.input.mask: B}\n',
    errors: [{ at: 's.yaml:3:29', path: 'model.input.mask', says: ['the first layer must use mask A'] }],
  },
  {
    name: 'a variant that is not a map',
    sweep: 'experiment: base.yaml\nvariants:\n  a: 5\n',
    errors: [{ at: 's.yaml:3:6', path: 'variants.a', says: ['expected a map of settings for this variant', 'found 5'] }],
  },
  {
    name: 'a variant name with a space',
    sweep: 'experiment: base.yaml\nvariants:\n  no bn: {model.batch_norm: false}\n',
    errors: [{ at: 's.yaml:3:3', path: 'variants.no bn', says: ['expected a variant name of letters, digits'] }],
  },
  {
    name: 'typo in the common settings',
    sweep: 'experiment: base.yaml\nset:\n  train.stepz: 3\nvariants:\n  a: {}\n',
    errors: [{ at: 's.yaml:3:9', path: 'train.stepz', says: ['did you mean "steps"?'] }],
  },
  {
    name: 'an empty segment in a dotted key',
    sweep: 'experiment: base.yaml\nset:\n  train..steps: 3\nvariants:\n  a: {}\n',
    errors: [{ at: 's.yaml:3:3', path: 'train..steps', says: ['expected a key or a dotted key path'] }],
  },
  {
    name: 'seeds that are not integers',
    sweep: 'experiment: base.yaml\nvariants:\n  a: {}\nseeds: [0, x]\n',
    errors: [{ at: 's.yaml:4:12', path: 'seeds.1', says: ['expected an integer from 0 to 4294967295', 'found the string "x"'] }],
  },
  {
    name: 'a repeated seed',
    sweep: 'experiment: base.yaml\nvariants:\n  a: {}\nseeds: [1, 1]\n',
    errors: [{ at: 's.yaml:4:8', path: 'seeds', says: ['different seeds'] }],
  },
  {
    name: 'a seed set by a variant and by seeds:',
    sweep: 'experiment: base.yaml\nvariants:\n  a: {seed: 4}\nseeds: [1, 2]\n',
    errors: [{ at: 's.yaml:3:7', path: 'seed', says: ['the seed is chosen by seeds:'] }],
  },
  {
    name: 'tracking set by one member',
    sweep: 'experiment: base.yaml\nvariants:\n  a:\n    tracking.experiment: x\n',
    errors: [{ at: 's.yaml:4:5', path: 'tracking', says: ['tracking applies to the whole sweep'] }],
  },
  {
    name: 'extends in the common settings',
    sweep: 'experiment: base.yaml\nset: {extends: other.yaml}\nvariants:\n  a: {}\n',
    errors: [{ at: 's.yaml:2:7', path: 'extends', says: ['a sweep cannot change extends'] }],
  },
  {
    name: 'every problem at once, in file order',
    sweep: 'experiment: base.yaml\nset: {train.steps: 0}\ngrid:\n  model.hiden: [4]\n  model.color_levels: [4, 300]\n',
    errors: [
      { at: 's.yaml:2:20', path: 'train.steps', says: ['expected an integer from 1'] },
      { at: 's.yaml:4:9', path: 'model.hiden', says: ['did you mean "hidden"?'] },
      { at: 's.yaml:5:27', path: 'model.color_levels', says: ['expected an integer from 2 to 256', 'found 300'] },
    ],
  },
];

function load(sweep: string, extra: Record<string, string> = {}) {
  const dir = tempDir();
  writeFiles(dir, { 'base.yaml': TINY, 's.yaml': sweep, ...extra });
  return loadSweep(join(dir, 's.yaml'));
}

function errorsOf(sweep: string): ConfigError {
  try {
    load(sweep);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError, but the sweep loaded');
}

describe('bad sweep files', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const err = errorsOf(c.sweep);
    const got = err.diagnostics.map((d) => ({ at: `${basename(d.location.file)}:${d.location.line}:${d.location.col}`, path: d.path, message: d.message }));
    expect(got.map((g) => g.at)).toEqual(c.errors.map((e) => e.at));
    c.errors.forEach((e, i) => {
      if (e.path !== undefined) expect(got[i].path).toBe(e.path);
      for (const s of e.says) expect(got[i].message).toContain(s);
    });
    expect(err.message.split('\n')).toHaveLength(c.errors.length);
  });
});

describe('sweep members', () => {
  it('combines a grid, the first key varying slowest, with seeds and the common settings', () => {
    const def = load('name: g\nexperiment: base.yaml\nset: {train.steps: 2}\ngrid:\n  model.batch_norm: [true, false]\n  model.blocks.count: [1, 2]\nseeds: [5, 6]\n');
    expect(def.kind).toBe('grid');
    expect(def.members.map((m) => m.name)).toEqual([
      'batch_norm-true_blocks.count-1_seed-5', 'batch_norm-true_blocks.count-1_seed-6',
      'batch_norm-true_blocks.count-2_seed-5', 'batch_norm-true_blocks.count-2_seed-6',
      'batch_norm-false_blocks.count-1_seed-5', 'batch_norm-false_blocks.count-1_seed-6',
      'batch_norm-false_blocks.count-2_seed-5', 'batch_norm-false_blocks.count-2_seed-6',
    ]);
    const last = def.members[7];
    expect(last.experiment).toMatchObject({ name: 'tiny-batch_norm-false_blocks.count-2_seed-6', seed: 6, model: { batch_norm: false, blocks: { count: 2 } }, train: { steps: 2 } });
    expect(last.overrides).toEqual({ 'model.batch_norm': 'false', 'model.blocks.count': '2', seed: '6' });
    expect(new Set(def.members.map((m) => m.hash)).size).toBe(8);
  });

  it('applies named variants: nothing, dotted keys, nested maps and an own name', () => {
    const def = load(
      'experiment: base.yaml\nvariants:\n  reference:\n  wide:\n    model: {hidden: 8}\n    train.optimizer.learning_rate: 0.02\n  mine:\n    name: my-run\n    model.blocks: {count: 2}\n',
    );
    const [reference, wide, mine] = def.members;
    expect(def.name).toBe('s');
    expect(reference.experiment).toEqual({ ...loadExperiment(join(ROOT, 'test/fixtures/tiny.yaml')).experiment, name: 'tiny-reference' });
    expect(wide.experiment.model.hidden).toBe(8);
    expect(wide.experiment.train.optimizer).toMatchObject({ name: 'adam', learning_rate: 0.02 });
    expect(mine.experiment.name).toBe('my-run');
    expect(mine.experiment.model.blocks).toMatchObject({ count: 2, kernel_size: 3 });
  });

  it('gives the same hash to the same settings, whatever the tracking', () => {
    const a = load('experiment: base.yaml\nvariants: {a: {}}\n').members[0];
    const b = load('experiment: base.yaml\nset: {tracking.experiment: other}\nvariants: {a: {}}\n').members[0];
    expect(a.hash).toBe(b.hash);
  });
});

describe('shipped sweeps', () => {
  it('mnist-ablations resolves each variant to exactly its experiment in experiments/ablations/', () => {
    const def = loadSweep(join(ROOT, 'experiments/sweeps/mnist-ablations.yaml'));
    const byName = Object.fromEntries(def.members.map((m) => [m.name, m.experiment]));
    const file = (f: string) => loadExperiment(join(ROOT, 'experiments', f)).experiment;
    expect(byName.reference).toEqual(file('mnist-15block.yaml'));
    expect(byName['no-batch-norm']).toEqual(file('ablations/no-batch-norm.yaml'));
    expect(byName['5-blocks']).toEqual(file('ablations/5-blocks.yaml'));
    expect(byName['4-levels']).toEqual(file('ablations/4-levels.yaml'));
  });

  it('mnist-quick-ablations is a small model with short training', () => {
    const def = loadSweep(join(ROOT, 'experiments/sweeps/mnist-quick-ablations.yaml'));
    expect(def.members.map((m) => m.name)).toEqual(['reference', 'no-batch-norm', '1-block', '4-levels']);
    for (const m of def.members) {
      expect(m.experiment.train).toMatchObject({ steps: 150, batch_size: 16 });
      expect(m.experiment.model).toMatchObject({ hidden: 16, blocks: { kernel_size: 3 } });
    }
    expect(def.members.map((m) => m.experiment.model.blocks.count)).toEqual([4, 4, 1, 4]);
  });

  it('mnist-quick-gated-vs-residual sets the quick residual and gated models, each with and without class conditioning, against each other', () => {
    const def = loadSweep(join(ROOT, 'experiments/sweeps/mnist-quick-gated-vs-residual.yaml'));
    const byName = Object.fromEntries(def.members.map((m) => [m.name, m.experiment]));
    expect(Object.keys(byName)).toEqual(['residual', 'gated', 'residual-class', 'gated-class']);
    const model = (f: string) => loadExperiment(join(ROOT, 'experiments', f)).experiment.model;
    const byClass = { type: 'class', classes: 10 };
    expect(byName.residual.model).toEqual(model('mnist-quick.yaml'));
    expect(byName.gated.model).toEqual(model('mnist-quick-gated.yaml'));
    expect(byName['residual-class'].model).toEqual({ ...model('mnist-quick.yaml'), conditioning: byClass });
    expect(byName['gated-class'].model).toEqual({ ...model('mnist-quick-gated.yaml'), conditioning: byClass });
    // The same wall-clock budget: the gated models take 1.56x as long a step, so 450 / 1.56 = 290 steps.
    expect(def.members.map((m) => m.experiment.train.steps)).toEqual([450, 290, 450, 290]);
    for (const m of def.members) expect(m.experiment.dataset.validation).toBe(2000);
    expect(byName['gated-class'].sample.classes).toBe('all');
  });

  it('mnist-quick-recipe adds one ingredient of the recipe at a time to the quick experiment, then all, each with a validation set of 2000', () => {
    const def = loadSweep(join(ROOT, 'experiments/sweeps/mnist-quick-recipe.yaml'));
    const byName = Object.fromEntries(def.members.map((m) => [m.name, m.experiment]));
    expect(Object.keys(byName)).toEqual(['baseline', 'cosine-warmup', 'ema', 'weight-decay-clip', 'dropout', 'all']);
    const quick = loadExperiment(join(ROOT, 'experiments/mnist-quick.yaml')).experiment;
    const base = byName.baseline;
    expect(base.model).toEqual(quick.model);
    expect(base.train).toMatchObject({ steps: quick.train.steps, batch_size: quick.train.batch_size, lr_schedule: quick.train.lr_schedule, ema: { decay: null }, grad_clip: null });
    expect(base.train.optimizer).toEqual(quick.train.optimizer);
    for (const m of def.members) expect(m.experiment.dataset.validation).toBe(2000);
    // Each single-ingredient member differs from the baseline in that ingredient alone.
    const cosine = { ...base.train.lr_schedule, name: 'cosine', warmup: 100, min_lr: 0 };
    expect(byName['cosine-warmup']).toEqual({ ...base, name: 'mnist-quick-cosine-warmup', train: { ...base.train, lr_schedule: cosine } });
    expect(byName.ema).toEqual({ ...base, name: 'mnist-quick-ema', train: { ...base.train, ema: { decay: 0.999 } } });
    expect(byName['weight-decay-clip']).toEqual({ ...base, name: 'mnist-quick-weight-decay-clip', train: { ...base.train, optimizer: { ...base.train.optimizer, weight_decay: 0.01 }, grad_clip: 1 } });
    expect(byName.dropout).toEqual({ ...base, name: 'mnist-quick-dropout', model: { ...base.model, dropout: 0.1 } });
    expect(byName.all).toEqual({
      ...base, name: 'mnist-quick-all', model: { ...base.model, dropout: 0.1 },
      train: { ...base.train, lr_schedule: cosine, ema: { decay: 0.999 }, optimizer: { ...base.train.optimizer, weight_decay: 0.01 }, grad_clip: 1 },
    });
  });
});
