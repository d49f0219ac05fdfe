// Imports run one way (docs/architecture.md): each folder of src/ may import only the folders
// listed for it here, nothing imports upwards, and neither folders nor files form a cycle.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findCycle, folderOf, importGraph } from './import-graph.js';
import { ALLOWED, fileCycle, folderCycle, violations } from './layers.js';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

describe('imports', () => {
  const edges = importGraph(SRC);

  it('are read from src/', () => {
    expect(edges.length).toBeGreaterThan(100);
    expect(edges).toContainEqual({ from: 'train/trainer.ts', to: 'model/loss.ts', typeOnly: false });
  });

  it('go only to the folders each folder may use', () => {
    expect(violations(edges)).toEqual([]);
  });

  it('every folder of src/ has its place in the layering', () => {
    expect([...new Set(edges.flatMap((e) => [folderOf(e.from), folderOf(e.to)]))].filter((f) => !(f in ALLOWED))).toEqual([]);
  });

  it('form no cycle between folders', () => {
    expect(folderCycle(edges)).toBeNull();
  });

  it('form no cycle between files', () => {
    expect(fileCycle(edges)).toBeNull();
  });

  it('the allowed layering is itself one way', () => {
    expect(findCycle(Object.keys(ALLOWED), (f) => (ALLOWED[f] ?? []).map((a) => a.split('/')[0]))).toBeNull();
  });
});
