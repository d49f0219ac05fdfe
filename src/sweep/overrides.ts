// A sweep's overrides as experiment sources: dotted keys expanded into nested settings,
// with every key and value still pointing at where it was written in the sweep file, so
// the experiment schema and rules report problems there.
import { quote, type Diagnostic, type Location } from '../config/diagnostics.js';
import { pathKey, type Origin, type SourceFile } from '../config/source.js';

type Path = (string | number)[];

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Collects override settings from places in one parsed sweep file. */
export class OverrideBuilder {
  readonly data: Record<string, unknown> = {};
  readonly origins = new Map<string, Origin>();
  readonly errors: Diagnostic[] = [];
  /** Settings the sweep derived (a member's name, its seed) rather than read. */
  private readonly derived = new Set<string>();

  constructor(
    private readonly sweep: SourceFile,
    private readonly lines: string[],
  ) {}

  /** Adds every setting of the map written at `at` in the sweep file (e.g. ['set']). */
  addMap(at: Path): this {
    const value = valueAt(this.sweep.data, at);
    if (isMap(value)) for (const [k, v] of Object.entries(value)) this.addKey([], [...at, k], k, v);
    return this;
  }

  /** Adds `key: value`, the key written at `keyAt` and the value at `valueAt` in the sweep file. */
  addKey(prefix: string[], keyAt: Path, key: string, value: unknown, valueAt: Path = keyAt): this {
    const segments = key.split('.');
    const origin = this.sweep.origins.get(pathKey(keyAt));
    const keyLoc = origin?.key ?? origin?.value ?? this.fallback();
    if (segments.some((s) => s === '')) {
      this.errors.push({ location: keyLoc, path: key, message: `expected a key or a dotted key path such as model.hidden; found ${quote(key)}` });
      return this;
    }
    const quoted = /["']/.test(this.lines[keyLoc.line - 1]?.[keyLoc.col - 1] ?? '') ? 1 : 0;
    const valueLoc = this.sweep.origins.get(pathKey(valueAt))?.value ?? keyLoc;
    let col = keyLoc.col + quoted;
    segments.forEach((_, i) => {
      const path = [...prefix, ...segments.slice(0, i + 1)];
      this.origins.set(pathKey(path), { key: { ...keyLoc, col }, value: valueLoc });
      col += segments[i].length + 1;
    });
    this.place([...prefix, ...segments], valueAt, value);
    return this;
  }

  /** Sets a derived setting (a member's name, its seed), located at `at` in the sweep file. */
  addDerived(path: string[], value: unknown, at: Location): this {
    // Written in the file too: it stays located (and counted as written) there.
    if (!this.has(path)) {
      path.forEach((_, i) => {
        const k = pathKey(path.slice(0, i + 1));
        if (!this.origins.has(k)) this.origins.set(k, { key: at, value: at });
      });
      this.derived.add(pathKey(path));
    }
    setIn(this.data, path, value);
    return this;
  }

  /** Whether the sweep file wrote this setting (derived ones do not count). */
  has(path: string[]): boolean {
    return this.origin(path) !== undefined;
  }

  /** Where the sweep file wrote a setting, when it did. */
  origin(path: string[]): Origin | undefined {
    const k = pathKey(path);
    return this.derived.has(k) ? undefined : this.origins.get(k);
  }

  source(): SourceFile {
    this.origins.set(pathKey([]), { value: this.sweep.origins.get(pathKey([]))?.value ?? this.fallback() });
    return { file: this.sweep.file, data: this.data, origins: this.origins };
  }

  /** Maps recurse (their keys may be dotted too); anything else is set as it is. */
  private place(target: string[], at: Path, value: unknown): void {
    if (isMap(value)) {
      if (!isMap(valueAt(this.data, target))) setIn(this.data, target, {});
      for (const [k, v] of Object.entries(value)) this.addKey(target, [...at, k], k, v);
      return;
    }
    setIn(this.data, target, structuredClone(value));
    // Lists keep the places of their items, for errors about one item.
    const prefix = `${pathKey(at)}\u0000`;
    for (const [k, o] of this.sweep.origins) {
      if (k.startsWith(prefix)) this.origins.set(pathKey([...target, ...k.slice(prefix.length).split('\u0000')]), o);
    }
  }

  private fallback(): Location {
    return { file: this.sweep.file, line: 1, col: 1 };
  }
}

export function valueAt(data: unknown, path: Path): unknown {
  let node = data;
  for (const seg of path) node = node !== null && typeof node === 'object' ? (node as Record<string | number, unknown>)[seg] : undefined;
  return node;
}

function setIn(data: Record<string, unknown>, path: string[], value: unknown): void {
  let node = data;
  for (const seg of path.slice(0, -1)) {
    if (!isMap(node[seg])) node[seg] = {};
    node = node[seg] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}
