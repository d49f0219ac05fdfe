// `pxl run`: train an experiment (or resume a run) with a dashboard or plain/json lines.
import { Option, type Command } from 'commander';
import { DEFAULT_RUNS_DIR } from '../../store/run-dir.js';
import type { RunListener } from '../../train/events.js';
import { runExperiment } from '../../train/run.js';
import { reporter, type ReporterName } from '../../ui/reporters.js';
import { collect, EXIT, SET_HELP, UsageError } from '../common.js';

interface RunOpts {
  set: string[];
  resume?: string;
  runsDir: string;
  reporter?: string;
  parentRunId?: string;
  trackingTag: string[];
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('train an experiment: evaluates test bits/dim, samples grids, checkpoints, and keeps the run in runs/<name>/<id>/')
    .argument('[file]', 'experiment YAML file')
    .option('--set <key=value>', SET_HELP, collect, [])
    .option('--resume <run-dir>', 'continue a stopped run from its latest checkpoint')
    .option('--runs-dir <dir>', 'root folder of the run store', DEFAULT_RUNS_DIR)
    .option('--reporter <kind>', 'plain | json (default: plain; the dashboard needs a terminal)')
    // For `pxl sweep`, which runs each member as a child `pxl run`: not for people.
    .addOption(new Option('--parent-run-id <id>', 'MLflow run id of the sweep this run belongs to').hideHelp())
    .addOption(new Option('--tracking-tag <key=value>', 'an extra MLflow tag (repeatable)').argParser(collect).default([]).hideHelp())
    .action(async (file: string | undefined, opts: RunOpts) => {
      if (!file === !opts.resume) throw new UsageError('give either an experiment FILE or --resume RUN_DIR');
      if (opts.resume && opts.set.length) throw new UsageError('--set cannot change a run being resumed; start a new run instead');
      const kind = pickReporter(opts.reporter);
      const stop = { requested: false };
      const listeners: RunListener[] = [reporter(kind, process.stdout)];
      const release = onStopSignals(stop);
      try {
        const summary = await runExperiment({
          file, sets: opts.set, resume: opts.resume, runsDir: opts.runsDir, listeners, stop,
          parentRunId: opts.parentRunId, trackingTags: parseTags(opts.trackingTag),
        });
        process.exitCode = summary.status === 'finished' ? EXIT.ok : summary.status === 'interrupted' ? EXIT.interrupted : EXIT.failure;
      } finally {
        release();
      }
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

function pickReporter(name: string | undefined): ReporterName {
  if (name === undefined) return 'plain';
  if (name === 'plain' || name === 'json') return name;
  throw new UsageError(`--reporter must be plain or json; found ${JSON.stringify(name)}`);
}

/** First SIGINT/SIGTERM: finish the step, checkpoint, exit 130. Second: exit at once. */
export function onStopSignals(stop: { requested: boolean }): () => void {
  const handler = (signal: NodeJS.Signals) => {
    if (stop.requested) {
      process.stderr.write(`\npxl: ${signal} again: exiting without a checkpoint\n`);
      process.exit(EXIT.interrupted);
    }
    stop.requested = true;
    process.stderr.write(`\npxl: ${signal}: stopping after this step and writing a checkpoint (press Ctrl-C again to quit at once)\n`);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
