// `pxl setup native`: make the native TensorFlow CPU backend usable from the package registries.
// The work is scripts/setup-native.sh (pip, node-gyp, a verification); this only runs it, so
// `npm run setup:native` and `pxl setup native` are one implementation.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { EXIT } from '../common.js';

// Same depth from src/cli/commands and dist/cli/commands.
const SCRIPT = fileURLToPath(new URL('../../../scripts/setup-native.sh', import.meta.url));

export function registerSetupCommand(program: Command): void {
  const setup = program.command('setup').description('set up optional parts of pxl');
  setup
    .command('native')
    .description('build @tensorflow/tfjs-node against the tensorflow-cpu wheel (about a minute; needs pip, a C++ compiler and python3); a second run only verifies')
    .option('--force', 'rebuild even if a working setup exists')
    .option('--check', 'only verify; exit 1 if the native backend is not usable')
    .action((opts: { force?: boolean; check?: boolean }) => {
      const args = [SCRIPT, ...(opts.force ? ['--force'] : []), ...(opts.check ? ['--check'] : [])];
      const r = spawnSync('bash', args, { stdio: 'inherit' });
      process.exitCode = r.status === 0 ? EXIT.ok : EXIT.failure;
    });
  setup.commands.forEach((c) => c.exitOverride());
}
