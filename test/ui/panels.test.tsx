// Every panel in every state of a run, each state built by feeding a real event sequence (the
// tiny experiment trained in this process) through the dashboard's reducer.
import { render } from 'ink-testing-library';
import { stripVTControlCharacters } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/events/run-events.js';
import { DashboardView } from '../../src/ui/dashboard/app.js';
import { imagesText } from '../../src/ui/dashboard/glyphs.js';
import { initialState, reduce, type DashboardAction, type DashboardState } from '../../src/ui/dashboard/state.js';
import { fixed } from '../../src/ui/format.js';
import { record, recordFailure, type Recording } from './record.js';

const SIZE = { columns: 100, rows: 40 };
const stateOf = (actions: DashboardAction[]): DashboardState => actions.reduce(reduce, initialState);

let unmount: (() => void) | undefined;
afterEach(() => unmount?.());

/** The frame Ink draws for a state: plain text lines, trailing spaces removed. */
async function frame(state: DashboardState, size = SIZE, now?: number): Promise<string[]> {
  const r = render(<DashboardView state={state} size={size} color={false} now={now} />);
  unmount = r.unmount;
  await new Promise((resolve) => setTimeout(resolve, 20)); // progress bars measure their width, then redraw
  return stripVTControlCharacters(r.lastFrame() ?? '').split('\n').map((l) => l.trimEnd());
}

const line = (lines: string[], start: string) => lines.find((l) => l.startsWith(start)) ?? '';

let run: Recording;
let failed: Recording;
let stopped: Recording;
beforeAll(async () => {
  run = await record();
  failed = await recordFailure();
  stopped = await record(['train.steps=40'], (e, stop) => void (e.type === 'step' && e.step === 3 && (stop.requested = true)));
});

const is = <T extends RunEvent['type']>(type: T, step?: number) => (e: RunEvent) => e.type === type && (step === undefined || ('step' in e && e.step === step));

describe('dashboard panels', () => {
  it('starting: the header in full, empty progress, and placeholders', async () => {
    const [start] = run.events as [Extract<RunEvent, { type: 'start' }>];
    const lines = await frame(stateOf(run.until(is('start'))));
    expect(lines[0]).toBe(`pxl tiny · ${start.runId} · ${start.params.toLocaleString('en-US')} parameters`);
    expect(lines[1]).toMatch(/^wasm · CPU.* · mnist 64 train \/ 16 test · 28×28×1$/);
    expect(line(lines, 'epoch 1/1')).toMatch(/0\/8 +0%$/);
    expect(line(lines, 'run')).toMatch(/0\/8 +0%$/);
    expect(lines).toContain('- steps/s · - img/s · elapsed 0s · eta -');
    expect(line(lines, 'train bits/dim')).toContain('test not evaluated yet');
    expect(lines).toContain('the chart starts with the first step');
    expect(lines).toContain('samples none yet');
    expect(lines).toContain('checkpoint none yet');
    expect(lines[lines.length - 1]).toMatch(/starting: building the model and running the first step · q stop/);
    expect(lines.length).toBeLessThan(SIZE.rows);
  });

  it('on a GPU: the header names the GPU, its driver and TensorFlow; on 80 columns the GPU and driver still show', async () => {
    const [start] = run.events as [Extract<RunEvent, { type: 'start' }>];
    const onGpu = { ...start, backend: 'tensorflow-gpu', device: 'GPU: NVIDIA H100 80GB HBM3 (driver 550.54.15), TensorFlow 2.15.1' };
    const wide = await frame(stateOf([onGpu]), { columns: 140, rows: 40 });
    expect(wide[1]).toBe('tensorflow-gpu · GPU: NVIDIA H100 80GB HBM3 (driver 550.54.15), TensorFlow 2.15.1 · mnist 64 train / 16 test · 28×28×1');
    const narrow = await frame(stateOf([onGpu]), { columns: 80, rows: 40 });
    expect(narrow[1]).toBe('tensorflow-gpu · GPU: NVIDIA H100 80GB HBM3 (driver 550.54.15), TensorFlow 2.1…');
    expect(narrow[2]).toMatch(/^epoch 1\/1/); // the header stays two rows
  });

  it('training: progress with rates, the loss chart, the latest train bits/dim', async () => {
    const events = run.until(is('step', 3));
    const last = events[events.length - 1] as Extract<RunEvent, { type: 'step' }>;
    const lines = await frame(stateOf(events));
    const [, done, left] = line(lines, 'run').match(/^run +([^░\s]+)(░+) +3\/8 +37%$/) ?? [];
    expect(done.length / (done.length + left.length)).toBeCloseTo(3 / 8, 1);
    expect(line(lines, 'epoch 1/1')).toMatch(/3\/8 +37%$/);
    expect(lines.find((l) => l.includes('steps/s'))).toMatch(new RegExp(`^${fixed(last.stepsPerSecond, 1)} steps/s · \\d+ img/s · elapsed \\d+s · eta \\d+s$`));
    expect(line(lines, 'train bits/dim')).toContain(`train bits/dim ${fixed(last.bitsPerDim, 3)} (${fixed(last.loss, 4)} nats)`);
    const chart = lines.filter((l) => /^ +\d+\.\d{3}[┤┼]/.test(l));
    expect(chart.length).toBeGreaterThanOrEqual(3);
    expect(chart.join('')).toMatch(/[╭╮╰╯─]/);
    expect(lines[lines.length - 1]).toBe('training · q stop · Ctrl-C twice quit at once');
  });

  it('evaluating: a spinner with what is being evaluated; then the test bits/dim', async () => {
    const lines = await frame(stateOf(run.until(is('eval-start'))));
    expect(lines[lines.length - 1]).toMatch(/^\S evaluating on 16 test images · q stop/);
    // The elapsed time keeps counting from the wall clock while no step arrives.
    const start = run.events[0] as Extract<RunEvent, { type: 'start' }>;
    const later = await frame(stateOf(run.until(is('eval-start'))), SIZE, start.time + 125_000);
    expect(later.find((l) => l.includes('steps/s'))).toContain('elapsed 2m05s');
    const evaluated = run.until(is('eval'));
    const ev = evaluated[evaluated.length - 1] as Extract<RunEvent, { type: 'eval' }>;
    expect(line(await frame(stateOf(evaluated)), 'train bits/dim')).toContain(`test ${fixed(ev.bitsPerDim, 3)} at step 4 · best ${fixed(ev.bestBitsPerDim, 3)} at step 4`);
  });

  it('sampling: the status says so and the samples panel waits for them', async () => {
    const lines = await frame(stateOf(run.until(is('sample-start'))));
    expect(lines).toContain('samples drawing 4 at step 8…');
    expect(lines[lines.length - 1]).toMatch(/^\S sampling 4 images \(cached\) · q stop/);
  });

  it('finished: the samples drawn from their pixels, the checkpoint, the outcome', async () => {
    const state = stateOf(run.events);
    const lines = await frame(state);
    const sample = state.sample!;
    expect(line(lines, 'samples')).toMatch(/^samples step 8 · cached · 3 of 4 shown · \d+s$/);
    const drawn = imagesText(sample, 3, 1).map((l) => l.trimEnd());
    const at = lines.findIndex((l) => l.startsWith('samples')) + 1;
    expect(lines.slice(at, at + drawn.length)).toEqual(drawn);
    expect(drawn.join('')).toMatch(/[░▒▓█]/); // the model drew something
    expect(line(lines, 'checkpoint')).toMatch(/^checkpoint step 8 · \/.*\/checkpoints\/step-00000008$/);
    expect(line(lines, 'run')).toMatch(/8\/8 +100%$/);
    expect(lines[lines.length - 1]).toBe('finished');
  });

  it('failed: the reason, and the last checkpoint that was written', async () => {
    const lines = await frame(stateOf(failed.events));
    expect(failed.events[failed.events.length - 1]).toMatchObject({ type: 'end', status: 'failed' });
    expect(lines[lines.length - 1]).toMatch(/^failed: .*(ENOTDIR|not a directory|EEXIST)/);
    expect(lines).toContain('checkpoint none yet');
  });

  it('stopping and interrupted: the stop asked for, then how to resume', async () => {
    const upTo = stopped.until(is('step', 2));
    const stopping = await frame(stateOf([...upTo, { type: 'stop-requested', source: 'q' }]));
    expect(stopping[stopping.length - 1]).toMatch(/^\S q: stopping after this step and writing a checkpoint · Ctrl-C again to quit at once$/);
    const sampling = await frame(stateOf([...run.until(is('sample-start')), { type: 'stop-requested', source: 'Ctrl-C' }]));
    expect(sampling[sampling.length - 1]).toMatch(/^\S sampling 4 images \(cached\) · Ctrl-C: stopping after this · Ctrl-C again to quit at once$/);
    const lines = await frame(stateOf(stopped.events));
    expect(lines[lines.length - 1]).toMatch(/^interrupted: stopped at step 3 of 40; resume with: pxl run --resume/);
    expect(line(lines, 'checkpoint')).toContain('step 3 ·');
  });

  it('shows warnings and links, and a backend fallback arrives as a warning', async () => {
    const state = stateOf([
      ...run.until(is('step', 1)),
      { type: 'warning', time: 0, message: 'backend auto: tensorflow is not installed; using wasm' },
      { type: 'link', label: 'mlflow', url: 'http://127.0.0.1:5000/#/experiments/1/runs/abc' },
    ]);
    const lines = await frame(state);
    expect(lines).toContain('mlflow http://127.0.0.1:5000/#/experiments/1/runs/abc');
    expect(lines).toContain('warning: backend auto: tensorflow is not installed; using wasm');
  });

  it('fits a small terminal: smaller samples, no line wider or frame taller than the screen', async () => {
    const size = { columns: 72, rows: 24 };
    const lines = await frame(stateOf(run.events), size);
    expect(lines.length).toBeLessThan(size.rows);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThan(size.columns);
    expect(line(lines, 'samples')).toContain('4 of 4 shown'); // 14-column images at scale 2
  });
});
