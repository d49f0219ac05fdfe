// From a sweep file to its members: each a fully resolved, validated experiment.
// Every problem, in the sweep file itself or in an override it applies to the base
// experiment, is reported at once at the place it was written (ConfigError).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import { compose, displayPath } from '../config/compose.js';
import { ConfigError, quote, type Diagnostic, type Location } from '../config/diagnostics.js';
import { loadExperiment } from '../config/load.js';
import { validateAgainst } from '../config/schema.js';
import { readConfigText } from '../config/read.js';
import { parseSource, pathKey, type SourceFile } from '../config/source.js';
import type { Experiment } from '../config/types.js';
import { flattenConfig } from '../config/flatten.js';
import { OverrideBuilder } from './overrides.js';

export interface SweepMember {
  /** Unique in the sweep: the variant's name, or the grid values, plus _seed-N. */
  name: string;
  experiment: Experiment;
  /** Of the resolved experiment less its tracking settings: a changed member is run again. */
  hash: string;
  /** The settings that make this member, as dotted keys (the common `set:` excluded). */
  overrides: Record<string, string>;
}

export interface SweepDefinition {
  name: string;
  description: string;
  /** Absolute path of the sweep file, and its text as written. */
  file: string;
  text: string;
  /** Absolute path of the base experiment file, and its name after the common settings. */
  experimentFile: string;
  baseName: string;
  kind: 'grid' | 'variants';
  members: SweepMember[];
  warnings: Diagnostic[];
}

interface RawSweep {
  name: string | null;
  description: string;
  experiment: string;
  set: Record<string, unknown>;
  grid?: Record<string, unknown[]>;
  variants?: Record<string, Record<string, unknown> | null>;
  seeds?: number[];
}

/** How to build one member's overrides, before seeds are applied. */
interface MemberPlan {
  name: string;
  anchor: Location;
  build: () => OverrideBuilder;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

type Locate = (path: (string | number)[], part?: 'key' | 'value') => Location;

/** Loads and validates a sweep file and every member; throws ConfigError with every problem. */
export function loadSweep(file: string): SweepDefinition {
  const abs = resolve(file);
  const { source, text } = readSweepSource(abs);
  const at = locator(source);
  const { raw, experimentFile, errors } = checkShape(source, abs, at);
  const builder = () => new OverrideBuilder(source, text.split('\n'));
  const common = builder().addMap(['set']);
  const plans = withSeeds(raw.grid ? gridPlans(raw.grid, builder, at) : variantPlans(raw.variants!, builder, at), raw.seeds, at);
  const found = new DiagnosticSet([...errors, ...common.errors, ...forbidden(common, raw.seeds !== undefined, 'set')]);
  const baseName = baseExperimentName(experimentFile, common.source());
  const members: SweepMember[] = [];
  const warnings = new DiagnosticSet();
  for (const plan of plans) {
    const own = plan.build();
    found.add([...own.errors, ...forbidden(own, raw.seeds !== undefined, 'member')]);
    const overrides = flattenConfig(own.data);
    if (!own.has(['name'])) own.addDerived(['name'], `${baseName}-${plan.name}`, plan.anchor);
    try {
      const loaded = loadExperiment(experimentFile, [], [common.source(), own.source()]);
      warnings.add(loaded.warnings);
      members.push({ name: plan.name, experiment: loaded.experiment, hash: memberHash(loaded.experiment), overrides });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      found.add(err.diagnostics);
    }
  }
  found.add(duplicateNames(plans));
  if (found.size > 0) throw new ConfigError(found.all());
  return {
    name: raw.name ?? basename(abs, extname(abs)),
    description: raw.description,
    file: abs,
    text,
    experimentFile,
    baseName,
    kind: raw.grid ? 'grid' : 'variants',
    members,
    warnings: warnings.all(),
  };
}

/**
 * The schema, then what it cannot say: the base experiment exists, there is a grid or
 * variants (not both), variant names are names. Throws when members cannot be built.
 */
function checkShape(source: SourceFile, abs: string, at: Locate): { raw: RawSweep; experimentFile: string; errors: Diagnostic[] } {
  const raw = source.data as RawSweep;
  const schemaErrors = validateAgainst('sweep.schema.json', raw, [source]);
  if (schemaErrors.length > 0) throw new ConfigError(schemaErrors);
  const errors: Diagnostic[] = [];
  const fail = (path: (string | number)[], part: 'key' | 'value', dotted: string, message: string) =>
    errors.push({ location: at(path, part), path: dotted, message });
  const experimentFile = resolve(dirname(abs), raw.experiment);
  const hasBase = existsSync(experimentFile);
  if (!hasBase) fail(['experiment'], 'value', 'experiment', `experiment file ${quote(String(raw.experiment))} not found (looked for ${displayPath(experimentFile)})`);
  if (raw.grid && raw.variants) fail(['variants'], 'key', 'variants', 'give either grid: or variants:, not both');
  if (!raw.grid && !raw.variants) fail([], 'value', '', 'expected grid: (values to combine) or variants: (named members); found neither');
  for (const name of Object.keys(raw.variants ?? {})) {
    if (!NAME.test(name)) fail(['variants', name], 'key', `variants.${name}`, `expected a variant name of letters, digits, '.', '_' and '-', starting with a letter or digit; found ${quote(name)}`);
  }
  if (!hasBase || !!raw.grid === !!raw.variants) throw new ConfigError(errors);
  return { raw, experimentFile, errors };
}

function locator(source: SourceFile): Locate {
  return (path, part = 'value') => {
    const o = source.origins.get(pathKey(path));
    return (part === 'key' ? o?.key : undefined) ?? o?.value ?? { file: source.file, line: 1, col: 1 };
  };
}

/** Diagnostics without repeats: members sharing a bad setting report it once. */
class DiagnosticSet {
  private readonly byKey = new Map<string, Diagnostic>();

  constructor(ds: Diagnostic[] = []) {
    this.add(ds);
  }

  add(ds: Diagnostic[]): void {
    for (const d of ds) this.byKey.set(`${d.location.file}:${d.location.line}:${d.location.col}:${d.path}:${d.message}`, d);
  }

  get size(): number {
    return this.byKey.size;
  }

  all(): Diagnostic[] {
    return [...this.byKey.values()];
  }
}

function readSweepSource(abs: string): { source: SourceFile; text: string } {
  const display = displayPath(abs);
  const read = readConfigText(abs);
  if ('problem' in read) {
    throw new ConfigError([{ location: { file: display, line: 1, col: 1 }, path: '', message: `cannot read sweep file: ${read.problem}` }]);
  }
  const text = read.text;
  const { source, errors } = parseSource(display, text);
  if (!source) throw new ConfigError(errors);
  const top = source.data;
  if (top === null || typeof top !== 'object' || Array.isArray(top)) {
    throw new ConfigError([{ location: source.origins.get(pathKey([]))!.value, path: '', message: 'expected a map with experiment: and grid: or variants: at the top level' }]);
  }
  return { source, text };
}

function variantPlans(variants: Record<string, Record<string, unknown> | null>, builder: () => OverrideBuilder, at: Locate): MemberPlan[] {
  // A badly named variant is reported on its own; its derived experiment name would only repeat it.
  return Object.keys(variants).filter((name) => NAME.test(name)).map((name) => ({
    name,
    anchor: at(['variants', name], 'key'),
    build: () => builder().addMap(['variants', name]),
  }));
}

/** Every combination of the grid's values, the first key varying slowest. */
function gridPlans(grid: Record<string, unknown[]>, builder: () => OverrideBuilder, at: Locate): MemberPlan[] {
  let combos: { key: string; index: number }[][] = [[]];
  for (const [key, values] of Object.entries(grid)) {
    combos = combos.flatMap((c) => values.map((_, index) => [...c, { key, index }]));
  }
  return combos.map((combo) => ({
    name: combo.map(({ key, index }) => `${shortKey(key)}-${slug(grid[key][index])}`).join('_'),
    anchor: at(['grid'], 'key'),
    build: () => {
      const b = builder();
      for (const { key, index } of combo) b.addKey([], ['grid', key], key, grid[key][index], ['grid', key, index]);
      return b;
    },
  }));
}

function withSeeds(plans: MemberPlan[], seeds: number[] | undefined, at: Locate): MemberPlan[] {
  if (!seeds) return plans;
  return plans.flatMap((p) =>
    seeds.map((seed, i) => ({
      name: `${p.name}_seed-${seed}`,
      anchor: p.anchor,
      build: () => p.build().addDerived(['seed'], seed, at(['seeds', i])),
    })),
  );
}

/** model.blocks.count -> blocks.count: the section adds length, not meaning. */
const shortKey = (key: string): string => (key.includes('.') ? key.slice(key.indexOf('.') + 1) : key);

function slug(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  // A leading '-' stays: -1 and 1 must not give the same name.
  return text.replace(/[^A-Za-z0-9.-]+/g, '-').replace(/-+$/, '') || 'x';
}

/** Settings a sweep decides itself, or that must be the same for every member. */
function forbidden(b: OverrideBuilder, hasSeeds: boolean, where: 'set' | 'member'): Diagnostic[] {
  const out: Diagnostic[] = [];
  const flag = (path: string[], message: string) => {
    const o = b.origin(path);
    if (o) out.push({ location: o.key ?? o.value, path: path.join('.'), message });
  };
  flag(['extends'], 'a sweep cannot change extends; name the base experiment in experiment:');
  if (hasSeeds) flag(['seed'], 'the seed is chosen by seeds: in this sweep; remove one of the two');
  if (where === 'member') flag(['tracking'], 'tracking applies to the whole sweep (one MLflow parent run); put it under set: or in the base experiment');
  return out;
}

function duplicateNames(plans: MemberPlan[]): Diagnostic[] {
  const names = plans.map((p) => p.name);
  const twice = [...new Set(names.filter((n, i) => names.indexOf(n) !== i))];
  if (twice.length === 0) return [];
  const shown = twice.slice(0, 3).map((n) => JSON.stringify(n)).join(', ') + (twice.length > 3 ? `, and ${twice.length - 3} more` : '');
  return [{ location: plans[0].anchor, path: 'grid', message: `several members would be named ${shown}: make the grid's values tell them apart` }];
}

/** The base experiment's name after the common settings, the prefix of member names. */
function baseExperimentName(experimentFile: string, common: SourceFile): string {
  const name = compose(experimentFile, [], [common]).value?.data.name;
  return typeof name === 'string' && name ? name : basename(experimentFile, extname(experimentFile));
}

export function memberHash(e: Experiment): string {
  const { tracking: _tracking, ...rest } = e;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 16);
}
