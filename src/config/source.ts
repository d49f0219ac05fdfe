// Reads a YAML file into plain data plus the line and column of every key and value,
// so that any later check can point at the exact place a setting was written.
import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import type { Diagnostic, Location } from './diagnostics.js';

/** Where one setting was written: its key (absent for list items) and its value. */
export interface Origin {
  key?: Location;
  value: Location;
}

export interface SourceFile {
  file: string; // as given by the user, for messages
  data: unknown;
  /** JSON-pointer-like key: path segments joined by "\u0000". */
  origins: Map<string, Origin>;
}

export const pathKey = (path: readonly (string | number)[]): string => path.join('\u0000');

/** Parses YAML text; syntax errors come back as diagnostics, never thrown. */
export function parseSource(file: string, text: string): { source?: SourceFile; errors: Diagnostic[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): Location => {
    const p = lines.linePos(offset);
    return { file, line: p.line, col: p.col };
  };
  if (doc.errors.length > 0) {
    return {
      errors: doc.errors.map((e) => ({
        location: at(e.pos[0]),
        path: '',
        message: `YAML syntax error: ${firstLine(e.message)}`,
      })),
    };
  }
  const origins = new Map<string, Origin>();
  if (doc.contents) collectOrigins(doc.contents, [], origins, at);
  origins.set(pathKey([]), { value: at(doc.contents?.range?.[0] ?? 0) });
  return { source: { file, data: doc.toJS() ?? {}, origins }, errors: [] };
}

export function readSource(file: string, display = file): { source?: SourceFile; errors: Diagnostic[] } {
  const text = readText(file, display, 'experiment');
  return typeof text === 'string' ? parseSource(display, text) : { errors: [text] };
}

/** A YAML file's text, or why it cannot be read as a diagnostic at its first line ("cannot read sweep file: no such file"). */
export function readText(file: string, display: string, what: string): string | Diagnostic {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, expected a YAML file' : (err as Error).message;
    return { location: { file: display, line: 1, col: 1 }, path: '', message: `cannot read ${what} file: ${why}` };
  }
}

function collectOrigins(
  node: Node,
  path: (string | number)[],
  out: Map<string, Origin>,
  at: (offset: number) => Location,
): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      const keyNode = pair.key as Node | null;
      const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
      const valueNode = pair.value as Node | null;
      const keyAt = at(keyNode?.range?.[0] ?? 0);
      const childPath = [...path, key];
      // A key with no value (`key:`) points its value at the key itself.
      out.set(pathKey(childPath), { key: keyAt, value: valueNode?.range ? at(valueNode.range[0]) : keyAt });
      if (valueNode) collectOrigins(valueNode, childPath, out, at);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const itemNode = item as Node;
      const childPath = [...path, i];
      out.set(pathKey(childPath), { value: at(itemNode?.range?.[0] ?? 0) });
      if (itemNode) collectOrigins(itemNode, childPath, out, at);
    });
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
}
