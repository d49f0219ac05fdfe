// `pxl doctor`: what this machine can run: backends, datasets, versions.
import type { Command } from 'commander';
import * as tf from '@tensorflow/tfjs';
import { formatGpuReport, formatProbes, probeBackends } from '../../backend/index.js';
import { datasetStatus } from '../../data/index.js';
import { version } from '../common.js';

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('show which compute backends and datasets are usable here, and why the others are not')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const [backends, datasets] = await Promise.all([probeBackends(), datasetStatus()]);
      const versions = { pxl: version(), node: process.versions.node, tfjs: tf.version.tfjs, platform: `${process.platform}-${process.arch}` };
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ versions, backends, datasets }, null, 2)}\n`);
        return;
      }
      const out: string[] = [];
      out.push(`pxl ${versions.pxl}, Node ${versions.node}, TensorFlow.js ${versions.tfjs}, ${versions.platform}`, '');
      out.push('backends (auto takes the first usable one):', formatProbes(backends), '');
      const gpu = backends.find((b) => b.gpu)?.gpu;
      if (gpu) out.push('GPU (tensorflow-gpu):', formatGpuReport(gpu), '');
      out.push('datasets:');
      for (const d of datasets) out.push(`  ${d.available ? 'yes' : 'no '}  ${d.name.padEnd(14)} ${d.path ?? ''}`, `       ${d.detail}`);
      process.stdout.write(`${out.join('\n')}\n`);
    });
}
