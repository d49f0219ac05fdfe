// `pxl sync`: send a run's MLflow records that could not be sent while it ran.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { syncRun } from '../../track/mlflow-tracker.js';
import { EXIT, UsageError } from '../common.js';

export function registerSyncCommand(program: Command): void {
  program
    .command('sync')
    .description('send what a run could not send to MLflow while the server was unreachable (safe to repeat)')
    .argument('<run-dirs...>', 'run folders')
    .option('--uri <url>', 'tracking server (default: the one the run used, then MLFLOW_TRACKING_URI)')
    .action(async (dirs: string[], opts: { uri?: string }) => {
      let offline = 0;
      for (const dir of dirs) {
        if (!existsSync(dir)) throw new UsageError(`run folder ${dir} does not exist`);
        const r = await syncRun(dir, { uri: opts.uri, log: (m) => process.stderr.write(`mlflow: ${m}\n`) });
        if (r.status === 'nothing') process.stdout.write(`${dir}: nothing to send${r.runId ? ` (MLflow run ${r.runId})` : ''}\n`);
        else if (r.status === 'synced') process.stdout.write(`${dir}: sent ${r.sent} records to ${r.uri} (MLflow run ${r.runId})\n`);
        else {
          offline++;
          process.stdout.write(`${dir}: ${r.uri} is still unreachable; ${r.pending} records wait (sent ${r.sent})\n`);
        }
      }
      process.exitCode = offline > 0 ? EXIT.failure : EXIT.ok;
    });
}
