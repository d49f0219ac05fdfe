// The dashboard: DashboardView draws a state at a terminal size; Dashboard connects it to the
// redraw pacer, the terminal's size and the keyboard.
import { Box, useInput, useStdin, useStdout } from 'ink';
import { useEffect, useLayoutEffect, useState, useSyncExternalStore } from 'react';
import { layout, type Size } from './layout.js';
import { Footer, footerRows, Header, HEADER_ROWS, LOSS_TITLE_ROWS, LossPanel, Progress, PROGRESS_ROWS, SAMPLES_TITLE_ROWS, SamplesPanel, statusOf } from './panels.js';
import type { Palette } from './glyphs.js';
import type { DashboardState } from './state.js';
import type { RedrawPacer } from './redraw-pacer.js';

export type StopKey = 'q' | 'Ctrl-C';

/**
 * `now`: the wall clock while the run is busy between steps (evaluating, sampling), so elapsed time keeps counting.
 * `palette`: how colour samples are drawn (glyphs.ts); shades where the terminal's colours are unknown.
 */
export function DashboardView({ state, size, color, tick = 0, now, palette = 'shades' }: { state: DashboardState; size: Size; color: boolean; tick?: number; now?: number; palette?: Palette }) {
  const { run } = state;
  if (!run) return null;
  const image = { height: run.dataset.height, width: run.dataset.width };
  const fixed = HEADER_ROWS + PROGRESS_ROWS + LOSS_TITLE_ROWS + SAMPLES_TITLE_ROWS + footerRows(state);
  const l = layout(size, fixed, image);
  const width = Math.max(20, size.columns - 1); // a full last column makes some terminals wrap
  return (
    <Box flexDirection="column" width={width}>
      <Header run={run} />
      <Progress run={run} progress={state.progress} now={now} />
      <LossPanel state={state} width={width} height={l.chartHeight} color={color} />
      <SamplesPanel state={state} scale={l.sampleScale} fit={l.sampleFit} rows={l.sampleRows} palette={palette} />
      <Footer state={state} tick={tick} />
    </Box>
  );
}

interface DashboardProps {
  pacer: RedrawPacer;
  color: boolean;
  palette?: Palette;
  onStopKey: (key: StopKey) => void;
  onFrame?: (ms: number) => void;
}

export function Dashboard({ pacer, color, palette, onStopKey, onFrame }: DashboardProps) {
  // A frame's cost, from here to after Ink's layout and output in the commit, paces the next.
  const started = performance.now();
  useLayoutEffect(() => {
    const ms = performance.now() - started;
    pacer.drawn(ms);
    onFrame?.(ms);
  });
  const state = useSyncExternalStore(pacer.subscribe, pacer.getSnapshot);
  const size = useTerminalSize();
  const busy = statusOf(state).busy;
  const tick = useTicks(busy, pacer.interval);
  const { isRawModeSupported } = useStdin();
  // Ink puts stdin in raw mode, so Ctrl-C arrives here as a key rather than as SIGINT.
  useInput(
    (input, key) => {
      if (input === 'q') onStopKey('q');
      else if (key.ctrl && input === 'c') onStopKey('Ctrl-C');
    },
    { isActive: isRawModeSupported === true },
  );
  return <DashboardView state={state} size={size} color={color} palette={palette} tick={tick} now={busy ? Date.now() : undefined} />;
}

/** The terminal's size, following resizes. */
export function useTerminalSize(): Size {
  const { stdout } = useStdout();
  const read = () => ({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
  const [size, setSize] = useState(read);
  useEffect(() => {
    const onResize = () => setSize(read());
    stdout.on('resize', onResize);
    return () => void stdout.off('resize', onResize);
  }, [stdout]);
  return size;
}

/** Counts up while `active`, once per redraw interval: drives the busy sign within the drawing budget. */
export function useTicks(active: boolean, interval: () => number): number {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!active) return;
    let timer: NodeJS.Timeout;
    const next = () => {
      timer = setTimeout(() => {
        setTick((t) => t + 1);
        next();
      }, interval()).unref();
    };
    next();
    return () => clearTimeout(timer);
  }, [active, interval]);
  return tick;
}
