// The layering of src/ (docs/architecture.md): what each folder may import, and checks of an
// import graph against it.
import { findCycle, folderOf, type Edge } from './import-graph.js';

/**
 * What each folder may import, lowest layers first. An entry is a folder, or one file of a
 * folder where only that file may be used (the trainer takes the sampler's interface, not
 * the grid writer).
 */
export const ALLOWED: Record<string, string[]> = {
  util: [],
  events: [],
  config: ['util'],
  backend: ['util'],
  data: ['config', 'util'],
  model: ['backend', 'config', 'util'],
  checkpoint: ['model', 'util'],
  sample: ['model', 'data', 'backend', 'config', 'util'],
  train: ['checkpoint', 'sample/sampler.ts', 'sample/rows.ts', 'model', 'data', 'backend', 'config', 'events', 'util'],
  store: ['events', 'config', 'util'],
  track: ['events', 'config', 'util'],
  ui: ['events', 'config', 'util'],
  compare: ['store', 'ui', 'events', 'config', 'util'],
  app: ['train', 'checkpoint', 'sample', 'model', 'data', 'backend', 'config', 'events', 'store', 'track', 'util'],
  sweep: ['compare', 'store', 'track', 'ui', 'checkpoint', 'events', 'config', 'util'],
  queue: ['sweep', 'compare', 'store', 'track', 'ui', 'checkpoint', 'events', 'config', 'util'],
  cli: ['app', 'queue', 'sweep', 'compare', 'store', 'track', 'ui', 'train', 'checkpoint', 'sample', 'model', 'data', 'backend', 'config', 'events', 'util'],
};

const allowed = (e: Edge): boolean => {
  const from = folderOf(e.from);
  const to = folderOf(e.to);
  return from === to || (ALLOWED[from] ?? []).some((a) => a === to || a === e.to);
};

/** The imports that break the layering, as 'from -> to' lines. */
export function violations(edges: Edge[]): string[] {
  return edges.filter((e) => !allowed(e)).map((e) => `${e.from} -> ${e.to}`);
}

/** A cycle between folders (any import counts), or null. */
export function folderCycle(edges: Edge[]): string[] | null {
  const next = new Map<string, Set<string>>();
  for (const e of edges) {
    const [a, b] = [folderOf(e.from), folderOf(e.to)];
    if (a !== b) next.set(a, (next.get(a) ?? new Set()).add(b));
  }
  return findCycle(next.keys(), (n) => next.get(n) ?? []);
}

/** A cycle between files through imports that remain at run time, or null. */
export function fileCycle(edges: Edge[]): string[] | null {
  const next = new Map<string, string[]>();
  for (const e of edges.filter((x) => !x.typeOnly)) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  return findCycle(next.keys(), (n) => next.get(n) ?? []);
}
