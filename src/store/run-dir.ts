// store/: the local run store, a folder per run, kept by a run subscriber.
//
// The local run store: one folder per run under runs/<experiment>/<run id>/ holding the
// resolved config, every event in metrics.jsonl, sample PNGs, checkpoints and summary.json.
import { accessSync, appendFileSync, constants, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse, stringify } from 'yaml';
import { schemaValidator } from '../config/schema.js';
import type { Experiment } from '../config/types.js';
import { eventLine, type RunEvent, type RunListener, type RunSummary } from '../events/run-events.js';
import { writeFileAtomic } from '../util/files.js';
import { recordedMeaning } from './resume-config.js';

export const DEFAULT_RUNS_DIR = 'runs';

export interface RunPaths {
  id: string;
  dir: string;
  config: string;
  metrics: string;
  summary: string;
  /** The resolved experiment as the run was created, to tell what an edited config.yaml changed. */
  original: string;
  samples: string;
  checkpoints: string;
  /** Which training images were held out as the validation set (dataset.validation), when there is one. */
  validation: string;
  /** What the run's images are (run.json): `pxl sample` reads it instead of the dataset. */
  info: string;
}

/** The images a run trains on, recorded when the run is created (run.json). */
export interface RunImages {
  height: number;
  width: number;
  channels: number;
  /** Colour levels per channel (model.color_levels). */
  levels: number;
  /** Class names by label, where the dataset names its classes (cifar10, images with class folders). */
  classes?: string[] | null;
}

export function runPaths(dir: string): RunPaths {
  const abs = resolve(dir);
  return {
    id: abs.split('/').pop()!,
    dir: abs,
    config: join(abs, 'config.yaml'),
    metrics: join(abs, 'metrics.jsonl'),
    summary: join(abs, 'summary.json'),
    original: join(abs, 'config.original.json'),
    samples: join(abs, 'samples'),
    checkpoints: join(abs, 'checkpoints'),
    validation: join(abs, 'validation.json'),
    info: join(abs, 'run.json'),
  };
}

/** A sortable, readable, unique id: 20261130-034512-3f2a. */
export function newRunId(now = new Date()): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${t}-${randomBytes(2).toString('hex')}`;
}

/**
 * Creates runs/<experiment>/<id>/ with the resolved config and what its images are (run.json);
 * called only once everything has validated.
 */
export function createRun(runsRoot: string, experiment: Experiment, images: RunImages): RunPaths {
  const paths = runPaths(join(runsRoot, experiment.name, newRunId()));
  storeWrite(paths.dir, () => {
    mkdirSync(paths.samples, { recursive: true });
    mkdirSync(paths.checkpoints, { recursive: true });
  });
  writeRunImages(paths, images);
  storeWrite(paths.original, () => writeFileAtomic(paths.original, `${JSON.stringify(recordedMeaning(experiment), null, 2)}\n`));
  storeWrite(paths.config, () =>
    writeFileAtomic(paths.config, `# resolved experiment; \`pxl run --resume ${paths.dir}\` continues it\n${stringify(experiment, { lineWidth: 0 })}`),
  );
  return paths;
}

/**
 * Why runs cannot be stored under `runsRoot`, or null when they can: checked before any data
 * is loaded. The root need not exist yet; its nearest existing ancestor must be a writable folder.
 */
export function runsRootProblem(runsRoot: string): string | null {
  let dir = resolve(runsRoot);
  while (!existsSync(dir)) dir = dirname(dir);
  if (!statSync(dir).isDirectory()) {
    return dir === resolve(runsRoot) ? `${runsRoot} is a file, not a folder` : `${runsRoot} cannot be created: ${dir} is a file, not a folder`;
  }
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    return `${dir} is not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  return null;
}

export class RunStoreError extends Error {
  override name = 'RunStoreError';
}

/** Reads a run folder back: its resolved config and, when present, its summary. */
export function readRun(dir: string): { paths: RunPaths; experiment: Experiment; summary: RunSummary | null } {
  const paths = runPaths(dir);
  if (!existsSync(paths.config)) throw new RunStoreError(`${dir} is not a pxl run folder (no config.yaml)`);
  const experiment = readJsonOrYaml(paths.config, (t) => parse(t) as Experiment);
  return { paths, experiment, summary: readSummary(paths) };
}

/** summary.json, or null while the run has none (running, or killed before it could write one). */
export function readSummary(paths: RunPaths): RunSummary | null {
  return existsSync(paths.summary) ? readJsonOrYaml(paths.summary, (t) => JSON.parse(t) as RunSummary) : null;
}

/**
 * The resolved experiment recorded when the run was created; null for runs from before it was
 * recorded. Settings added to the schema since then get their defaults, as config.yaml does
 * when it is resolved again, so that a new key is not taken for a change.
 */
export function readOriginal(paths: RunPaths): Omit<Experiment, 'tracking'> | null {
  if (!existsSync(paths.original)) return null;
  const original = readJsonOrYaml(paths.original, (t) => JSON.parse(t) as Omit<Experiment, 'tracking'>);
  schemaValidator('experiment.schema.json').validate(original); // fills defaults in place; the run's own check reports real problems
  delete (original as { extends?: unknown }).extends; // consumed when the run was created, as loadExperiment does; the default put it back
  return recordedMeaning(original as Experiment);
}

/** Records the run's image shape and colour levels in run.json. */
export function writeRunImages(paths: RunPaths, images: RunImages): void {
  const { height, width, channels, levels, classes } = images;
  const info = { image: { height, width, channels }, levels, ...(classes ? { classes } : {}) };
  storeWrite(paths.info, () => writeFileAtomic(paths.info, `${JSON.stringify(info, null, 2)}\n`));
}

/**
 * The run's image shape and colour levels from run.json; null for runs created before pxl
 * recorded them (their dataset tells). A run.json that does not hold them is a RunStoreError.
 */
export function readRunImages(paths: RunPaths): RunImages | null {
  if (!existsSync(paths.info)) return null;
  const info = readJsonOrYaml(paths.info, (t) => JSON.parse(t) as { image?: Partial<RunImages>; levels?: unknown });
  const { height, width, channels } = info.image ?? {};
  const images = { height, width, channels, levels: info.levels };
  const bad = Object.entries(images).filter(([, v]) => !Number.isSafeInteger(v) || (v as number) < 1).map(([k]) => (k === 'levels' ? k : `image.${k}`));
  if (bad.length) throw new RunStoreError(`${paths.info}: ${bad.join(', ')} must be positive integers; the file is corrupt`);
  return images as RunImages;
}

function readJsonOrYaml<T>(file: string, parseText: (text: string) => T): T {
  try {
    return parseText(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new RunStoreError(`${file}: ${(err as Error).message.split('\n')[0]}`);
  }
}

/**
 * Events of metrics.jsonl, in order. A crash can leave the last line half-written (no newline
 * after it): that line is dropped, and `warn` says so. A line that does not parse anywhere else
 * means the file is corrupt: an error naming the file and line.
 */
export function readEvents(paths: RunPaths, warn: (message: string) => void = warnOnStderr): Record<string, unknown>[] {
  if (!existsSync(paths.metrics)) return [];
  const lines = readFileSync(paths.metrics, 'utf8').split('\n');
  const torn = lines.length - 1; // index of the text after the last newline ('' when the file ends with one)
  const events: Record<string, unknown>[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      if (i !== torn) throw new RunStoreError(`${paths.metrics}:${i + 1}: not a JSON event (${JSON.stringify(line.slice(0, 60))}); the file is corrupt`);
      warn(`${paths.metrics}:${i + 1}: dropped a half-written last line (the run was most likely killed while writing it)`);
    }
  });
  return events;
}

const warned = new Set<string>();
/** Once per message: a command may read the same metrics.jsonl more than once (results, then curves). */
function warnOnStderr(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  process.stderr.write(`pxl: warning: ${message}\n`);
}

/**
 * Drops recorded events after `step` (a resumed run repeats them from its checkpoint), so
 * metrics.jsonl of a resumed run reads like that of an uninterrupted one. A half-written last
 * line goes too (readEvents warned about it when the resume was prepared).
 */
export function truncateEvents(paths: RunPaths, step: number): void {
  if (!existsSync(paths.metrics)) return;
  const kept = readEvents(paths, () => {})
    .filter((e) => e.type !== 'end' && (e.step === undefined || (e.step as number) <= step))
    .map((e) => JSON.stringify(e));
  storeWrite(paths.metrics, () => writeFileAtomic(paths.metrics, kept.length ? `${kept.join('\n')}\n` : ''));
}

/**
 * Removes what an interrupted write left in the run folder: checkpoint folders still under
 * their temporary name (`checkpoints/.tmp-*`, left when the process died or the disk filled
 * while writing one). Called with the run's lock held, so no other process is writing them.
 */
export function removeLeftovers(paths: RunPaths): string[] {
  if (!existsSync(paths.checkpoints)) return [];
  const left = readdirSync(paths.checkpoints).filter((n) => n.startsWith('.tmp-'));
  for (const n of left) storeWrite(join(paths.checkpoints, n), () => rmSync(join(paths.checkpoints, n), { recursive: true, force: true }));
  return left;
}

/** Runs a write of the run store; a failure becomes a RunStoreError naming the file and the OS error. */
export function storeWrite<T>(file: string, write: () => T): T {
  try {
    return write();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new RunStoreError(`could not write ${file}: ${e.code ? `${e.code} (${e.message.replace(/^[A-Z]+: /, '')})` : e.message}`);
  }
}

/**
 * The subscriber that writes metrics.jsonl and summary.json. A failed write throws a
 * RunStoreError (the event bus stops the run on it); later events are no longer appended, so
 * metrics.jsonl has no gap, but the end still writes summary.json, marked failed, if it can.
 * The start event truncates what a resumed run repeats: only then has its checkpoint loaded,
 * so a resume that fails earlier leaves metrics.jsonl as it was.
 */
export function runStoreListener(paths: RunPaths): RunListener {
  let broken = false;
  const append = (e: RunEvent) => {
    if (broken) return;
    try {
      storeWrite(paths.metrics, () => appendFileSync(paths.metrics, `${eventLine(e)}\n`));
    } catch (err) {
      broken = true;
      throw err;
    }
  };
  return (e: RunEvent) => {
    if (e.type === 'start') truncateEvents(paths, e.resumedFromStep);
    if (e.type !== 'end') return append(e);
    try {
      append(e);
    } finally {
      writeSummary(paths, e.summary);
    }
  };
}

/** validation.json: the held-out training images (count, seed, indices, digest), to check and reproduce the split. */
export function writeValidationSplit(paths: RunPaths, split: object): void {
  storeWrite(paths.validation, () => writeFileAtomic(paths.validation, `${JSON.stringify(split)}\n`));
}

export function writeSummary(paths: RunPaths, summary: RunSummary): void {
  storeWrite(paths.summary, () => writeFileAtomic(paths.summary, `${JSON.stringify(summary, null, 2)}\n`));
}

/** Run folders under a runs root: runs/<experiment>/<id>/ holding a config.yaml. */
export function listRuns(runsRoot: string): string[] {
  if (!existsSync(runsRoot)) return [];
  const out: string[] = [];
  for (const exp of readdirSync(runsRoot, { withFileTypes: true })) {
    if (!exp.isDirectory()) continue;
    for (const run of readdirSync(join(runsRoot, exp.name), { withFileTypes: true })) {
      if (run.isDirectory() && existsSync(join(runsRoot, exp.name, run.name, 'config.yaml'))) out.push(join(runsRoot, exp.name, run.name));
    }
  }
  return out.sort();
}

export function writeSample(paths: RunPaths, step: number, png: Uint8Array): string {
  const file = join(paths.samples, `step-${String(step).padStart(8, '0')}.png`);
  storeWrite(file, () => writeFileSync(file, png));
  return file;
}
