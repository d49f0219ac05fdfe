// Composition: extends chains, deep merges, --set overrides, defaults and path resolution.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deepMerge } from '../../src/config/compose.js';
import { loadExperiment } from '../../src/config/load.js';
import { tempDir, writeFiles } from '../helpers/tmp.js';

describe('extends', () => {
  it('merges maps deeply through a chain, the child winning', () => {
    const dir = tempDir();
    writeFiles(dir, {
      'base.yaml': 'name: base\nseed: 1\nmodel:\n  hidden: 32\n  blocks: {count: 7, kernel_size: 5}\ntrain: {batch_size: 16}\n',
      'mid/mid.yaml': 'extends: ../base.yaml\nmodel:\n  blocks: {count: 3}\n',
      'mid/leaf.yaml': 'extends: ./mid.yaml\nname: leaf\ntrain: {epochs: 2}\n',
    });
    const { experiment: e, files } = loadExperiment(join(dir, 'mid/leaf.yaml'));
    expect(e.name).toBe('leaf');
    expect(e.seed).toBe(1);
    expect(e.model.hidden).toBe(32);
    expect(e.model.blocks).toEqual({ type: 'residual', count: 3, kernel_size: 5, mask: 'B', dilations: null, skip_connections: false });
    expect(e.train.batch_size).toBe(16);
    expect(e.train.epochs).toBe(2);
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual(['mid/leaf.yaml', 'mid/mid.yaml', 'base.yaml']);
    expect(e).not.toHaveProperty('extends');
  });

  it('replaces lists instead of merging them', () => {
    expect(deepMerge({ a: [1, 2, 3], b: { c: 1, d: 2 } }, { a: [9], b: { d: 5 } })).toEqual({ a: [9], b: { c: 1, d: 5 } });
  });

  it('does not let a merge alias the parent data', () => {
    const parent = { m: { x: 1 } };
    const merged = deepMerge({}, parent) as { m: { x: number } };
    merged.m.x = 2;
    expect(parent.m.x).toBe(1);
  });

  it('resolves dataset.dir relative to the file that set it', () => {
    const dir = tempDir();
    writeFiles(dir, {
      'data/base.yaml': 'dataset: {name: idx, dir: ./images}\n',
      'exp/x.yaml': 'extends: ../data/base.yaml\n',
    });
    expect(loadExperiment(join(dir, 'exp/x.yaml')).experiment.dataset.dir).toBe(join(dir, 'data/images'));
  });
});

describe('--set', () => {
  it('reads values as YAML scalars and applies them last', () => {
    const dir = tempDir();
    writeFiles(dir, { 'x.yaml': 'model: {hidden: 32}\n' });
    const { experiment: e } = loadExperiment(join(dir, 'x.yaml'), [
      'model.hidden=64',
      'model.batch_norm=false',
      'train.optimizer.learning_rate=3e-4',
      'description=hello world',
      'train.steps=~',
      'dataset.test_limit=100',
    ]);
    expect(e.model.hidden).toBe(64);
    expect(e.model.batch_norm).toBe(false);
    expect(e.train.optimizer.learning_rate).toBeCloseTo(3e-4);
    expect(e.description).toBe('hello world');
    expect(e.train.steps).toBeNull();
    expect(e.dataset.test_limit).toBe(100);
  });

  it('the later of two --set of one key wins', () => {
    const dir = tempDir();
    writeFiles(dir, { 'x.yaml': 'seed: 1\n' });
    expect(loadExperiment(join(dir, 'x.yaml'), ['seed=2', 'seed=3']).experiment.seed).toBe(3);
  });
});

describe('defaults', () => {
  it('fills every setting of a file that asks for all defaults ({}) and names it after the file', () => {
    const dir = tempDir();
    writeFiles(dir, { 'my-exp.yaml': '# every default, on purpose\n{}\n' });
    const { experiment: e } = loadExperiment(join(dir, 'my-exp.yaml'));
    expect(e.name).toBe('my-exp');
    expect(e.backend).toBe('auto');
    expect(e.dataset).toEqual({ name: 'mnist', dir: null, train_limit: null, test_limit: null, validation: 'none', test_fraction: 0.1, tint_seed: 0 });
    expect(e.model.input).toEqual({ kernel_size: 7, mask: 'A' });
    expect(e.train.optimizer).toEqual({ name: 'adam', learning_rate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, momentum: 0, weight_decay: 0 });
    expect(e.sample).toEqual({ count: 64, columns: 8, classes: null, method: 'cached', temperature: 1, seed: 0 });
    expect(e.model.conditioning).toEqual({ type: 'none', classes: null });
    expect(e.tracking).toEqual({ uri: null, experiment: null, log_model: false });
    expect(Object.keys(e)).toEqual(['name', 'description', 'seed', 'backend', 'dataset', 'model', 'train', 'sample', 'tracking']);
  });

  it('warns about mask A inside the blocks without failing', () => {
    const dir = tempDir();
    writeFiles(dir, { 'x.yaml': 'model:\n  blocks:\n    mask: A\n' });
    const { warnings } = loadExperiment(join(dir, 'x.yaml'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0].location).toMatchObject({ line: 3, col: 11 });
    expect(warnings[0].message).toContain('loses information');
  });
});

describe('a class-conditional experiment', () => {
  it('lays its grid out by sample.classes, so more columns than sample.count is no error', () => {
    const dir = tempDir();
    writeFiles(dir, { 'x.yaml': 'model:\n  conditioning: {type: class, classes: 10}\nsample:\n  count: 4\n  columns: 10\n' });
    const { experiment } = loadExperiment(join(dir, 'x.yaml'));
    expect(experiment.sample).toMatchObject({ count: 4, columns: 10, classes: null });
    // The same grid for an unconditional model is refused.
    writeFiles(dir, { 'y.yaml': 'sample:\n  count: 4\n  columns: 10\n' });
    expect(() => loadExperiment(join(dir, 'y.yaml'))).toThrow(/sample.columns: expected at most sample.count \(4\) columns/);
  });
});
