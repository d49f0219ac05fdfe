// Schema validation with ajv, translated into located, readable diagnostics.
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { closest, distance } from 'fastest-levenshtein';
import { describeValue, quote, type Diagnostic } from './diagnostics.js';
import { locate } from './compose.js';
import type { SourceFile } from './source.js';

export type JsonSchema = {
  type?: string | string[];
  description?: string;
  properties?: Record<string, JsonSchema>;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  default?: unknown;
  items?: JsonSchema;
  'x-expected'?: string;
  [k: string]: unknown;
};

export function loadSchema(name: string): JsonSchema {
  return JSON.parse(readFileSync(new URL(`../../schemas/${name}`, import.meta.url), 'utf8')) as JsonSchema;
}

const compiled = new Map<string, { schema: JsonSchema; validate: ValidateFunction }>();

/** Compiles a schema under schemas/ once. Defaults are filled in as it validates. */
export function schemaValidator(name: string): { schema: JsonSchema; validate: ValidateFunction } {
  let entry = compiled.get(name);
  if (!entry) {
    const schema = loadSchema(name);
    const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: true, allowUnionTypes: true });
    ajv.addKeyword({ keyword: 'x-expected', schemaType: 'string' }); // annotation only: the wording of "expected ..."
    entry = { schema, validate: ajv.compile(schema) };
    compiled.set(name, entry);
  }
  return entry;
}

/** Validates `data` in place (filling defaults) and returns every problem with its location. */
export function validateAgainst(name: string, data: unknown, sources: readonly SourceFile[]): Diagnostic[] {
  const { schema, validate } = schemaValidator(name);
  if (validate(data)) return [];
  const seen = new Set<string>();
  const out: Diagnostic[] = [];
  for (const e of validate.errors ?? []) {
    const d = translate(e, schema, sources);
    const id = `${d?.path}\u0000${d?.message}`;
    if (d && !seen.has(id)) {
      seen.add(id);
      out.push(d);
    }
  }
  return out;
}

function translate(e: ErrorObject, root: JsonSchema, sources: readonly SourceFile[]): Diagnostic | null {
  const path = pointerToPath(e.instancePath);
  if (e.keyword === 'additionalProperties') {
    const key = String((e.params as { additionalProperty: string }).additionalProperty);
    const allowed = Object.keys((e.parentSchema as JsonSchema).properties ?? {});
    const full = [...path, key];
    return {
      location: locate(sources, full, 'key'),
      path: full.join('.'),
      message: `unknown key ${quote(key)}; ${suggest(key, allowed, path, root)}`,
    };
  }
  if (e.keyword === 'if') return null; // the failing `then` branch reports the real problem
  if (e.keyword === 'required') {
    const key = String((e.params as { missingProperty: string }).missingProperty);
    return { location: locate(sources, path, 'key'), path: [...path, key].join('.'), message: `is required here; ${e.message}` };
  }
  const schema = (e.keyword === 'type' || e.keyword in VALUE_KEYWORDS ? e.parentSchema : undefined) as JsonSchema | undefined;
  // A length rule is said as such: the x-expected wording of a name describes its characters, not its length.
  const expected =
    e.keyword === 'maxLength' || e.keyword === 'minLength'
      ? lengthWords(schema!)
      : schema ? describeSchema(schema) : (e.message ?? 'a valid value');
  return {
    location: locate(sources, path, 'value'),
    path: path.join('.'),
    message: `expected ${expected}; found ${describeValue(e.data)}`,
  };
}

const VALUE_KEYWORDS: Record<string, true> = {
  enum: true, minimum: true, maximum: true, exclusiveMinimum: true, exclusiveMaximum: true,
  minLength: true, maxLength: true, pattern: true, multipleOf: true, const: true,
  // Sizes of lists and maps: schemas using these give the wording in x-expected.
  minItems: true, maxItems: true, uniqueItems: true, minProperties: true, maxProperties: true,
};

/** "did you mean ...?" from the keys allowed here, else from the same key elsewhere in the schema. */
function suggest(key: string, allowed: string[], path: string[], root: JsonSchema): string {
  if (allowed.length > 0) {
    const near = closest(key, allowed);
    if (distance(key, near) <= Math.max(2, Math.floor(key.length / 3))) return `did you mean ${JSON.stringify(near)}?`;
  }
  const elsewhere = allPaths(root).filter((p) => p[p.length - 1] === key && p.slice(0, -1).join('.') !== path.join('.'));
  if (elsewhere.length > 0) return `did you mean ${elsewhere.map((p) => p.join('.')).join(' or ')}?`;
  const here = path.length ? `under ${path.join('.')}` : 'at the top level';
  return `expected one of the keys allowed ${here}: ${allowed.join(', ')}`;
}

function allPaths(schema: JsonSchema, prefix: string[] = []): string[][] {
  return Object.entries(schema.properties ?? {}).flatMap(([k, sub]) => [[...prefix, k], ...allPaths(sub, [...prefix, k])]);
}

function pointerToPath(pointer: string): string[] {
  if (!pointer) return [];
  return pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** A schema in words: "an integer from 2 to 256", "one of "A", "B"", "true or false". */
export function describeSchema(s: JsonSchema): string {
  if (s['x-expected']) return s['x-expected'];
  const types = (Array.isArray(s.type) ? s.type : [s.type ?? 'any']).filter((t) => t !== 'null');
  const nullable = Array.isArray(s.type) && s.type.includes('null') ? ', or null' : '';
  if (s.enum) return `one of ${s.enum.map((v) => JSON.stringify(v)).join(', ')}${nullable}`;
  const words = types.map((t) => typeWords(t, s)).join(' or ');
  return `${words}${nullable}`;
}

function typeWords(type: string, s: JsonSchema): string {
  switch (type) {
    case 'integer':
      return `an integer${range(s)}`;
    case 'number':
      return `a number${range(s)}`;
    case 'boolean':
      return 'true or false';
    case 'object':
      return 'a map of settings';
    case 'array':
      return 'a list';
    case 'string':
      return s.maxLength !== undefined ? lengthWords(s) : s.minLength ? 'a non-empty string' : 'a string';
    default:
      return type;
  }
}

/** "a string of at most 5000 characters", "a string of 1 to 100 characters", "a non-empty string". */
function lengthWords(s: JsonSchema): string {
  const lo = s.minLength ?? 0;
  const hi = s.maxLength;
  if (hi === undefined) return lo > 1 ? `a string of at least ${lo} characters` : 'a non-empty string';
  return lo > 0 ? `a string of ${lo} to ${hi} characters` : `a string of at most ${hi} characters`;
}

function range(s: JsonSchema): string {
  const lo = s.minimum ?? s.exclusiveMinimum;
  const hi = s.maximum ?? s.exclusiveMaximum;
  const loIncl = s.minimum !== undefined;
  const hiIncl = s.maximum !== undefined;
  if (lo !== undefined && hi !== undefined && loIncl && hiIncl) return ` from ${lo} to ${hi}`;
  const parts: string[] = [];
  if (lo !== undefined) parts.push(loIncl ? `at least ${lo}` : `greater than ${lo}`);
  if (hi !== undefined) parts.push(hiIncl ? `at most ${hi}` : `less than ${hi}`);
  return parts.length ? ` ${parts.join(' and ')}` : '';
}
