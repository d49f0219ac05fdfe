#!/usr/bin/env node
// cli/: the `pxl` command line, one module per command.
//
// Entry point of the `pxl` command line: parses arguments and dispatches to one command module.
import * as tf from '@tensorflow/tfjs';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/diagnostics.js';
import { registerCompareCommand } from './commands/compare.js';
import { registerConfigCommands } from './commands/config.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerInspectCommand } from './commands/inspect.js';
import { registerRunCommand } from './commands/run.js';
import { registerRunsCommand } from './commands/runs.js';
import { registerSampleCommand } from './commands/sample.js';
import { registerSetupCommand } from './commands/setup.js';
import { registerSweepCommand } from './commands/sweep.js';
import { registerSyncCommand } from './commands/sync.js';
import { registerWorkerCommand } from './commands/worker.js';
import { EXIT, expectedErrorStatus, outputError, UsageError, version } from './common.js';

export function buildProgram(): Command {
  const program = new Command('pxl')
    .description('Declarative PixelCNN experiments: one YAML file in; a trained model, metrics and samples out.')
    .version(version(), '-V, --version', 'print the pxl version')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(`pxl: ${str.replace(/^error: /, '')}`) })
    .showHelpAfterError('(run pxl --help to see the commands and options)');
  registerConfigCommands(program);
  registerRunCommand(program);
  registerSweepCommand(program);
  registerWorkerCommand(program);
  registerCompareCommand(program);
  registerRunsCommand(program);
  registerSampleCommand(program);
  registerSyncCommand(program);
  registerInspectCommand(program);
  registerDoctorCommand(program);
  registerSetupCommand(program);
  program.commands.forEach((c) => c.exitOverride());
  return program;
}

const EXPECTED_ERRORS = new Set([
  'RunSetupError', 'DatasetError', 'IdxError', 'BackendUnavailableError', 'RunStoreError', 'SweepStoreError', 'QueueInputError', 'QueueUnreachableError',
]);
/** Expected errors about input the user handed over (a damaged checkpoint): exit 2. */
const BAD_INPUT_ERRORS = new Set(['CheckpointError']);

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return process.exitCode === undefined ? EXIT.ok : Number(process.exitCode);
  } catch (err) {
    return reportError(err);
  }
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Asked-for help and --version exit 0; everything else commander rejects is a usage error.
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    return EXIT.usage;
  }
  if (err instanceof UsageError) {
    process.stderr.write(`pxl: ${err.message}\n`);
    return EXIT.usage;
  }
  if (err instanceof Error && BAD_INPUT_ERRORS.has(err.name)) {
    process.stderr.write(`pxl: ${err.message}\n`);
    return EXIT.usage;
  }
  if (err instanceof Error && EXPECTED_ERRORS.has(err.name)) {
    // Problems with the input (exit 2) or the environment (exit 1): the message says it all, no stack.
    process.stderr.write(`pxl: ${err.message}\n`);
    return expectedErrorStatus(err);
  }
  process.stderr.write(`pxl: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return EXIT.failure;
}

// Production mode: tfjs skips its debug checks and its console banners.
tf.env().set('PROD', true);

// `pxl … | head` closes the pipe early: that is not an error (and a run stops with a checkpoint).
process.stdout.on('error', outputError);
process.stderr.on('error', outputError);
process.exitCode = await main(process.argv);
