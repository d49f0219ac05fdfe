// `pxl run`: train an experiment (or resume a run) with a live dashboard or plain/json lines.
import { Option, type Command } from 'commander';
import { DEFAULT_RUNS_DIR, runsRootProblem } from '../../store/run-dir.js';
import { PARENT_PID_ENV } from '../../sweep/child.js';
import type { RunListener, RunSummary } from '../../events/run-events.js';
import { runExperiment } from '../../app/run.js';
import { loadDashboard } from '../../ui/dashboard/load.js';
import { endLines, reporter } from '../../ui/reporters.js';
import { collect, EXIT, onOutputClosed, SET_HELP, UsageError } from '../common.js';

interface RunOpts {
  set: string[];
  resume?: string;
  runsDir: string;
  reporter?: string;
  parentRunId?: string;
  trackingTag: string[];
}

export type ReporterChoice = 'dashboard' | 'plain' | 'json';

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('train an experiment: evaluates test bits/dim, samples grids, checkpoints, and keeps the run in runs/<name>/<id>/')
    .argument('[file]', 'experiment YAML file')
    .option('--set <key=value>', SET_HELP, collect, [])
    .option('--resume <run-dir>', 'continue a stopped run from its latest checkpoint')
    .option('--runs-dir <dir>', 'root folder of the run store', DEFAULT_RUNS_DIR)
    .option('--reporter <kind>', 'dashboard | plain | json (default: the dashboard in a terminal, plain lines otherwise and when CI is set)')
    // For `pxl sweep`, which runs each member as a child `pxl run`: not for people.
    .addOption(new Option('--parent-run-id <id>', 'MLflow run id of the sweep this run belongs to').hideHelp())
    .addOption(new Option('--tracking-tag <key=value>', 'an extra MLflow tag (repeatable)').argParser(collect).default([]).hideHelp())
    .action(async (file: string | undefined, opts: RunOpts) => {
      if (!file === !opts.resume) throw new UsageError('give either an experiment FILE or --resume RUN_DIR');
      if (opts.resume && opts.set.length) throw new UsageError('--set cannot change a run being resumed; start a new run instead');
      // Before anything is loaded: a runs root that cannot hold runs is bad input.
      const problem = file ? runsRootProblem(opts.runsDir) : null;
      if (problem) throw new UsageError(`--runs-dir: ${problem}`);
      const kind = pickReporter(opts.reporter, process.stdout.isTTY === true, process.env);
      const stop = { requested: false };
      const trackingTags = parseTags(opts.trackingTag);
      const run = (listeners: RunListener[]) =>
        runExperiment({ file, sets: opts.set, resume: opts.resume, runsDir: opts.runsDir, listeners, stop, parentRunId: opts.parentRunId, trackingTags });
      const summary = kind === 'dashboard' ? await withDashboard(stop, run) : await withReporter(kind, stop, run);
      process.exitCode = summary.status === 'finished' ? EXIT.ok : summary.status === 'interrupted' ? EXIT.interrupted : EXIT.failure;
    });
}

function parseTags(args: string[]): Record<string, string> | undefined {
  if (args.length === 0) return undefined;
  const tags: Record<string, string> = {};
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq < 1) throw new UsageError(`--tracking-tag expects key=value; found ${JSON.stringify(a)}`);
    tags[a.slice(0, eq)] = a.slice(eq + 1);
  }
  return tags;
}

type Stop = { requested: boolean };
type Runner = (listeners: RunListener[]) => Promise<RunSummary>;

async function withReporter(kind: 'plain' | 'json', stop: Stop, run: Runner): Promise<RunSummary> {
  const release = onStopSignals(stopper(stop, { announce: (how) => process.stderr.write(`\npxl: ${how}: ${STOPPING}\n`) }));
  try {
    return await run([reporter(kind, process.stdout)]);
  } finally {
    release();
  }
}

async function withDashboard(stop: Stop, run: Runner): Promise<RunSummary> {
  if (isCI(process.env)) {
    // Asked for explicitly: Ink would otherwise draw only the final frame in CI.
    delete process.env.CI;
    delete process.env.CONTINUOUS_INTEGRATION;
  }
  const { createDashboard } = await loadDashboard();
  const request = stopper(stop, {
    announce: (source) => dashboard.dispatch({ type: 'stop-requested', source }),
    beforeExit: () => void dashboard.close(),
  });
  const dashboard = createDashboard({
    stdout: process.stdout,
    stdin: process.stdin,
    stderr: process.stderr,
    onStopKey: (key) => request(key, key === 'Ctrl-C'),
  });
  const release = onStopSignals(request);
  let summary: RunSummary;
  try {
    summary = await run([dashboard.listener]);
  } finally {
    release();
    await dashboard.close(); // the final frame stays on screen; the summary goes below it
  }
  // Under the final frame: the summary line, and the full reason or resume hint.
  process.stdout.write(`${endLines({ ...summary, summary }).join('\n')}\n`);
  return summary;
}

export function pickReporter(name: string | undefined, isTTY: boolean, env: NodeJS.ProcessEnv): ReporterChoice {
  if (name === undefined) return isTTY && !isCI(env) ? 'dashboard' : 'plain';
  if (name === 'dashboard' || name === 'plain' || name === 'json') return name;
  throw new UsageError(`--reporter must be dashboard, plain or json; found ${JSON.stringify(name)}`);
}

/** The test Ink itself makes (is-in-ci): CI or CONTINUOUS_INTEGRATION set to anything but 0/false. */
export const isCI = (env: NodeJS.ProcessEnv): boolean =>
  ['CI', 'CONTINUOUS_INTEGRATION'].some((k) => env[k] !== undefined && env[k] !== '0' && env[k] !== 'false');

const STOPPING = 'stopping after this step and writing a checkpoint (press Ctrl-C again to quit at once)';

/**
 * The one place a stop is decided. The first request (a signal, `q`, Ctrl-C) sets the run's
 * stop flag: the trainer finishes the step, checkpoints, and the run exits 130. A forceful
 * request (Ctrl-C, a signal) once a stop is under way exits at once, without a checkpoint.
 */
export function stopper(stop: Stop, hooks: { announce: (source: string) => void; beforeExit?: () => void }) {
  return (source: string, force: boolean) => {
    if (stop.requested) {
      if (!force) return;
      hooks.beforeExit?.();
      process.stderr.write(`\npxl: ${source} again: exiting without a checkpoint\n`);
      process.exit(EXIT.interrupted);
    }
    stop.requested = true;
    hooks.announce(source);
  };
}

/**
 * SIGINT and SIGTERM go to `request`; so do a closed stdout (its reader is gone: the run store
 * keeps every event, so the run goes on to its checkpoint) and the end of the parent named by
 * PXL_PARENT_PID (a sweep killed outright cannot pass a signal on: its members notice that they
 * have been orphaned). Returns the function that detaches it all.
 */
export function onStopSignals(request: (source: string, force: boolean) => void, env: NodeJS.ProcessEnv = process.env): () => void {
  const handler = (signal: NodeJS.Signals) => request(signal, true);
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  let closed = false;
  const restoreOutput = onOutputClosed(() => {
    if (!closed) request('output closed', false);
    closed = true;
  });
  const unwatch = watchParent(env[PARENT_PID_ENV], () => request('the parent process ended', false));
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
    restoreOutput();
    unwatch();
  };
}

const PARENT_POLL_MS = 1000;

/** Calls `gone` once when this process's parent is no longer `parentPid` (reparented on its death). */
function watchParent(parentPid: string | undefined, gone: () => void): () => void {
  if (!parentPid || !/^\d+$/.test(parentPid)) return () => {};
  const timer = setInterval(() => {
    if (process.ppid === Number(parentPid)) return;
    clearInterval(timer);
    gone();
  }, PARENT_POLL_MS).unref();
  return () => clearInterval(timer);
}
