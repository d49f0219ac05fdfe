// Holds the dashboard state and tells React about it at a bounded rate: the reducer runs on
// every event (cheap), but a redraw follows at most once per interval however fast steps come.
import { initialState, reduce, type DashboardAction, type DashboardState } from './state.js';

export interface DashboardStore {
  dispatch(action: DashboardAction): void;
  /** The state last published to subscribers (what is on screen). */
  getSnapshot(): DashboardState;
  subscribe(onChange: () => void): () => void;
  /** Publishes pending changes now. */
  flush(): void;
}

/** Actions shown at once: the run's start and end, and a stop the user is waiting to see. */
const URGENT = new Set<DashboardAction['type']>(['start', 'end', 'stop-requested']);

export function createStore(intervalMs = 100, state: DashboardState = initialState): DashboardStore {
  let published = state;
  let timer: NodeJS.Timeout | undefined;
  const subscribers = new Set<() => void>();
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (published === state) return;
    published = state;
    subscribers.forEach((f) => f());
  };
  return {
    dispatch(action) {
      state = reduce(state, action);
      if (URGENT.has(action.type)) flush();
      else timer ??= setTimeout(flush, intervalMs).unref(); // never keeps the process alive
    },
    getSnapshot: () => published,
    subscribe(onChange) {
      subscribers.add(onChange);
      return () => subscribers.delete(onChange);
    },
    flush,
  };
}
