// `pxl sweep`: run every member of an ablation sweep, resumably, and compare them.
import type { Command } from 'commander';
import { formatDiagnostic } from '../../config/diagnostics.js';
import { DEFAULT_RUNS_DIR } from '../../store/run-dir.js';
import { loadSweep, type SweepDefinition } from '../../sweep/definition.js';
import { sweepReporter, type SweepReporterName } from '../../sweep/reporter.js';
import { runSweep, StopSwitch } from '../../sweep/runner.js';
import { sweepDir } from '../../sweep/state.js';
import { resolveTracking } from '../../track/settings.js';
import { textTable } from '../../ui/table.js';
import { EXIT, UsageError } from '../common.js';
import { queueSweep, type QueueAction } from './sweep-queue.js';

interface SweepOpts {
  runsDir: string;
  parallel: string;
  reporter?: string;
  dryRun?: boolean;
  queue?: string;
  detach?: boolean;
}

const ACTIONS = new Set(['status', 'cancel']);

export function registerSweepCommand(program: Command): void {
  program
    .command('sweep')
    .description('run every member of a sweep (a grid or named variants of one experiment) and compare them; run it again after a stop to go on')
    .argument('<file>', 'sweep YAML file (see docs/sweeps.md); or `status FILE` / `cancel FILE` with --queue')
    .argument('[queued-file]', 'the sweep file after status or cancel')
    .option('--runs-dir <dir>', 'root folder of the run store; the sweep keeps its state in DIR/sweeps/<name>/', DEFAULT_RUNS_DIR)
    .option('--parallel <n>', 'members to run at once, each as its own process', '1')
    .option('--reporter <kind>', 'plain | json (default: plain)')
    .option('--dry-run', 'list the members and their settings; run and create nothing')
    .option('--queue <url>', 'enqueue the members on this Redis for `pxl worker`s and follow them: redis://HOST:6379, or rediss:// for TLS (docs/distributed.md)')
    .option('--detach', 'with --queue: enqueue and exit')
    .action(async (first: string, second: string | undefined, opts: SweepOpts) => {
      const action: QueueAction = ACTIONS.has(first) && second !== undefined ? (first as QueueAction) : 'run';
      if (second !== undefined && action === 'run') throw new UsageError(`one sweep file expected; found ${JSON.stringify(first)} and ${JSON.stringify(second)} (status and cancel take a file)`);
      const file = action === 'run' ? first : second!;
      if (action !== 'run' && !opts.queue) throw new UsageError(`pxl sweep ${action} needs --queue: the Redis URL the sweep was enqueued on`);
      if (opts.detach && !opts.queue) throw new UsageError('--detach goes with --queue: a local sweep runs in this process');
      const parallel = Number(opts.parallel);
      if (!Number.isInteger(parallel) || parallel < 1 || parallel > 64) throw new UsageError(`--parallel expects an integer from 1 to 64; found ${JSON.stringify(opts.parallel)}`);
      const kind = pickReporter(opts.reporter);
      const def = loadSweep(file);
      for (const w of def.warnings) process.stderr.write(`${formatDiagnostic(w)} (warning)\n`);
      checkTracking(def);
      if (opts.dryRun) {
        process.stdout.write(describeMembers(def, opts.runsDir));
        return;
      }
      if (opts.queue) {
        if (opts.parallel !== '1') throw new UsageError('--parallel is for local sweeps; with --queue each worker has its own --concurrency');
        process.exitCode = await queueSweep({ action, def, url: opts.queue, runsDir: opts.runsDir, detach: opts.detach === true, json: kind === 'json' });
        return;
      }
      const stop = new StopSwitch();
      const release = onSweepSignals(stop);
      try {
        const outcome = await runSweep(def, { runsDir: opts.runsDir, parallel, listeners: [sweepReporter(kind, process.stdout)], stop });
        process.exitCode = outcome.status === 'finished' ? EXIT.ok : outcome.status === 'interrupted' ? EXIT.interrupted : EXIT.failure;
      } finally {
        release();
      }
    });
}

function pickReporter(name: string | undefined): SweepReporterName {
  if (name === undefined) return 'plain';
  if (name === 'plain' || name === 'json') return name;
  throw new UsageError(`--reporter must be plain or json; found ${JSON.stringify(name)}`);
}

/** A malformed tracking URI is an input error, found before anything is created. */
function checkTracking(def: SweepDefinition): void {
  try {
    resolveTracking(def.members[0].experiment.tracking);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function describeMembers(def: SweepDefinition, runsDir: string): string {
  const rows = def.members.map((m, i) => [
    `${i + 1}`, m.name, m.experiment.name,
    Object.entries(m.overrides).filter(([k]) => k !== 'name' && k !== 'description').map(([k, v]) => `${k}=${v}`).join(' ') || '(the base experiment)',
  ]);
  const head = `sweep ${def.name}: ${def.members.length} members of ${def.experimentFile}; state would go to ${sweepDir(runsDir, def.name)}\n\n`;
  return head + textTable(['#', 'member', 'experiment', 'settings'], rows, ['r', 'l', 'l', 'l']);
}

/**
 * First SIGINT/SIGTERM: every running member stops after its step with a checkpoint, no
 * new one starts, results are written and the sweep exits 130. Second: members stop at once.
 */
function onSweepSignals(stop: StopSwitch): () => void {
  let count = 0;
  const handler = (signal: NodeJS.Signals) => {
    count++;
    if (count === 1) process.stderr.write(`\npxl: ${signal}: stopping the running members after their current step (Ctrl-C again to stop them at once)\n`);
    else if (count === 2) process.stderr.write(`\npxl: ${signal} again: stopping the members without a checkpoint\n`);
    else process.exit(EXIT.interrupted);
    stop.request();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
