// Progress of long work on stderr, so stdout stays clean for what the command prints. On a
// terminal one line is rewritten in place from the start; in a log, quick work says nothing
// and long work prints a line after a few seconds and then now and then.
import { duration } from '../ui/format.js';

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
}

export interface ProgressOptions {
  /** e.g. "sampling 64 images" */
  label: string;
  /** e.g. "row" */
  unit: string;
  out?: ProgressStream;
  now?: () => number;
  /** Not a terminal: nothing before this much time has passed... */
  quietMs?: number;
  /** ...then a line at most this often. */
  everyMs?: number;
}

export interface Progress {
  update(done: number, total: number): void;
  /** After the last update: ends the line, if one was shown. */
  end(): void;
}

const TTY_EVERY_MS = 100;

export function progressLine(o: ProgressOptions): Progress {
  const out = o.out ?? process.stderr;
  const now = o.now ?? (() => performance.now());
  const tty = out.isTTY === true;
  const start = now();
  let shownAt: number | null = null;
  let last = '';
  let lastDone = -1;
  const text = (done: number, total: number, elapsed: number) => {
    const left = done > 0 && done < total ? `, about ${duration(((total - done) * elapsed) / done / 1000)} left` : '';
    return `${o.label}: ${o.unit} ${done}/${total} (${Math.floor((100 * done) / total)}%), ${duration(elapsed / 1000)} so far${left}`;
  };
  return {
    update(done, total) {
      if (done === lastDone) return; // nothing new to say
      const t = now();
      const due = tty ? shownAt === null || t - shownAt >= TTY_EVERY_MS || done === total : t - start >= (o.quietMs ?? 3000) && (shownAt === null || t - shownAt >= (o.everyMs ?? 10_000));
      if (!due) return;
      last = text(done, total, t - start);
      out.write(tty ? `\r\x1b[K${last}` : `${last}\n`);
      shownAt = t;
      lastDone = done;
    },
    end() {
      if (shownAt !== null && tty) out.write('\n');
    },
  };
}
