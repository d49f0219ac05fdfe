// `pxl runs`: the runs in the store, newest first, with their status and best test bits/dim.
import type { Command } from 'commander';
import { readRecord, type RunRecord } from '../../compare/records.js';
import { DEFAULT_RUNS_DIR, listRuns, runPaths } from '../../store/run-dir.js';
import { duration, fixed, int } from '../../ui/format.js';
import { textTable } from '../../ui/table.js';

export function registerRunsCommand(program: Command): void {
  program
    .command('runs')
    .description('list the runs in the store, newest first: status, steps, best test bits/dim, wall time')
    .option('--runs-dir <dir>', 'root folder of the run store', DEFAULT_RUNS_DIR)
    .option('--json', 'print JSON')
    .action((opts: { runsDir: string; json?: boolean }) => {
      const records = newestFirst(listRuns(opts.runsDir).flatMap(readOrSkip));
      if (opts.json) {
        const out = records.map((r) => ({ run: runName(r), dir: r.dir, status: r.status, ...r.results }));
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      if (records.length === 0) {
        process.stdout.write(`no runs in ${opts.runsDir}\n`);
        return;
      }
      const rows = records.map((r) => [
        runName(r), r.status, r.results.steps === null ? '-' : int(r.results.steps), fixed(r.results.best_test_bits_per_dim, 4),
        r.results.wall_seconds === null ? '-' : duration(r.results.wall_seconds), r.results.started_at?.replace('T', ' ').slice(0, 19) ?? '-',
      ]);
      process.stdout.write(textTable(['run', 'status', 'steps', 'best test bits/dim', 'wall', 'started (UTC)'], rows, ['l', 'l', 'r', 'r', 'r', 'l']));
      // On stderr: stdout stays the table alone, for scripts that read it.
      if (records.some((r) => r.status === 'incomplete')) process.stderr.write(INCOMPLETE_HINT);
    });
}

const INCOMPLETE_HINT =
  'pxl: incomplete: stopped before it could finish (killed, or the machine went down); `pxl run --resume RUN_DIR` continues it from its last checkpoint, or from step 0 if it had none\n';

/** A folder that cannot be read is named on stderr, and the listing goes on. */
function readOrSkip(dir: string): RunRecord[] {
  try {
    return [readRecord(dir)];
  } catch (err) {
    process.stderr.write(`pxl: skipped ${dir}: ${(err as Error).message}\n`);
    return [];
  }
}

const runName = (r: RunRecord): string => `${r.experiment.name}/${runPaths(r.dir!).id}`;

/** Run ids begin with their start time (20261130-034512-3f2a), so they sort by it. */
function newestFirst(records: RunRecord[]): RunRecord[] {
  const id = (r: RunRecord) => runPaths(r.dir!).id;
  return [...records].sort((a, b) => id(b).localeCompare(id(a)) || runName(a).localeCompare(runName(b)));
}
