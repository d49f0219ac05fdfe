// The live terminal dashboard of `pxl run`: a run subscriber feeding the redraw pacer, and the Ink app
// drawing it. It holds no training logic; the trainer does not know it exists.
import { render, type Instance } from 'ink';
import type { RunListener } from '../../events/run-events.js';
import { Dashboard as App, type StopKey } from './app.js';
import type { DashboardAction, Link } from './state.js';
import { createRedrawPacer, DEFAULT_PACE, type Pace } from './redraw-pacer.js';
import { colorDepth, paletteFor } from './glyphs.js';

export type { DashboardAction, Link } from './state.js';
export type { StopKey } from './app.js';

export interface DashboardOptions {
  stdout: NodeJS.WriteStream;
  stdin?: NodeJS.ReadStream;
  stderr?: NodeJS.WriteStream;
  /** `q` or Ctrl-C was pressed; the caller decides what stopping means. */
  onStopKey: (key: StopKey) => void;
  /** Links known before the run starts, e.g. a tracking server's run page. */
  links?: Link[];
  /** How often to redraw (see redraw-pacer.ts). */
  pace?: Pace;
  /** Route console output from libraries above the frame (default); off where console is replaced, as in tests. */
  patchConsole?: boolean;
  /** Told each frame's drawing time in ms (what paces the redraws); the benchmark sums them. */
  onFrame?: (ms: number) => void;
}

export interface Dashboard {
  /** Subscribe this to the run; the app is drawn from the first event on. */
  listener: RunListener;
  /** For what is not a trainer event: a stop under way, a link to show. */
  dispatch: (action: DashboardAction) => void;
  /** Draws the final frame and leaves it on screen; the terminal is the shell's again. */
  close: () => Promise<void>;
}

export function createDashboard(o: DashboardOptions): Dashboard {
  const pace = o.pace ?? DEFAULT_PACE;
  const pacer = createRedrawPacer(pace);
  for (const l of o.links ?? []) pacer.dispatch({ type: 'link', ...l });
  let ink: Instance | null = null;
  const mount = () =>
    render(<App pacer={pacer} color={o.stdout.hasColors?.() ?? false} palette={paletteFor(colorDepth(o.stdout))} onStopKey={o.onStopKey} onFrame={o.onFrame} />, {
      stdout: o.stdout,
      // Ink's defaults (process.stdin, process.stderr) hold only where no key is given at all.
      ...(o.stdin && { stdin: o.stdin }),
      ...(o.stderr && { stderr: o.stderr }),
      exitOnCtrlC: false, // Ctrl-C stops the run gracefully first: see onStopKey
      patchConsole: o.patchConsole ?? true, // console output from libraries goes above the frame, not through it
      // A cap for redraws the pacer does not pace (a resize, a progress bar measuring itself).
      maxFps: 1000 / pace.minMs,
    });
  return {
    listener: (e) => {
      pacer.dispatch(e);
      ink ??= mount();
    },
    dispatch: pacer.dispatch,
    close: async () => {
      pacer.flush();
      if (!ink) return;
      ink.unmount();
      await ink.waitUntilExit();
      ink = null;
    },
  };
}
