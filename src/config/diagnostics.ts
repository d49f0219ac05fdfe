// Configuration problems, each pinned to the place in a file where it was written.

/** A place in a source: a file (or a --set argument) and a 1-based line and column. */
export interface Location {
  file: string;
  line: number;
  col: number;
}

export interface Diagnostic {
  location: Location;
  /** Dotted key path the problem is about, e.g. "model.hidden"; "" for the whole file. */
  path: string;
  message: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = `${clip(d.location.file, 200)}:${d.location.line}:${d.location.col}`;
  return d.path ? `${where}: ${clip(d.path, 200)}: ${d.message}` : `${where}: ${d.message}`;
}

/** Longest text of the user's shown whole in a message; longer ones are cut to a prefix. */
export const QUOTE_LIMIT = 60;

/** A string as JSON, cut to its first `max` characters (and its length said) when longer. */
export function quote(text: string, max = QUOTE_LIMIT): string {
  if (text.length <= max) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, max))}… (${text.length.toLocaleString('en-US')} characters)`;
}

/** Free text cut to `max` characters, for messages that embed it unquoted. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length.toLocaleString('en-US')} characters)`;
}

/** Thrown with every problem found at once; the CLI prints them and exits with status 2. */
export class ConfigError extends Error {
  readonly diagnostics: Diagnostic[];

  constructor(diagnostics: Diagnostic[]) {
    const sorted = sortDiagnostics(diagnostics);
    super(sorted.map(formatDiagnostic).join('\n'));
    this.name = 'ConfigError';
    this.diagnostics = sorted;
  }
}

function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  return [...ds].sort(
    (a, b) =>
      a.location.file.localeCompare(b.location.file) ||
      a.location.line - b.location.line ||
      a.location.col - b.location.col,
  );
}

/** Describes a found value for messages: `300`, `the string "abc"`, `a list`. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string') return `the string ${quote(value)}`;
  return String(value);
}
