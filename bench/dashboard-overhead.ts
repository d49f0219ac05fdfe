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
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { RunEvent, RunListener } from '../src/train/events.js';
import { runExperiment } from '../src/train/run.js';
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

/**
 * Training steps per second, from the gaps between consecutive steps with nothing else in
 * them; and the whole run's seconds from its start to its end event, evaluations and
 * sampling (and the spinner drawn meanwhile) included.
 */
function stepTimer(): { listener: RunListener; rate: () => number; wall: () => number } {
  let last: number | null = null;
  let clean = true;
  let seconds = 0;
  let gaps = 0;
  let started = 0;
  let ended = 0;
  const listener = (e: RunEvent) => {
    const now = performance.now();
    if (e.type === 'start') started = now;
    if (e.type === 'end') ended = now;
    if (e.type !== 'step') return void (clean = false);
    if (last !== null && clean) {
      seconds += (now - last) / 1000;
      gaps += 1;
    }
    last = now;
    clean = true;
  };
  return { listener, rate: () => gaps / seconds, wall: () => (ended - started) / 1000 };
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

async function once(withDashboard: boolean): Promise<{ rate: number; wall: number; writes: number; bytes: number }> {
  const runsDir = mkdtempSync(join(tmpdir(), 'pxl-bench-'));
  const timer = stepTimer();
  const term = fakeTerminal();
  const stdin = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.ReadStream; // no raw mode, no keys
  const dashboard = withDashboard ? createDashboard({ stdout: term.stdout, stdin, stderr: term.stdout, onStopKey: () => {}, patchConsole: false }) : null;
  try {
    await runExperiment({ file: TINY, sets: SETS, runsDir, listeners: [timer.listener, ...(dashboard ? [dashboard.listener] : [])], stop: { requested: false } });
    await dashboard?.close();
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
  return { rate: timer.rate(), wall: timer.wall(), ...term.stats };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  process.stdout.write(`dashboard overhead: tiny experiment on wasm, ${STEPS} steps a run, ${PAIRS} pairs after a warm-up of each\n`);
  await once(false);
  await once(true);
  const runs: { plain: Awaited<ReturnType<typeof once>>[]; dash: Awaited<ReturnType<typeof once>>[] } = { plain: [], dash: [] };
  for (let i = 0; i < PAIRS; i++) {
    // Alternate which goes first, so drift in the machine's load hits both alike.
    for (const withDashboard of i % 2 === 0 ? [false, true] : [true, false]) {
      const r = await once(withDashboard);
      (withDashboard ? runs.dash : runs.plain).push(r);
      const drawn = withDashboard ? `  ${r.writes} writes, ${(r.bytes / 1024).toFixed(0)} KiB drawn` : '';
      process.stdout.write(`  pair ${i + 1}  ${withDashboard ? 'dashboard   ' : 'no dashboard'}  ${r.rate.toFixed(2)} steps/s  run ${r.wall.toFixed(2)} s${drawn}\n`);
    }
  }
  const steps = { plain: median(runs.plain.map((r) => r.rate)), dash: median(runs.dash.map((r) => r.rate)) };
  const wall = { plain: median(runs.plain.map((r) => r.wall)), dash: median(runs.dash.map((r) => r.wall)) };
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  process.stdout.write(
    [
      '',
      '                      no dashboard   dashboard   ratio    cost',
      `training steps/s      ${steps.plain.toFixed(2).padStart(12)}   ${steps.dash.toFixed(2).padStart(9)}   ${(steps.dash / steps.plain).toFixed(4)}   ${pct(1 - steps.dash / steps.plain)}`,
      `run seconds           ${wall.plain.toFixed(2).padStart(12)}   ${wall.dash.toFixed(2).padStart(9)}   ${(wall.dash / wall.plain).toFixed(4)}   ${pct(wall.dash / wall.plain - 1)}`,
      '(medians; cost: throughput lost, or run time added)',
      '',
    ].join('\n'),
  );
}

await main();
