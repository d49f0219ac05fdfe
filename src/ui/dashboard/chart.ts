// The loss chart: the bucketed series laid out over the whole run (x = steps 1..total), drawn
// by asciichart as the raw line and a smoothed one.
import { cyan, darkgray, plot, reset } from 'asciichart';
import { lossPoints, type LossSeries } from './state.js';

const LABEL = 7; // y labels such as "  3.214"
const SMOOTHING = 0.2; // weight of the newest column in the smoothed line

/** Chart lines, exactly `height` of them, none wider than `width`; [] before the first step. */
export function lossChart(series: LossSeries, totalSteps: number, width: number, height: number, color: boolean): string[] {
  // asciichart puts the label in one cell, the axis after it, then one column per value.
  const raw = toColumns(series, totalSteps, Math.max(1, width - LABEL - 1));
  if (raw.length === 0) return [];
  const smooth = ema(raw, SMOOTHING);
  const all = [...raw, ...smooth];
  let min = Math.min(...all);
  let max = Math.max(...all);
  if (max - min < 1e-6) [min, max] = [min - 0.5, max + 0.5]; // a flat line still gets an axis
  const text = plot([raw, smooth], {
    height: Math.max(1, height - 1),
    offset: 2,
    min,
    max,
    format: (y) => y.toFixed(3).padStart(LABEL),
    colors: color ? [darkgray, cyan] : undefined,
  });
  const lines = text.split('\n').slice(0, height).map(joinColourRuns);
  return [...lines, ...Array<string>(height - lines.length).fill('')];
}

/**
 * One value per terminal column, the run's steps spread over `columns`: points falling into a
 * column are averaged; a column no point falls into (a short run) repeats the one before.
 * Only the columns reached so far are returned, so the line grows to the right as the run goes.
 */
export function toColumns(series: LossSeries, totalSteps: number, columns: number): number[] {
  const { steps, values } = lossPoints(series);
  const span = Math.max(1, totalSteps - series.start, steps.length ? steps[steps.length - 1] - series.start : 0);
  const sums = new Map<number, { sum: number; n: number }>();
  steps.forEach((step, i) => {
    const col = Math.min(columns - 1, Math.floor(((step - series.start - 1) / span) * columns));
    const c = sums.get(col) ?? { sum: 0, n: 0 };
    c.sum += values[i];
    c.n += 1;
    sums.set(col, c);
  });
  if (sums.size === 0) return [];
  const last = Math.max(...sums.keys());
  const out: number[] = [];
  for (let col = 0; col <= last; col++) {
    const c = sums.get(col);
    out.push(c ? c.sum / c.n : out[col - 1]);
  }
  return out;
}

/** Exponential moving average, starting at the first value. */
export function ema(values: number[], alpha: number): number[] {
  const out: number[] = [];
  values.forEach((v, i) => out.push(i === 0 ? v : alpha * v + (1 - alpha) * out[i - 1]));
  return out;
}

// One colour code per character cell, as asciichart writes them.
const CELL = new RegExp(`(\u001b\\[\\d+m)(.)${reset.replace('[', '\\[')}|(.)`, 'gsu');

/**
 * asciichart colours each character on its own; Ink parses every escape code on every
 * redraw, so a run of one colour gets one code (a fifth less time per frame).
 */
export function joinColourRuns(line: string): string {
  let out = '';
  let open = '';
  for (const [, code = '', coloured, plain] of line.matchAll(CELL)) {
    if (code !== open) out += (open ? reset : '') + code;
    open = code;
    out += coloured ?? plain;
  }
  return out + (open ? reset : '');
}
