// Sweep reporters for a terminal or a log: plain lines (member i/N, its name, status and
// best test bits/dim, with each member's usual run output), or one JSON object per event.
import { Writable } from 'node:stream';
import type { RunListener, RunSummary } from '../events/run-events.js';
import { duration, fixed } from '../ui/format.js';
import { plainReporter } from '../ui/reporters.js';
import type { SweepEvent, SweepListener } from './events.js';

export type SweepReporterName = 'plain' | 'json';

export function sweepReporter(name: SweepReporterName, out: Writable): SweepListener {
  return name === 'json' ? jsonSweepReporter(out) : plainSweepReporter(out);
}

/** Pixels and the full config stay out of the lines, as in a run's json reporter. */
export function jsonSweepReporter(out: Writable): SweepListener {
  return (e) => void out.write(`${JSON.stringify(e, (key, value) => (key === 'pixels' || key === 'config' ? undefined : value))}\n`);
}

export function plainSweepReporter(out: Writable): SweepListener {
  const runs = new Map<string, RunListener>();
  let parallel = 1;
  const line = (s: string) => void out.write(`${s}\n`);
  const tag = (e: { index: number; total: number; member: string }) => `[${e.index}/${e.total}] ${e.member}`;
  return (e: SweepEvent) => {
    switch (e.type) {
      case 'sweep-start':
        parallel = e.parallel;
        line(`sweep ${e.name}: ${e.total} members, ${e.toRun} to run, ${e.parallel} at a time`);
        line(`  folder   ${e.dir}`);
        break;
      case 'sweep-tracking':
        line(e.message);
        break;
      case 'sweep-warning':
        line(`warning: ${e.message}`);
        break;
      case 'member-skip':
        line(`${tag(e)}: finished earlier, skipped; ${headline(e.summary)}`);
        break;
      case 'member-start':
        line(`${tag(e)}: ${e.resume ? `resuming ${e.resume}` : 'starting'} (experiment ${e.experiment})`);
        // Several members at once: each of their lines says whose it is.
        runs.set(e.member, plainReporter(parallel > 1 ? prefixed(out, `[${e.member}] `) : out));
        break;
      case 'member-run':
        // "Tracking is off" was said once for the whole sweep.
        if (e.event.type === 'tracking' && !e.event.enabled) break;
        void runs.get(e.member)?.(e.event);
        break;
      case 'member-end':
        line(`${tag(e)}: ${e.status}; ${headline(e.summary)}${e.summary ? ` in ${duration(e.summary.wall_seconds)}` : ''}`);
        if (e.status === 'failed' && e.message) line(e.message.replace(/^/gm, '    '));
        runs.delete(e.member);
        break;
      case 'sweep-end': {
        const c = e.counts;
        const parts = [`${c.finished} finished`, c.failed && `${c.failed} failed`, c.interrupted + c.running && `${c.interrupted + c.running} interrupted`, c.pending && `${c.pending} not started`];
        line('');
        line(`sweep ${e.status}: ${parts.filter(Boolean).join(', ')} (${duration(e.seconds)} this time)`);
        line('');
        out.write(e.table);
        line('');
        line(`results  ${e.files.markdown}, ${e.files.csv}`);
        if (e.files.figure) line(`figure   ${e.files.figure}`);
        if (e.message) line(e.message);
        break;
      }
      default:
        break;
    }
  };
}

function headline(s: RunSummary | null): string {
  if (!s) return 'no results';
  return s.best_test_bits_per_dim === null ? 'no test result yet' : `best test ${fixed(s.best_test_bits_per_dim, 4)} bits/dim`;
}

/** A stream that puts `prefix` before every line it passes on to `out`. */
function prefixed(out: Writable, prefix: string): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      const text = chunk.toString();
      out.write(text.replace(/^(?=.)/gm, prefix));
      done();
    },
  });
}
