// Composition: a file's `extends` chain, deep-merged parent first, then --set overrides.
import { existsSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { clip, describeValue, quote, type Diagnostic, type Location } from './diagnostics.js';
import { pathKey, readSource, type Origin, type SourceFile } from './source.js';

export interface Composed {
  /** The merged settings; `extends` is consumed and removed. */
  data: Record<string, unknown>;
  /** Every source from the root parent to the file itself, then each --set: later ones win. */
  sources: SourceFile[];
  /** Absolute paths of the files read, the file itself first. */
  files: string[];
}

type Result<T> = { value?: T; errors: Diagnostic[] };

/** Shown in messages: relative to the working directory when inside it. */
export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

/**
 * `extra` sources (a sweep's overrides, located in the sweep file) apply after the file's
 * chain and before the --set overrides.
 */
export function compose(file: string, sets: readonly string[] = [], extra: readonly SourceFile[] = []): Result<Composed> {
  const chain = readChain(resolve(file), []);
  const overrides = sets.map(parseSet);
  const errors = [...chain.errors, ...overrides.flatMap((o) => o.errors)];
  if (errors.length > 0 || !chain.value) return { errors };
  const sources = [...chain.value.sources, ...extra, ...overrides.map((o) => o.value!)];
  let data: Record<string, unknown> = {};
  for (const s of sources) data = deepMerge(data, s.data) as Record<string, unknown>;
  delete data.extends;
  resolveRelativePaths(data, sources);
  return { value: { data, sources, files: chain.value.files }, errors: [] };
}

/**
 * Reads a file and, recursively, the parents it extends; `seen` detects cycles. A parent
 * that cannot be read (a folder, a device, a binary file) is reported at the `extends`
 * that names it, where the mistake was made.
 */
function readChain(file: string, seen: string[], via?: { child: SourceFile; ref: string }): Result<{ sources: SourceFile[]; files: string[] }> {
  const { source, errors, readProblem } = readSource(file, displayPath(file));
  if (via && readProblem) return { errors: [at(via.child, ['extends'], 'value', 'extends', `parent file ${quote(via.ref)} ${readProblem}`)] };
  if (!source) return { errors };
  const top = source.data;
  if (top === null || typeof top !== 'object' || Array.isArray(top)) {
    return { errors: [at(source, [], 'value', '', `expected a map of settings at the top level; found ${describeValue(top)}`)] };
  }
  const parentRef = (top as Record<string, unknown>).extends;
  if (parentRef === undefined || parentRef === null) return { value: { sources: [source], files: [file] }, errors: [] };
  if (typeof parentRef !== 'string' || parentRef === '') {
    return { errors: [at(source, ['extends'], 'value', 'extends', `expected a relative path to a parent experiment file; found ${describeValue(parentRef)}`)] };
  }
  const parent = resolve(dirname(file), parentRef);
  if (!existsSync(parent)) {
    return { errors: [at(source, ['extends'], 'value', 'extends', `parent file ${quote(parentRef)} not found (looked for ${clip(displayPath(parent), 200)})`)] };
  }
  const real = realpathSync(parent);
  const trail = [...seen, realpathSync(file)];
  if (trail.includes(real)) {
    const here = dirname(realpathSync(file));
    const cycle = [...trail.slice(trail.indexOf(real)), real].map((p) => relative(here, p) || p).join(' -> ');
    return { errors: [at(source, ['extends'], 'value', 'extends', `the extends chain forms a cycle: ${cycle}`)] };
  }
  const up = readChain(parent, trail, { child: source, ref: parentRef });
  if (!up.value) return up;
  return { value: { sources: [...up.value.sources, source], files: [file, ...up.value.files] }, errors: [] };
}

/** Parses one `--set key.path=value`; the value is read as YAML (so 64 is a number, true a boolean). */
export function parseSet(arg: string): Result<SourceFile> {
  const file = `--set '${clip(arg, 80)}'`;
  const loc = (col: number): Location => ({ file, line: 1, col });
  const eq = arg.indexOf('=');
  const keyText = eq < 0 ? arg : arg.slice(0, eq);
  if (eq < 0 || !/^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*$/.test(keyText)) {
    return {
      errors: [{ location: loc(1), path: '', message: `expected key.path=value (e.g. model.hidden=64); found ${quote(arg)}` }],
    };
  }
  let value: unknown;
  try {
    value = parseYaml(arg.slice(eq + 1));
  } catch (err) {
    return { errors: [{ location: loc(eq + 2), path: keyText, message: `value is not valid YAML: ${(err as Error).message.split('\n')[0]}` }] };
  }
  const segments = keyText.split('.');
  const origins = new Map<string, Origin>();
  const data: Record<string, unknown> = {};
  let node = data;
  let col = 1;
  segments.forEach((seg, i) => {
    origins.set(pathKey(segments.slice(0, i + 1)), { key: loc(col), value: loc(eq + 2) });
    col += seg.length + 1;
    const child = i === segments.length - 1 ? value : {};
    setOwn(node, seg, child);
    node = child as Record<string, unknown>;
  });
  origins.set(pathKey([]), { value: loc(1) });
  return { value: { file, data, origins }, errors: [] };
}

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Maps merge key by key (the override wins); anything else, lists included, is replaced. */
export function deepMerge(base: unknown, override: unknown): unknown {
  if (!isMap(base) || !isMap(override)) return structuredClone(override);
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) setOwn(out, k, Object.hasOwn(base, k) ? deepMerge(base[k], v) : structuredClone(v));
  return out;
}

/**
 * Sets a key as the map's own property. Plain assignment of `__proto__` would set the
 * prototype instead and the key would vanish; kept as a key, the schema reports it as unknown.
 */
export function setOwn(map: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Paths in a file are relative to that file (a --set path to the working directory). */
function resolveRelativePaths(data: Record<string, unknown>, sources: SourceFile[]): void {
  const dataset = data.dataset;
  if (!isMap(dataset) || typeof dataset.dir !== 'string') return;
  const from = [...sources].reverse().find((s) => s.origins.has(pathKey(['dataset', 'dir'])));
  const base = from && !from.file.startsWith('--set') ? dirname(resolve(from.file)) : process.cwd();
  dataset.dir = resolve(base, dataset.dir);
}

/**
 * Finds where a setting was written: the last source that has the path, else the
 * nearest ancestor that any source has (for settings filled in from defaults).
 */
export function locate(sources: readonly SourceFile[], path: readonly (string | number)[], part: 'key' | 'value'): Location {
  for (let n = path.length; n >= 0; n--) {
    const k = pathKey(path.slice(0, n));
    for (let i = sources.length - 1; i >= 0; i--) {
      const o = sources[i].origins.get(k);
      if (o) return (n === path.length && part === 'key' ? o.key : undefined) ?? (n === path.length ? o.value : o.key ?? o.value);
    }
  }
  const last = sources[sources.length - 1];
  return { file: last?.file ?? '?', line: 1, col: 1 };
}

function at(source: SourceFile, path: string[], part: 'key' | 'value', dotted: string, message: string): Diagnostic {
  return { location: locate([source], path, part), path: dotted, message };
}
