// One PNG comparing the runs' learning curves: test bits/dim at each evaluation (solid,
// with points) and train bits/dim (dashed, averaged) against step, one colour per run.
// Drawn with Vega-Lite, rendered to SVG by Vega without a browser or canvas, and
// rasterised by resvg with the DejaVu Sans font shipped in node_modules, so the figure
// looks the same on every machine, fonts installed or not.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { markPng } from '../util/png-mark.js';
import { eightBitEquivalent } from './levels.js';
import { readCurves, type Curves, type RunRecord } from './records.js';

export interface CurveSeries {
  label: string;
  curves: Curves;
}

/** Train curves are averaged into at most this many points per run: readable, and a small spec... */
const TRAIN_POINTS = 150;
/** ...and over at least 1/40 of the run each, so batch-to-batch noise does not hide the trend. */
const TRAIN_SMOOTHING = 40;
const FONT = 'DejaVu Sans';

/** The figure as PNG bytes; null when no run has a single recorded step. */
export async function learningCurvesPng(series: CurveSeries[], title: string, o: { eightBit?: boolean } = {}): Promise<Uint8Array | null> {
  const values = series.flatMap(({ label, curves }) => [
    ...averaged(curves.train, TRAIN_POINTS).map((p) => ({ run: label, curve: 'train', step: p.step, bits: p.value })),
    ...curves.test.map((p) => ({ run: label, curve: curves.evalSet ?? 'test', step: p.step, bits: p.value })),
  ]);
  if (values.length === 0) return null;
  const [{ compile }, vega, { Resvg }] = await Promise.all([import('vega-lite'), import('vega'), import('@resvg/resvg-js')]);
  const spec = chartSpec(values, title, series.map((s) => s.label), o.eightBit ?? false);
  const view = new vega.View(vega.parse(compile(spec as never).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: 2 },
    background: 'white',
    font: { loadSystemFonts: false, fontFiles: fontFiles(), defaultFontFamily: FONT, sansSerifFamily: FONT },
  });
  return markPng(resvg.render().asPng());
}

export type Point = { run: string; curve: string; step: number; bits: number };

function chartSpec(values: Point[], title: string, runs: string[], eightBit: boolean): Record<string, unknown> {
  // The evaluation curves are named for their set; a validation curve appears only where a run has one.
  const dashes: Record<string, number[]> = { test: [1, 0], train: [6, 4], validation: [2, 2] };
  const curves = Object.keys(dashes).filter((c) => c !== 'validation' || values.some((v) => v.curve === c));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 720,
    height: 400,
    background: 'white',
    padding: 12,
    title: {
      text: title,
      subtitle: [
        'solid with points: test bits/dim at each evaluation; dashed: train bits/dim (averaged over steps)',
        'the y axis fits the test points and the second half of training: early train values lie above it',
        ...(eightBit ? ['the runs model different colour levels: bits/dim + log2(256/L), the 8-bit equivalent, so that they compare'] : []),
      ],
      anchor: 'start',
      fontSize: 16,
      subtitleFontSize: 11,
      subtitleColor: '#555',
    },
    data: { values },
    encoding: {
      // Padding keeps the last evaluation's point inside the plot.
      x: { field: 'step', type: 'quantitative', title: 'training step', scale: { nice: false, padding: 10 }, axis: { tickMinStep: 1, format: ',d' } },
      y: { field: 'bits', type: 'quantitative', title: eightBit ? 'bits/dim, 8-bit equivalent (lower is better)' : 'bits/dim (lower is better)', scale: { zero: false, domain: yDomain(values) } },
      color: {
        field: 'run',
        type: 'nominal',
        title: 'run',
        scale: { domain: runs, scheme: runs.length > 10 ? 'tableau20' : 'category10' },
        legend: { labelLimit: 320 },
      },
    },
    layer: [
      {
        mark: { type: 'line', clip: true, strokeWidth: 2 },
        encoding: {
          strokeDash: {
            field: 'curve',
            type: 'nominal',
            title: 'curve',
            scale: { domain: curves, range: curves.map((c) => dashes[c]) },
            legend: { symbolType: 'stroke', symbolSize: 700, symbolStrokeWidth: 2 },
          },
          detail: { field: 'curve' },
        },
      },
      {
        transform: [{ filter: "datum.curve !== 'train'" }],
        mark: { type: 'point', filled: true, size: 40, clip: true },
      },
    ],
    config: { font: FONT, axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11, titleFontSize: 12 } },
  };
}

/**
 * The first steps of training sit far above everything after them: the range fits the test
 * points and the second half of each train curve, so the differences that matter show;
 * the early train curve enters from above the plot.
 */
export function yDomain(values: Point[]): [number, number] {
  const lastStep = new Map<string, number>();
  for (const v of values) lastStep.set(v.run, Math.max(lastStep.get(v.run) ?? 0, v.step));
  const finite = values.filter((v) => Number.isFinite(v.bits));
  const shown = finite.filter((v) => v.curve !== 'train' || v.step >= 0.5 * lastStep.get(v.run)!);
  const lo = Math.min(...finite.map((v) => v.bits));
  const hi = Math.max(...(shown.length ? shown : finite).map((v) => v.bits));
  const pad = Math.max((hi - lo) * 0.08, 0.01);
  return [Math.max(0, lo - pad), hi + pad];
}

/** Means over equal runs of consecutive steps: at most `max` points, each of at least 1/TRAIN_SMOOTHING of them. */
export function averaged(points: { step: number; value: number }[], max: number): { step: number; value: number }[] {
  const finite = points.filter((p) => Number.isFinite(p.value));
  const size = Math.max(1, Math.ceil(finite.length / max), Math.round(finite.length / TRAIN_SMOOTHING));
  if (size === 1) return finite;
  const out: { step: number; value: number }[] = [];
  for (let i = 0; i < finite.length; i += size) {
    const chunk = finite.slice(i, i + size);
    out.push({ step: chunk[chunk.length - 1].step, value: chunk.reduce((s, p) => s + p.value, 0) / chunk.length });
  }
  return out;
}

function fontFiles(): string[] {
  const dir = join(dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')), 'ttf');
  return [join(dir, 'DejaVuSans.ttf'), join(dir, 'DejaVuSans-Bold.ttf')];
}

/** The learning-curves figure of the runs that have any recorded steps. */
export function curvesFigure(records: RunRecord[], title: string): Promise<Uint8Array | null> {
  const { series, eightBit } = figureSeries(records);
  return learningCurvesPng(series, title, { eightBit });
}

/** The curves drawn: when the runs' colour levels differ, on the 8-bit-equivalent scale, as the table ranks them. */
export function figureSeries(records: RunRecord[]): { series: CurveSeries[]; eightBit: boolean } {
  const eightBit = new Set(records.map((r) => r.experiment.model.color_levels)).size > 1;
  const series = records.filter((r) => r.dir).map((r) => {
    const curves = readCurves(r.dir!);
    if (!eightBit) return { label: r.label, curves };
    const levels = r.experiment.model.color_levels;
    const shift = (points: Curves['train']) => points.map((p) => ({ step: p.step, value: eightBitEquivalent(p.value, levels) }));
    return { label: r.label, curves: { train: shift(curves.train), test: shift(curves.test), evalSet: curves.evalSet } };
  });
  return { series, eightBit };
}
