// `pxl sync`: send a run's MLflow records that could not be sent while it ran.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { runPaths } from '../../store/run-dir.js';
import { syncRun } from '../../track/mlflow-tracker.js';
import { EXIT, UsageError } from '../common.js';

export function registerSyncCommand(program: Command): void {
  program
    .command('sync')
    .description('send what a run could not send to MLflow while the server was unreachable (safe to repeat)')
    .argument('<run-dirs...>', 'run folders')
    .option('--uri <url>', 'tracking server (default: the one the run used, then MLFLOW_TRACKING_URI)')
    .action(async (dirs: string[], opts: { uri?: string }) => {
      dirs.forEach(checkRunDir); // all of them before sending anything: a typo is not "nothing to send"
      let offline = 0;
      for (const dir of dirs) {
        const r = await syncRun(dir, { uri: opts.uri, log: (m) => process.stderr.write(`mlflow: ${m}\n`) });
        if (r.status === 'nothing') process.stdout.write(`${dir}: nothing to send${r.runId ? ` (MLflow run ${r.runId})` : ''}\n`);
        else if (r.status === 'synced') process.stdout.write(`${dir}: sent ${r.sent} records to ${r.uri} (MLflow run ${r.runId})\n`);
        else {
          offline++;
          const why = r.error ?? `${r.uri} is still unreachable`;
          process.stdout.write(`${dir}: ${why}; ${r.pending} records wait (sent ${r.sent})\n`);
        }
      }
      process.exitCode = offline > 0 ? EXIT.failure : EXIT.ok;
    });
}

/** A run folder is one `pxl run` made: it holds the run's config.yaml. */
function checkRunDir(dir: string): void {
  if (!existsSync(dir)) throw new UsageError(`run folder ${dir} does not exist`);
  if (!existsSync(runPaths(dir).config)) throw new UsageError(`${dir} is not a pxl run folder (no config.yaml)`);
}
