// `pxl validate` and `pxl config`: check experiment files and print the resolved experiment.
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { displayPath } from '../../config/compose.js';
import { ConfigError, formatDiagnostic } from '../../config/diagnostics.js';
import { loadExperiment } from '../../config/load.js';
import { redactUri } from '../../track/mlflow-client.js';
import { splitCredentials } from '../../track/settings.js';
import { collect, EXIT, SET_HELP } from '../common.js';

export function registerConfigCommands(program: Command): void {
  program
    .command('validate')
    .description('check experiment files against the schema and the model rules; exit 0 when all are valid, 2 otherwise')
    .argument('<files...>', 'experiment YAML files')
    .option('--set <key=value>', SET_HELP, collect, [])
    .action((files: string[], opts: { set: string[] }) => {
      let bad = 0;
      for (const file of files) {
        try {
          const { warnings, files: chain } = loadExperiment(file, opts.set);
          for (const w of warnings) process.stderr.write(`${formatDiagnostic(w)} (warning)\n`);
          const via = chain.length > 1 ? ` (extends ${chain.slice(1).map(displayPath).join(' -> ')})` : '';
          process.stdout.write(`${file}: valid${via}\n`);
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          bad++;
          process.stderr.write(`${err.message}\n`);
        }
      }
      if (bad > 0) process.stderr.write(`${bad} of ${files.length} file${files.length === 1 ? '' : 's'} invalid\n`);
      process.exitCode = bad > 0 ? EXIT.usage : EXIT.ok;
    });

  program
    .command('config')
    .description('print the fully resolved experiment: extends applied, overrides applied, defaults filled in')
    .argument('<file>', 'experiment YAML file')
    .option('--set <key=value>', SET_HELP, collect, [])
    .option('--json', 'print JSON instead of YAML')
    .action((file: string, opts: { set: string[]; json?: boolean }) => {
      const loaded = loadExperiment(file, opts.set);
      const { files, warnings } = loaded;
      // A password in tracking.uri is not printed: the output gets pasted into issues and logs.
      const { experiment } = splitCredentials(loaded.experiment);
      for (const w of warnings) process.stderr.write(`${formatDiagnostic(w)} (warning)\n`);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(experiment, null, 2)}\n`);
        return;
      }
      const header = [`# resolved from ${files.map(displayPath).join(' <- ')}`, ...opts.set.map((s) => `# --set ${redactUri(s)}`)];
      process.stdout.write(`${header.join('\n')}\n${stringify(experiment, { lineWidth: 0 })}`);
    });
}
