// The dashboard's pure parts: reducer, loss series, chart, sample glyphs, layout, pacer.
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/events/run-events.js';
import { joinColourRuns, lossChart, toColumns } from '../../src/ui/dashboard/chart.js';
import { glyphSize, imagesText, imageText } from '../../src/ui/dashboard/glyphs.js';
import { layout, MAX_CHART, MIN_CHART } from '../../src/ui/dashboard/layout.js';
import { addPoint, initialState, lossPoints, MAX_POINTS, reduce, type DashboardAction, type LossSeries } from '../../src/ui/dashboard/state.js';
import { createRedrawPacer } from '../../src/ui/dashboard/redraw-pacer.js';

const series = (values: number[], start = 0): LossSeries => values.reduce(addPoint, { ...initialState.loss, start });
const step = (n: number, bits: number): RunEvent => ({
  type: 'step', time: n, step: n, epoch: 0, epochStep: n, loss: bits * Math.LN2, bitsPerDim: bits, imagesPerSecond: 80, stepsPerSecond: 10,
});

describe('loss series', () => {
  it('keeps every step until full, then halves its resolution without losing the mean', () => {
    const values = Array.from({ length: 3 * MAX_POINTS + 5 }, (_, i) => Math.sin(i) + 3);
    const s = series(values);
    expect(s.points.length).toBeLessThanOrEqual(MAX_POINTS);
    expect(s.every).toBe(4);
    const { steps, values: v } = lossPoints(s);
    expect(steps[steps.length - 1]).toBe(values.length);
    // Bucket means weighted by their sizes give back the mean of all steps.
    const weights = steps.map((st, i) => st - (i ? steps[i - 1] : 0));
    const mean = v.reduce((a, x, i) => a + x * weights[i], 0) / values.length;
    expect(mean).toBeCloseTo(values.reduce((a, x) => a + x) / values.length, 10);
  });

  it('numbers steps from the step a resumed run starts at', () => {
    expect(lossPoints(series([5, 4, 3], 100)).steps).toEqual([101, 102, 103]);
  });
});

describe('reducer', () => {
  const start: DashboardAction = {
    type: 'start', time: 0, runId: 'r', runDir: '/r', experiment: 'e', description: '', config: {}, params: 10, backend: 'cpu', backendNote: '',
    device: 'CPU', dataset: { name: 'mnist', train: 64, test: 16, height: 28, width: 28, channels: 1 }, totalSteps: 8, stepsPerEpoch: 8, resumedFromStep: 0,
  };
  const run = (...actions: DashboardAction[]) => actions.reduce(reduce, initialState);

  it('follows the run through its phases', () => {
    expect(run(start).phase).toBe('starting');
    expect(run(start, step(1, 4)).phase).toBe('training');
    expect(run(start, step(1, 4), { type: 'eval-start', time: 1, step: 1 }).phase).toBe('evaluating');
    const sampling = run(start, step(1, 4), { type: 'sample-start', time: 1, step: 1, count: 4, method: 'naive' });
    expect(sampling.phase).toBe('sampling');
    expect(sampling.sampling).toEqual({ step: 1, count: 4, method: 'naive' });
  });

  it('lets an evaluation finish before showing a requested stop', () => {
    const s = run(start, step(1, 4), { type: 'eval-start', time: 1, step: 1 }, { type: 'stop-requested', source: 'q' });
    expect(s.phase).toBe('evaluating');
    const after = reduce(s, { type: 'eval', time: 2, step: 1, epoch: 0, set: 'test', weights: 'current', loss: 2, bitsPerDim: 2.9, bestBitsPerDim: 2.9, bestStep: 1, images: 16, seconds: 1 });
    expect(after.phase).toBe('stopping');
    expect(after.stopSource).toBe('q');
  });

  it('remembers at which step the best test bits/dim was reached', () => {
    const ev = (st: number, bits: number, best: number, bestStep: number): DashboardAction => ({
      type: 'eval', time: st, step: st, epoch: 0, set: 'test', weights: 'current', loss: bits, bitsPerDim: bits, bestBitsPerDim: best, bestStep, images: 16, seconds: 1,
    });
    expect(run(start, ev(4, 3, 3, 4), ev(8, 2.5, 2.5, 8), ev(12, 2.7, 2.5, 8)).test).toEqual({ set: 'test', step: 12, bitsPerDim: 2.7, best: 2.5, bestStep: 8, conditional: false, averaged: false });
  });

  it("knows a class-conditional model's test bits/dim for conditional ones", () => {
    const ev: DashboardAction = { type: 'eval', time: 4, step: 4, epoch: 0, set: 'test', weights: 'current', loss: 2, bitsPerDim: 2, bestBitsPerDim: 2, bestStep: 4, images: 16, conditional: true, seconds: 1 };
    expect(run(start, ev).test?.conditional).toBe(true);
  });

  it('keeps the latest warnings and one link per label', () => {
    const warnings = Array.from({ length: 7 }, (_, i): DashboardAction => ({ type: 'warning', time: i, message: `w${i}` }));
    expect(run(start, ...warnings).warnings).toEqual(['w2', 'w3', 'w4', 'w5', 'w6']);
    const s = run({ type: 'link', label: 'mlflow', url: 'http://a' }, start, { type: 'link', label: 'mlflow', url: 'http://b' });
    expect(s.links).toEqual([{ label: 'mlflow', url: 'http://b' }]);
  });

  it('shows what MLflow tracking says, then the run page once it exists', () => {
    const off = run(start, { type: 'tracking', time: 1, enabled: false, uri: null, link: null, message: 'MLflow tracking is off: set tracking.uri' });
    expect(off.links).toEqual([{ label: 'MLflow', url: 'tracking is off: set tracking.uri' }]);
    const on = run(
      start,
      { type: 'tracking', time: 1, enabled: true, uri: 'http://m', link: null, message: 'tracking to MLflow at http://m' },
      { type: 'tracking', time: 2, enabled: true, uri: 'http://m', link: 'http://m/#/experiments/1/runs/abc', message: 'MLflow run: …' },
    );
    expect(on.links).toEqual([{ label: 'MLflow', url: 'http://m/#/experiments/1/runs/abc' }]);
  });

  it('ignores events it does not know', () => {
    const s = run(start);
    expect(reduce(s, { type: 'future-event' } as unknown as DashboardAction)).toBe(s);
  });
});

describe('loss chart', () => {
  it('spreads the run over the columns and grows to the right as steps come', () => {
    expect(toColumns(series([4, 3, 2, 1]), 8, 16)).toEqual([4, 4, 3, 3, 2, 2, 1]);
    const many = series(Array.from({ length: 1000 }, (_, i) => 1000 - i));
    const cols = toColumns(many, 1000, 50);
    expect(cols).toHaveLength(50);
    expect(cols[0]).toBeCloseTo(990.5, 5); // the mean of the first 20 steps
  });

  it('draws exactly the rows and columns it is given, with labelled values', () => {
    const lines = lossChart(series([4.2, 3.9, 3.1, 2.8, 2.9, 2.5]), 6, 40, 6, false);
    expect(lines).toHaveLength(6);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(40);
    expect(lines[0]).toMatch(/^\s+4\.200[┤┼]/); // ┼ marks the first value
    expect(lines[5]).toMatch(/^\s+2\.500[┤┼]/);
    expect(lossChart(series([3, 3, 3]), 10, 40, 4, false)).toHaveLength(4); // a flat line
    expect(lossChart(series([]), 10, 40, 4, false)).toEqual([]);
  });

  it('colours the raw and the smoothed line with one code per run', () => {
    const [grey, cyan, reset] = ['\u001b[90m', '\u001b[36m', '\u001b[0m'];
    expect(joinColourRuns(` 1.0 ┤${grey}╭${reset}${cyan}─${reset}${cyan}─${reset} ${grey}╰${reset}`)).toBe(` 1.0 ┤${grey}╭${reset}${cyan}──${reset} ${grey}╰${reset}`);
    const coloured = lossChart(series([4.2, 3.9, 3.1, 2.8, 2.9, 2.5]), 6, 40, 6, true);
    expect(coloured.map((l) => l.replace(/\u001b\[\d+m/g, ''))).toEqual(lossChart(series([4.2, 3.9, 3.1, 2.8, 2.9, 2.5]), 6, 40, 6, false));
  });
});

describe('sample glyphs', () => {
  // Two 4x4 images: a bright left column on black; a uniform half-grey square.
  const pixels = new Float32Array(32);
  for (let y = 0; y < 4; y++) pixels[y * 4] = 1;
  pixels.fill(0.5, 16);
  const images = { count: 2, height: 4, width: 4, pixels };

  it('shades two stacked pixels per character cell', () => {
    expect(imageText(images, 0, 1)).toEqual(['█   ', '█   ']);
    expect(imageText(images, 1, 1)).toEqual(['▒▒▒▒', '▒▒▒▒']);
    expect(imagesText(images, 2, 1)).toEqual(['█     ▒▒▒▒', '█     ▒▒▒▒']);
  });

  it('shows one image per class of a conditional grid, each labelled with its class', () => {
    // Two rows of one image each: image 0 is of class 3, image 1 of class 7.
    const labelled = { ...images, columns: 1, rowLabels: ['3', '7'] };
    expect(imagesText(labelled, 2, 1)).toEqual(['3     7▒▒▒', '█     ▒▒▒▒']);
    // With two images per row only the first of each row is shown: one per class.
    const rows = { count: 4, height: 4, width: 4, pixels: Float32Array.from([...pixels, ...pixels]), columns: 2, rowLabels: ['3', '12'] };
    expect(imagesText(rows, 4, 1)).toEqual(['3     12  ', '█     █   ']);
  });

  it('averages blocks when scaled down and draws no more images than fit', () => {
    expect(glyphSize(28, 28, 2)).toEqual({ rows: 7, columns: 14 });
    expect(imageText(images, 0, 2)).toEqual(['▒ ']); // 1 in 2 columns lit: half intensity
    expect(imagesText(images, 1, 1)).toEqual(['█   ', '█   ']);
  });
});

describe('layout', () => {
  const digit = { height: 28, width: 28 };

  it('shows full-size samples and a tall chart in a large terminal', () => {
    expect(layout({ columns: 120, rows: 50 }, 10, digit)).toEqual({ chartHeight: MAX_CHART, sampleScale: 1, sampleFit: 4, sampleRows: 14 });
  });

  it('scales samples down so the frame stays below the terminal height', () => {
    const l = layout({ columns: 80, rows: 24 }, 10, digit);
    expect(l).toMatchObject({ sampleScale: 2, sampleRows: 7, sampleFit: 5 });
    expect(10 + l.chartHeight + l.sampleRows).toBeLessThanOrEqual(23);
  });

  it('drops the samples when not even the smallest fits', () => {
    expect(layout({ columns: 60, rows: 12 }, 10, digit)).toMatchObject({ sampleFit: 0, chartHeight: MIN_CHART });
  });
});

describe('redraw pacer', () => {
  it('applies every event but redraws at most once per interval', async () => {
    const pacer = createRedrawPacer({ minMs: 40, maxMs: 1000, budget: 0.01 });
    let redraws = 0;
    pacer.subscribe(() => redraws++);
    for (let i = 1; i <= 300; i++) pacer.dispatch(step(i, 3));
    expect(pacer.getSnapshot()).toBe(initialState); // nothing published yet
    await new Promise((r) => setTimeout(r, 80));
    expect(redraws).toBe(1);
    expect(pacer.getSnapshot().progress?.step).toBe(300);
    expect(lossPoints(pacer.getSnapshot().loss).steps).toHaveLength(300);
  });

  it('publishes the end of a run at once', () => {
    const pacer = createRedrawPacer({ minMs: 10_000, maxMs: 10_000, budget: 0.01 });
    pacer.dispatch({ type: 'stop-requested', source: 'q' });
    expect(pacer.getSnapshot().stopSource).toBe('q');
  });

  it('paces redraws so that drawing takes about its budget of the time', () => {
    const pacer = createRedrawPacer({ minMs: 250, maxMs: 2000, budget: 0.01 });
    pacer.drawn(8); // 8 ms a frame at 1%: one frame every 800 ms
    expect(pacer.interval()).toBe(800);
    pacer.drawn(0.5);
    expect(pacer.interval()).toBe(250);
    pacer.drawn(100);
    expect(pacer.interval()).toBe(2000);
  });
});
