// The import graph of src/: which file imports which, read from the source text.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

export interface Edge {
  from: string; // path relative to the root, e.g. 'train/trainer.ts'
  to: string;
  /** `import type` / `export type`: gone at run time. */
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.tsx?$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

// Static imports and re-exports (over several lines too), side-effect imports, dynamic imports.
const STATIC = /^\s*(?:import|export)\s+(type\s+)?[^;]*?\bfrom\s+'([^']+)'/gm;
const BARE = /^\s*import\s+'([^']+)'/gm;
const DYNAMIC = /\bimport\(\s*'([^']+)'\s*\)/g;

function target(root: string, file: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null; // a package
  const base = resolve(dirname(file), spec).replace(/\.js$/, '');
  for (const ext of ['.ts', '.tsx']) {
    try {
      if (statSync(base + ext).isFile()) return relative(root, base + ext);
    } catch {
      // not this extension
    }
  }
  throw new Error(`${relative(root, file)}: cannot resolve import '${spec}'`);
}

export function importGraph(root: string): Edge[] {
  const edges: Edge[] = [];
  for (const file of sourceFiles(root)) {
    const text = readFileSync(file, 'utf8');
    const add = (spec: string, typeOnly: boolean) => {
      const to = target(root, file, spec);
      if (to) edges.push({ from: relative(root, file), to, typeOnly });
    };
    for (const m of text.matchAll(STATIC)) add(m[2], m[1] !== undefined);
    for (const m of text.matchAll(BARE)) add(m[1], false);
    for (const m of text.matchAll(DYNAMIC)) add(m[1], false);
  }
  return edges;
}

export const folderOf = (path: string): string => path.split('/')[0];

/** One cycle of the graph, as the nodes along it, or null when there is none. */
export function findCycle(nodes: Iterable<string>, next: (node: string) => Iterable<string>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | null => {
    state.set(n, 'open');
    stack.push(n);
    for (const m of next(n)) {
      if (state.get(m) === 'open') return [...stack.slice(stack.indexOf(m)), m];
      if (!state.has(m)) {
        const found = visit(m);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(n, 'done');
    return null;
  };
  for (const n of nodes) {
    if (state.has(n)) continue;
    const found = visit(n);
    if (found) return found;
  }
  return null;
}
