// store/: the local run store, a folder per run, kept by a run subscriber.
//
// The local run store: one folder per run under runs/<experiment>/<run id>/ holding the
// resolved config, every event in metrics.jsonl, sample PNGs, checkpoints and summary.json.
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse, stringify } from 'yaml';
import type { Experiment } from '../config/types.js';
import { eventLine, type RunEvent, type RunListener, type RunSummary } from '../events/run-events.js';
import { writeFileAtomic } from '../util/files.js';

export const DEFAULT_RUNS_DIR = 'runs';

export interface RunPaths {
  id: string;
  dir: string;
  config: string;
  metrics: string;
  summary: string;
  samples: string;
  checkpoints: string;
}

export function runPaths(dir: string): RunPaths {
  const abs = resolve(dir);
  return {
    id: abs.split('/').pop()!,
    dir: abs,
    config: join(abs, 'config.yaml'),
    metrics: join(abs, 'metrics.jsonl'),
    summary: join(abs, 'summary.json'),
    samples: join(abs, 'samples'),
    checkpoints: join(abs, 'checkpoints'),
  };
}

/** A sortable, readable, unique id: 20261130-034512-3f2a. */
export function newRunId(now = new Date()): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${t}-${randomBytes(2).toString('hex')}`;
}

/** Creates runs/<experiment>/<id>/ with the resolved config; called only once everything has validated. */
export function createRun(runsRoot: string, experiment: Experiment): RunPaths {
  const paths = runPaths(join(runsRoot, experiment.name, newRunId()));
  mkdirSync(paths.samples, { recursive: true });
  mkdirSync(paths.checkpoints, { recursive: true });
  writeFileAtomic(paths.config, `# resolved experiment; \`pxl run --resume ${paths.dir}\` continues it\n${stringify(experiment, { lineWidth: 0 })}`);
  return paths;
}

export class RunStoreError extends Error {
  override name = 'RunStoreError';
}

/** Reads a run folder back: its resolved config and, when present, its summary. */
export function readRun(dir: string): { paths: RunPaths; experiment: Experiment; summary: RunSummary | null } {
  const paths = runPaths(dir);
  if (!existsSync(paths.config)) throw new RunStoreError(`${dir} is not a pxl run folder (no config.yaml)`);
  const experiment = parse(readFileSync(paths.config, 'utf8')) as Experiment;
  const summary = existsSync(paths.summary) ? (JSON.parse(readFileSync(paths.summary, 'utf8')) as RunSummary) : null;
  return { paths, experiment, summary };
}

/** Events of metrics.jsonl, in order. */
export function readEvents(paths: RunPaths): Record<string, unknown>[] {
  if (!existsSync(paths.metrics)) return [];
  return readFileSync(paths.metrics, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * Drops recorded events after `step` (a resumed run repeats them from its checkpoint), so
 * metrics.jsonl of a resumed run reads like that of an uninterrupted one.
 */
export function truncateEvents(paths: RunPaths, step: number): void {
  if (!existsSync(paths.metrics)) return;
  const kept = readFileSync(paths.metrics, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .filter((l) => {
      const e = JSON.parse(l) as { type: string; step?: number };
      return e.type !== 'end' && (e.step === undefined || e.step <= step);
    });
  writeFileAtomic(paths.metrics, kept.length ? `${kept.join('\n')}\n` : '');
}

/** The subscriber that writes metrics.jsonl and summary.json. */
export function runStoreListener(paths: RunPaths): RunListener {
  return (e: RunEvent) => {
    appendFileSync(paths.metrics, `${eventLine(e)}\n`);
    if (e.type === 'end') writeFileAtomic(paths.summary, `${JSON.stringify(e.summary, null, 2)}\n`);
  };
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
  writeFileSync(file, png);
  return file;
}
