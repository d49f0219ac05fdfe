// config/: experiment files to a validated, resolved experiment (schema, composition, rules, types).
//
// From an experiment file (plus --set overrides) to a validated, fully resolved experiment.
import { basename, extname, resolve } from 'node:path';
import { compose, setOwn, type Composed } from './compose.js';
import { ConfigError, type Diagnostic } from './diagnostics.js';
import { checkRules, checkWarnings } from './rules.js';
import { loadSchema, validateAgainst, type JsonSchema } from './schema.js';
import type { SourceFile } from './source.js';
import type { Experiment } from './types.js';

export interface LoadedExperiment {
  experiment: Experiment;
  /** Absolute paths of the files read: the file itself, then its parents. */
  files: string[];
  warnings: Diagnostic[];
  composed: Composed;
}

/** Loads and validates; throws ConfigError carrying every problem found. `extra`: see compose. */
export function loadExperiment(file: string, sets: readonly string[] = [], extra: readonly SourceFile[] = []): LoadedExperiment {
  const { value: composed, errors } = compose(file, sets, extra);
  if (!composed) throw new ConfigError(errors);
  const data = composed.data;
  const schemaErrors = validateAgainst('experiment.schema.json', data, composed.sources);
  if (data.name === null) data.name = basename(file, extname(file));
  delete data.extends; // consumed by composition; the schema's default put it back
  const experiment = orderBySchema(data, loadSchema('experiment.schema.json')) as unknown as Experiment;
  // Rules run even when the schema found problems, so the user sees every error at once;
  // a rule never reports on a setting the schema already rejected.
  const rejected = new Set(schemaErrors.map((d) => d.path));
  const ruleErrors = checkRules(experiment, composed.sources).filter((d) => !rejected.has(d.path));
  if (schemaErrors.length + ruleErrors.length > 0) throw new ConfigError([...schemaErrors, ...ruleErrors]);
  return { experiment, files: composed.files.map((f) => resolve(f)), warnings: checkWarnings(experiment, composed.sources), composed };
}

/** Puts keys in the schema's reading order at every level, so printed configs are easy to scan. */
export function orderBySchema(data: unknown, schema: JsonSchema): unknown {
  if (data === null || typeof data !== 'object' || Array.isArray(data) || !schema.properties) return data;
  const src = data as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, sub] of Object.entries(schema.properties)) if (Object.hasOwn(src, k)) out[k] = orderBySchema(src[k], sub);
  for (const k of Object.keys(src)) if (!Object.hasOwn(out, k)) setOwn(out, k, src[k]);
  return out;
}
