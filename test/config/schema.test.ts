// The schema is the single source of truth: complete, strict, and in step with the types and the docs.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadSchema, type JsonSchema } from '../../src/config/schema.js';
import { renderSchemaDocs } from '../../src/config/docs.js';

const schema = loadSchema('experiment.schema.json');

function walk(s: JsonSchema, path: string[], visit: (s: JsonSchema, path: string[]) => void): void {
  visit(s, path);
  for (const [k, sub] of Object.entries(s.properties ?? {})) walk(sub, [...path, k], visit);
}

describe('experiment schema', () => {
  it('gives every property a description, a type, a default and bounds', () => {
    const problems: string[] = [];
    walk(schema, [], (s, path) => {
      const at = path.join('.') || '(root)';
      if (!s.description) problems.push(`${at}: no description`);
      if (!s.type) problems.push(`${at}: no type`);
      if (path.length > 0 && !('default' in s)) problems.push(`${at}: no default`);
      const types = [s.type].flat();
      if (types.includes('object') && s.additionalProperties !== false) problems.push(`${at}: additionalProperties is not false`);
      if ((types.includes('integer') || types.includes('number')) && !s.enum) {
        if (s.minimum === undefined && s.exclusiveMinimum === undefined) problems.push(`${at}: no lower bound`);
        if (s.maximum === undefined && s.exclusiveMaximum === undefined) problems.push(`${at}: no upper bound`);
      }
      if (types.includes('string') && !s.enum && s.maxLength === undefined && !s.pattern) problems.push(`${at}: unbounded string`);
    });
    expect(problems).toEqual([]);
  });

  it('has the generated reference in docs/ up to date', () => {
    const onDisk = readFileSync(new URL('../../docs/experiment-reference.md', import.meta.url), 'utf8');
    expect(onDisk).toBe(renderSchemaDocs(schema));
  });
});
