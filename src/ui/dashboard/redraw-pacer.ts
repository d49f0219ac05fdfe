// The redraw pacer: holds the dashboard state and tells React about it at a bounded,
// self-adjusting rate. The reducer runs on every event (cheap), but redraws are paced so that
// drawing takes about `budget` of the time. Ink redraws the whole frame each time, which costs
// milliseconds when steps may come hundreds a second.
import { initialState, reduce, type DashboardAction, type DashboardState } from './state.js';

export interface Pace {
  /** Shortest and longest time between two redraws. */
  minMs: number;
  maxMs: number;
  /** Share of the time that drawing may take. */
  budget: number;
}

export const DEFAULT_PACE: Pace = { minMs: 500, maxMs: 3000, budget: 0.005 };

export interface RedrawPacer {
  dispatch(action: DashboardAction): void;
  /** The state last published to subscribers (what is on screen). */
  getSnapshot(): DashboardState;
  subscribe(onChange: () => void): () => void;
  /** Publishes pending changes now. */
  flush(): void;
  /** How long the last redraw took: sets the pace of the next ones. */
  drawn(ms: number): void;
  /** The time between redraws now. */
  interval(): number;
}

/** Actions shown at once: the run's start and end, and a stop the user is waiting to see. */
const URGENT = new Set<DashboardAction['type']>(['start', 'end', 'stop-requested']);

export function createRedrawPacer(pace: Pace = DEFAULT_PACE, state: DashboardState = initialState): RedrawPacer {
  let published = state;
  let timer: NodeJS.Timeout | undefined;
  let lastPublish = -Infinity;
  let interval = pace.minMs;
  const subscribers = new Set<() => void>();
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (published === state) return;
    published = state;
    lastPublish = performance.now();
    subscribers.forEach((f) => f());
  };
  return {
    dispatch(action) {
      state = reduce(state, action);
      if (URGENT.has(action.type)) flush();
      else timer ??= setTimeout(flush, Math.max(0, lastPublish + interval - performance.now())).unref(); // never keeps the process alive
    },
    getSnapshot: () => published,
    subscribe(onChange) {
      subscribers.add(onChange);
      return () => subscribers.delete(onChange);
    },
    flush,
    drawn(ms) {
      interval = Math.min(pace.maxMs, Math.max(pace.minMs, ms / pace.budget));
    },
    interval: () => interval,
  };
}
