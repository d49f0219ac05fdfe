// What an edited config.yaml may change when a run is resumed. The run folder keeps the
// resolved experiment as it was created (config.original.json); a resume compares config.yaml
// with it and refuses any change to what the checkpoint means (model, data, seed, optimiser,
// batch size), naming each changed key with its old and new value. Documented in README.md.
import { ConfigError, type Diagnostic } from '../config/diagnostics.js';
import { locate } from '../config/compose.js';
import type { SourceFile } from '../config/source.js';
import type { Experiment } from '../config/types.js';
import { schemaValidator } from '../config/schema.js';

/**
 * Settings a resumed run may change: how long it trains, how often it evaluates, samples and
 * checkpoints, how it samples, where it reports, the description, and how the same arithmetic
 * is carried out (backend, recomputing blocks). A key is safe when it or a parent is listed.
 */
export const RESUME_SAFE_KEYS = [
  'description',
  'backend',
  'train.epochs',
  'train.steps',
  'train.recompute',
  'train.eval_every',
  'train.checkpoint_every',
  'train.keep_checkpoints',
  'train.sample_every',
  'train.log_every',
  'sample',
  'tracking',
] as const;

/**
 * What config.original.json records: the resolved experiment without `tracking`, which a
 * resume may change anyway and whose URI may carry credentials that must stay out of the run folder.
 */
export function recordedMeaning(experiment: Omit<Experiment, 'tracking'> & { tracking?: unknown }): Omit<Experiment, 'tracking'> {
  const { tracking: _tracking, ...rest } = experiment;
  return rest;
}

export interface ConfigChange {
  path: string;
  before: unknown;
  after: unknown;
}

/** Leaf keys whose values differ between two resolved experiments (a key present in only one counts). */
export function configChanges(before: unknown, after: unknown, prefix = ''): ConfigChange[] {
  // A dozen lines of recursion over plain JSON values; a diff library would add a dependency for no gain.
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys.flatMap((k) => configChanges(before[k], after[k], prefix ? `${prefix}.${k}` : k));
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [{ path: prefix, before, after }];
}

export const isResumeSafe = (path: string): boolean => RESUME_SAFE_KEYS.some((k) => path === k || path.startsWith(`${k}.`));

/**
 * Throws a ConfigError located in config.yaml for every change a resume cannot make; returns
 * the safe changes, for the run to announce.
 */
export function checkResumeConfig(original: Omit<Experiment, 'tracking'>, current: Experiment, sources: readonly SourceFile[]): ConfigChange[] {
  const changes = configChanges(withNewDefaults(original), recordedMeaning(current));
  // A cosine schedule spans the run: a new length would change the rate of every step already taken.
  const fixesLength = current.train.lr_schedule.name === 'cosine';
  const lengthFixed = (path: string) => fixesLength && (path === 'train.steps' || path === 'train.epochs');
  const refused = changes.filter((c) => !isResumeSafe(c.path) || lengthFixed(c.path));
  if (refused.length) {
    const diagnostics: Diagnostic[] = refused.map((c) => ({
      location: locate(sources, c.path.split('.'), 'value'),
      path: c.path,
      message: lengthFixed(c.path)
        ? `changed since the run was created (${show(c.before)} -> ${show(c.after)}); the cosine learning-rate schedule (train.lr_schedule) spans the run's length, ` +
          'so its checkpoints were trained on the rates of the old length. Put it back, or start a new run'
        : `changed since the run was created (${show(c.before)} -> ${show(c.after)}); its checkpoints were trained with the old value. ` +
          'Put it back, or start a new run with the new value',
    }));
    throw new ConfigError(diagnostics);
  }
  return changes;
}

/**
 * The recorded experiment with the defaults of settings added to the schema since it was
 * recorded (model.conditioning, sample.classes): a run from before a setting existed had its
 * default, so a resume sees no change there.
 */
function withNewDefaults(original: Omit<Experiment, 'tracking'>): Omit<Experiment, 'tracking'> {
  const copy = structuredClone(original) as Record<string, unknown>;
  schemaValidator('experiment.schema.json').validate(copy); // fills in defaults (useDefaults); errors do not matter here
  if (!('extends' in original)) delete copy.extends; // consumed when the experiment was composed
  return recordedMeaning(copy as unknown as Experiment);
}

export const show = (v: unknown): string => (v === undefined ? 'unset' : JSON.stringify(v));
