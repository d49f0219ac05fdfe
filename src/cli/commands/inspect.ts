// `pxl inspect`: the compiled model as a layer table with parameter counts. Worked out from the
// config alone (model/size.ts), without allocating a weight, so a model of any size can be inspected.
import type { Command } from 'commander';
import { loadExperiment } from '../../config/load.js';
import { datasetShape } from '../../data/index.js';
import { layerTable, macsPerImage, paramCount } from '../../model/size.js';
import { int } from '../../ui/format.js';
import { textTable } from '../../ui/table.js';
import { collect, SET_HELP } from '../common.js';

export function registerInspectCommand(program: Command): void {
  program
    .command('inspect')
    .description('print the compiled model: each layer with its output shape and parameters, and the total')
    .argument('<file>', 'experiment YAML file')
    .option('--set <key=value>', SET_HELP, collect, [])
    .option('--depth <n>', '0: stages and blocks only; 1: also the layers inside each block', '0')
    .action(async (file: string, opts: { set: string[]; depth: string }) => {
      const { experiment: e } = loadExperiment(file, opts.set);
      const shape = await datasetShape(e.dataset);
      const depth = Number(opts.depth);
      const rows = layerTable(e.model, shape).filter((r) => r.depth <= depth);
      const body = rows.map((r) => [`${'  '.repeat(r.depth)}${r.name}`, r.type, r.outputShape.join('x'), int(r.params)]);
      process.stdout.write(`${e.name}: PixelCNN on ${shape.height}x${shape.width}x${shape.channels} ${e.dataset.name} images, ${e.model.color_levels} colour levels\n\n`);
      process.stdout.write(textTable(['layer', 'type', 'output', 'params'], body, ['l', 'l', 'r', 'r']));
      process.stdout.write(`\ntotal trainable parameters: ${int(paramCount(e.model, shape))}\n`);
      process.stdout.write(`forward pass: ${(macsPerImage(e.model, shape) / 1e9).toFixed(3)} GMAC per image (masked taps included)\n`);
    });
}
