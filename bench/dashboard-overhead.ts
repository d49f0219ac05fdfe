// What the live dashboard costs training: the same small run with and without the dashboard
// attached (drawing to a fake terminal), alternated within one process, compared by median
// training throughput. Usage: npm run bench:dashboard -- [--steps N] [--pairs N]
//
// Throughput counts only the time between consecutive steps, leaving out the steps an
// evaluation or a sampling falls between: those pauses are the same with and without the
// dashboard, and would hide its cost. The tiny model's steps take milliseconds, so this is
// close to the worst case; a real model's steps are far slower and the share far smaller.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { RunEvent, RunListener } from '../src/events/run-events.js';
import { runExperiment } from '../src/app/run.js';
import { loadDashboard } from '../src/ui/dashboard/load.js';

const { createDashboard } = await loadDashboard(); // as `pxl run` loads it
const { values: opts } = parseArgs({ options: { steps: { type: 'string', default: '400' }, pairs: { type: 'string', default: '5' } } });
const STEPS = Number(opts.steps);
const PAIRS = Number(opts.pairs);
const TINY = fileURLToPath(new URL('../test/fixtures/tiny.yaml', import.meta.url));
const SETS = [
  'backend=wasm', `train.steps=${STEPS}`, 'train.checkpoint_every=0', 'train.log_every=1000000',
  `train.eval_every=${Math.round(STEPS / 4)}`, `train.sample_every=${Math.round(STEPS / 2)}`, // every panel gets filled
];

/** Wall-clock and CPU seconds of this process, together. */
const clock = () => ({ wall: performance.now() / 1000, cpu: (({ user, system }) => (user + system) / 1e6)(process.cpuUsage()) });
type Clock = ReturnType<typeof clock>;
const since = (a: Clock, b: Clock): Clock => ({ wall: b.wall - a.wall, cpu: b.cpu - a.cpu });

/**
 * Training steps per second from the gaps between consecutive steps with nothing else in
 * them, by the wall clock and by this process's CPU time; and the whole run from its start
 * to its end event, evaluations and sampling (and the spinner drawn meanwhile) included.
 * On a shared machine the wall clock mostly measures the neighbours; training and drawing
 * both run on this process's main thread, so CPU time per step is what the dashboard adds to.
 */
function stepTimer() {
  let last: Clock | null = null;
  let clean = true;
  const gaps = { n: 0, wall: 0, cpu: 0 };
  let started = clock();
  let run = { wall: 0, cpu: 0 };
  const listener: RunListener = (e: RunEvent) => {
    const now = clock();
    if (e.type === 'start') started = now;
    if (e.type === 'end') run = since(started, now);
    if (e.type !== 'step') return void (clean = false);
    if (last && clean) {
      const d = since(last, now);
      gaps.n += 1;
      gaps.wall += d.wall;
      gaps.cpu += d.cpu;
    }
    last = now;
    clean = true;
  };
  return { listener, result: () => ({ steps: { wall: gaps.n / gaps.wall, cpu: gaps.n / gaps.cpu }, run }) };
}

/** A terminal nobody looks at: 120x40, colours on, output counted and dropped. */
function fakeTerminal() {
  const stats = { writes: 0, bytes: 0 };
  const out = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      stats.writes += 1;
      stats.bytes += chunk.length;
      done();
    },
  });
  const tty = Object.assign(out, { isTTY: true, columns: 120, rows: 40, hasColors: () => true });
  return { stdout: tty as unknown as NodeJS.WriteStream, stats };
}

/** Seconds of garbage collection while it runs. */
function gcTimer() {
  let ms = 0;
  const observer = new PerformanceObserver((list) => list.getEntries().forEach((e) => (ms += e.duration)));
  observer.observe({ entryTypes: ['gc'] });
  return () => (observer.disconnect(), ms / 1000);
}

async function once(withDashboard: boolean) {
  const runsDir = mkdtempSync(join(tmpdir(), 'pxl-bench-'));
  const gc = gcTimer();
  const frames = { n: 0, seconds: 0 };
  const timer = stepTimer();
  const term = fakeTerminal();
  const stdin = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.ReadStream; // no raw mode, no keys
  const onFrame = (ms: number) => void ((frames.n += 1), (frames.seconds += ms / 1000));
  const dashboard = withDashboard ? createDashboard({ stdout: term.stdout, stdin, stderr: term.stdout, onStopKey: () => {}, patchConsole: false, onFrame }) : null;
  try {
    await runExperiment({ file: TINY, sets: SETS, runsDir, listeners: [timer.listener, ...(dashboard ? [dashboard.listener] : [])], stop: { requested: false } });
    await dashboard?.close();
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
  return { ...timer.result(), ...term.stats, gc: gc(), frames };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

type Result = Awaited<ReturnType<typeof once>>;

async function main() {
  process.stdout.write(`dashboard overhead: tiny experiment on wasm, ${STEPS} steps a run, ${PAIRS} pairs after a warm-up of each\n`);
  await once(false);
  await once(true);
  const runs: { plain: Result[]; dash: Result[] } = { plain: [], dash: [] };
  for (let i = 0; i < PAIRS; i++) {
    // Alternate which goes first, so drift in the machine's load hits both alike.
    for (const withDashboard of i % 2 === 0 ? [false, true] : [true, false]) {
      const r = await once(withDashboard);
      (withDashboard ? runs.dash : runs.plain).push(r);
      const drawn = withDashboard ? `  ${r.frames.n} frames, ${r.frames.seconds.toFixed(3)} s drawing, ${(r.bytes / 1024).toFixed(0)} KiB` : '';
      process.stdout.write(
        `  pair ${i + 1}  ${withDashboard ? 'dashboard   ' : 'no dashboard'}  ${r.steps.wall.toFixed(2)} steps/s (${r.steps.cpu.toFixed(2)} per CPU s)` +
          `  run ${r.run.wall.toFixed(2)} s (${r.run.cpu.toFixed(2)} CPU s, GC ${r.gc.toFixed(3)} s)${drawn}\n`,
      );
    }
  }
  const row = (label: string, pick: (r: Result) => number, lowerIsBetter: boolean) => {
    const [a, b] = [median(runs.plain.map(pick)), median(runs.dash.map(pick))];
    const cost = lowerIsBetter ? b / a - 1 : 1 - b / a;
    return `${label.padEnd(26)}${a.toFixed(2).padStart(12)}   ${b.toFixed(2).padStart(9)}   ${(b / a).toFixed(4)}   ${(cost * 100).toFixed(2)}%`;
  };
  process.stdout.write(
    [
      '',
      '                          no dashboard   dashboard   ratio    cost',
      row('training steps/s', (r) => r.steps.wall, false),
      row('training steps/CPU s', (r) => r.steps.cpu, false),
      row('run seconds', (r) => r.run.wall, true),
      row('run CPU seconds', (r) => r.run.cpu, true),
      row('GC seconds', (r) => r.gc, true),
      '(medians; cost: throughput lost, or time added)',
      `median of the pairs' ratios, steps/CPU s: ${median(runs.dash.map((d, i) => d.steps.cpu / runs.plain[i].steps.cpu)).toFixed(4)}` +
        `; run CPU s: ${median(runs.dash.map((d, i) => d.run.cpu / runs.plain[i].run.cpu)).toFixed(4)}`,
      `drawing: ${median(runs.dash.map((d) => d.frames.n))} frames a run, ${(100 * median(runs.dash.map((d) => d.frames.seconds / d.run.wall))).toFixed(2)}% of the run's time (median);` +
        ` extra GC: ${(100 * (median(runs.dash.map((d) => d.gc)) - median(runs.plain.map((p) => p.gc))) / median(runs.plain.map((p) => p.run.wall))).toFixed(2)}% of it`,
      '',
    ].join('\n'),
  );
}

await main();
