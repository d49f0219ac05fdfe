// `pxl inspect`: the compiled model as a layer table with parameter counts, worked out from the
// config alone (model/size.ts) without allocating a weight, so a model of any size can be
// inspected; then what the centre pixel and the last one can see, measured on the compiled
// model (model/receptive-field.ts) unless --no-receptive-field.
import type { Command } from 'commander';
import { checkChannelGroups } from '../../app/run.js';
import { loadExperiment } from '../../config/load.js';
import { datasetShape } from '../../data/index.js';
import { initBackend } from '../../backend/index.js';
import { installFrugalBackprop } from '../../backend/frugal-backprop.js';
import type { Experiment } from '../../config/types.js';
import { measureWidth, receptiveField, viewPicture, type PixelView } from '../../model/receptive-field.js';
import type { ImageShape } from '../../model/pixelcnn.js';
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
    .option('--no-receptive-field', 'skip measuring what the centre and the last pixel see (it builds the model)')
    .action(async (file: string, opts: { set: string[]; depth: string; receptiveField: boolean }) => {
      const { experiment: e, composed } = loadExperiment(file, opts.set);
      const shape = await datasetShape(e.dataset);
      checkChannelGroups(e, shape.channels, composed.sources);
      const depth = Number(opts.depth);
      const rows = layerTable(e.model, shape).filter((r) => r.depth <= depth);
      const body = rows.map((r) => [`${'  '.repeat(r.depth)}${r.name}`, r.type, r.outputShape.join('x'), int(r.params)]);
      process.stdout.write(`${e.name}: PixelCNN on ${shape.height}x${shape.width}x${shape.channels} ${e.dataset.name} images, ${e.model.color_levels} colour levels\n\n`);
      process.stdout.write(textTable(['layer', 'type', 'output', 'params'], body, ['l', 'l', 'r', 'r']));
      process.stdout.write(`\ntotal trainable parameters: ${int(paramCount(e.model, shape))}\n`);
      process.stdout.write(`forward pass: ${(macsPerImage(e.model, shape) / 1e9).toFixed(3)} GMAC per image (masked taps included)\n`);
      if (e.model.dropout > 0) process.stdout.write(`dropout: ${e.model.dropout} inside each block, in training only (evaluation and sampling use every unit)\n`);
      if (opts.receptiveField) process.stdout.write(`\n${await receptiveFieldText(e, shape)}`);
    });
}

/**
 * The receptive field of the centre pixel and of the last one (the bottom-right corner, which
 * has the most predecessors), measured on the compiled model with one gradient.
 */
async function receptiveFieldText(e: Experiment, shape: ImageShape): Promise<string> {
  const backend = await initBackend(e.backend);
  installFrugalBackprop();
  const centre = { row: Math.floor(shape.height / 2), col: Math.floor(shape.width / 2) };
  const corner = { row: shape.height - 1, col: shape.width - 1 };
  const start = performance.now();
  const views = receptiveField(e.model, shape, [centre, corner]);
  const seconds = (performance.now() - start) / 1000;
  const measured = measureWidth(e.model.hidden, shape.channels);
  const width = measured < e.model.hidden ? ` compiled at h=${measured}, which changes no connection,` : '';
  const lines = [
    `receptive field, measured on the model${width} as the gradient of one pixel's logits with respect to the image (${backend.name}, ${seconds.toFixed(1)} s):`,
  ];
  const names = ['centre', 'corner'];
  views.forEach((v, i) => lines.push(`  ${names[i]} pixel ${describe(v)}`));
  lines.push('', '  # seen   . blind spot (a predecessor it cannot see)   @ the pixel   ! a later pixel it sees', '');
  const pictures = views.map((v) => viewPicture(v, shape.width));
  const widths = pictures.map((p) => Math.max(...p.map((l) => l.length)));
  const titles = views.map((v, i) => `${names[i]} (${v.row},${v.col})`.padEnd(widths[i]));
  lines.push(`  ${titles.join('    ')}`);
  const rows = Math.max(...pictures.map((p) => p.length));
  for (let r = 0; r < rows; r++) {
    // Pictures end at their pixel's row: align them at the bottom.
    const cells = pictures.map((p, i) => (p[r - (rows - p.length)] ?? '').padEnd(widths[i]));
    lines.push(`  ${cells.join('    ')}`.trimEnd());
  }
  return `${lines.join('\n')}\n`;
}

function describe(v: PixelView): string {
  const blind = v.blind === 0 ? 'no blind spot' : `blind spot of ${int(v.blind)}`;
  const leak = v.leaks ? `; it also sees ${int(v.leaks)} pixels at or after itself: the model is not autoregressive` : '';
  return `(${v.row},${v.col}): sees ${int(v.visible)} of its ${int(v.predecessors)} predecessors, ${blind}${leak}`;
}
