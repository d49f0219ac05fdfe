// `pxl worker`: runs sweep members from a queue (see docs/distributed.md).
import type { Command } from 'commander';
import { parseQueueUrl } from '../../queue/connection.js';
import { runWorker } from '../../queue/worker.js';
import { DEFAULT_RUNS_DIR, runsRootProblem } from '../../store/run-dir.js';
import { EXIT, UsageError } from '../common.js';

interface WorkerOpts {
  queue?: string;
  concurrency: string;
  runsDir: string;
  devices?: string;
}

/** How long a member's lock lasts unrenewed: a dead worker's member is taken over after about this long (PXL_QUEUE_LOCK_MS, tests shorten it). */
const DEFAULT_LOCK_MS = 30_000;

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('run sweep members from a queue, one per slot, until stopped (Ctrl-C: the members stop with a checkpoint and go back to the queue)')
    .option('--queue <url>', 'the Redis the sweeps were enqueued on: redis://[user:password@]HOST:6379[/DB], or rediss:// for TLS')
    .option('--concurrency <n>', 'members at once on this machine, each its own process with its share of the cores', '1')
    .option('--runs-dir <dir>', 'root folder of this machine\'s run store', DEFAULT_RUNS_DIR)
    .option('--devices <list>', 'GPUs to hand out, one per slot in turn, as CUDA_VISIBLE_DEVICES (default: the ones CUDA_VISIBLE_DEVICES lists)')
    .action(async (opts: WorkerOpts) => {
      if (!opts.queue) throw new UsageError('--queue is required: the Redis URL the sweep was enqueued on, e.g. --queue redis://HOST:6379');
      const queue = parseQueueUrl(opts.queue);
      const concurrency = Number(opts.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new UsageError(`--concurrency expects an integer from 1 to 64; found ${JSON.stringify(opts.concurrency)}`);
      const problem = runsRootProblem(opts.runsDir);
      if (problem) throw new UsageError(`--runs-dir: ${problem}`);
      const lockMs = Number(process.env.PXL_QUEUE_LOCK_MS || DEFAULT_LOCK_MS);
      if (!Number.isInteger(lockMs) || lockMs < 1000) throw new UsageError(`PXL_QUEUE_LOCK_MS expects milliseconds, at least 1000; found ${JSON.stringify(process.env.PXL_QUEUE_LOCK_MS)}`);
      const devices = deviceList(opts.devices ?? process.env.CUDA_VISIBLE_DEVICES);
      const log = (line: string) => void process.stdout.write(`${new Date().toISOString()} ${line}\n`);
      await runWorker({ queue, concurrency, runsDir: opts.runsDir, devices, log, lockMs, stopped: stopSignal() });
      process.exitCode = EXIT.ok;
    });
}

function deviceList(value: string | undefined): string[] | null {
  const list = (value ?? '').split(',').map((d) => d.trim()).filter(Boolean);
  return list.length ? list : null;
}

/** Resolves at the first SIGINT/SIGTERM; a second one exits at once (the members' own stop is then cut short too). */
function stopSignal(): Promise<void> {
  return new Promise((resolve) => {
    let count = 0;
    const handler = (signal: NodeJS.Signals) => {
      if (++count > 1) {
        process.stderr.write(`\npxl: ${signal} again: exiting now\n`);
        process.exit(EXIT.interrupted);
      }
      process.stderr.write(`\npxl: ${signal}: stopping (Ctrl-C again to exit at once)\n`);
      resolve();
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
}
