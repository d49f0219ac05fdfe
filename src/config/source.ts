// Reads a YAML file into plain data plus the line and column of every key and value,
// so that any later check can point at the exact place a setting was written.
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import { clip, type Diagnostic, type Location } from './diagnostics.js';
import { readConfigText } from './read.js';

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

/**
 * Alias expansions allowed in one file: a few anchors reused are plenty for a config, and
 * the cap stops an alias bomb (nested aliases that expand exponentially) from eating memory.
 */
export const MAX_ALIAS_COUNT = 100;

/** YAML syntax errors shown per file; a file with more is not the YAML it was meant to be. */
const MAX_SYNTAX_ERRORS = 10;

/** A YAML error message is the library's; the tokens it quotes are the user's, so it is cut short. */
const MAX_MESSAGE = 160;

/**
 * Parses YAML text; syntax errors come back as diagnostics, never thrown. A file with no
 * content (empty, or only comments) is an error: running it would silently train every default.
 */
export function parseSource(file: string, text: string): { source?: SourceFile; errors: Diagnostic[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): Location => {
    const p = lines.linePos(offset);
    return { file, line: p.line, col: p.col };
  };
  if (doc.errors.length > 0) return { errors: syntaxErrors(doc, file, at) };
  if (doc.contents === null) {
    return { errors: [{ location: { file, line: 1, col: 1 }, path: '', message: 'the file has no settings (it is empty or holds only comments); expected a map of settings' }] };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    if (!(err instanceof ReferenceError)) throw err;
    return {
      errors: [{
        location: at(aliasBombAt(doc)),
        path: '',
        message: `YAML aliases expand too far: more than ${MAX_ALIAS_COUNT} alias expansions in one file (nested aliases multiply, as in an alias bomb)`,
      }],
    };
  }
  const origins = new Map<string, Origin>();
  collectOrigins(doc.contents, [], origins, at);
  origins.set(pathKey([]), { value: at(doc.contents.range?.[0] ?? 0) });
  return { source: { file, data, origins }, errors: [] };
}

function syntaxErrors(doc: Document, file: string, at: (offset: number) => Location): Diagnostic[] {
  const shown: Diagnostic[] = doc.errors.slice(0, MAX_SYNTAX_ERRORS).map((e) => ({
    location: at(e.pos[0]),
    path: '',
    message: `YAML syntax error: ${clip(firstLine(e.message), MAX_MESSAGE)}`,
  }));
  const more = doc.errors.length - shown.length;
  if (more > 0) {
    const last = shown[shown.length - 1].location;
    shown.push({ location: { ...last, file }, path: '', message: `${more} more YAML syntax errors not shown` });
  }
  return shown;
}

/** Where an alias bomb starts: the first alias whose anchor itself holds aliases, else the first alias. */
function aliasBombAt(doc: Document): number {
  const aliases: { offset: number; nested: boolean }[] = [];
  const anchorsWithAliases = new Set<string>();
  visit(doc, {
    Node: (_key, node) => {
      if (node.anchor && !isAlias(node)) {
        let holds = false;
        visit(node as Node, { Alias: () => { holds = true; return visit.BREAK; } });
        if (holds) anchorsWithAliases.add(node.anchor);
      }
    },
  });
  visit(doc, { Alias: (_key, node) => { aliases.push({ offset: node.range?.[0] ?? 0, nested: anchorsWithAliases.has(node.source) }); } });
  return (aliases.find((a) => a.nested) ?? aliases[0])?.offset ?? 0;
}

/**
 * Reads an experiment (or sweep) file: bounded in size, regular files only, text only.
 * A problem reading it is one diagnostic at the file's first line; `readProblem` has the bare reason.
 */
export function readSource(file: string, display = file): { source?: SourceFile; errors: Diagnostic[]; readProblem?: string } {
  const read = readConfigText(file);
  if ('problem' in read) {
    return { errors: [{ location: { file: display, line: 1, col: 1 }, path: '', message: `cannot read experiment file: ${read.problem}` }], readProblem: read.problem };
  }
  return parseSource(display, read.text);
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
