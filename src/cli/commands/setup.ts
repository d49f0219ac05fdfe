// `pxl setup native [--gpu]`: make the native TensorFlow backend usable from the package registries.
// The work is scripts/setup-native.sh (pip, node-gyp, a verification); this only runs it, so
// `npm run setup:native` and `pxl setup native` are one implementation.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { EXIT } from '../common.js';

// Same depth from src/cli/commands and dist/cli/commands.
const SCRIPT = fileURLToPath(new URL('../../../scripts/setup-native.sh', import.meta.url));

interface SetupOptions {
  force?: boolean;
  check?: boolean;
  gpu?: boolean;
  withoutDriver?: boolean;
}

export function registerSetupCommand(program: Command): void {
  const setup = program.command('setup').description('set up optional parts of pxl');
  setup
    .command('native')
    .description(
      'build @tensorflow/tfjs-node against the tensorflow-cpu wheel (about a minute; needs pip, a C++ compiler and python3), ' +
        'or with --gpu @tensorflow/tfjs-node-gpu against the CUDA tensorflow wheel and NVIDIA\'s CUDA/cuDNN wheels ' +
        '(2.4 GB of downloads, 4.0 GB unpacked; needs only the NVIDIA driver); a second run only verifies',
    )
    .option('--gpu', 'the GPU build: @tensorflow/tfjs-node-gpu with CUDA 12.2 and cuDNN 8.9 from PyPI, inside node_modules')
    .option('--without-driver', 'with --gpu: build even where no usable NVIDIA driver is (CI, image builds); it then runs on the CPU')
    .option('--force', 'rebuild even if a working setup exists')
    .option('--check', 'only verify; exit 1 if the native backend is not usable')
    .action((opts: SetupOptions) => {
      if (opts.withoutDriver && !opts.gpu) {
        process.stderr.write('pxl setup native: --without-driver goes with --gpu\n');
        process.exitCode = EXIT.usage;
        return;
      }
      const flags: [boolean | undefined, string][] = [[opts.gpu, '--gpu'], [opts.withoutDriver, '--without-driver'], [opts.force, '--force'], [opts.check, '--check']];
      const args = [SCRIPT, ...flags.filter(([on]) => on).map(([, flag]) => flag)];
      const r = spawnSync('bash', args, { stdio: 'inherit' });
      process.exitCode = r.status === 0 ? EXIT.ok : EXIT.failure;
    });
  setup.commands.forEach((c) => c.exitOverride());
}
