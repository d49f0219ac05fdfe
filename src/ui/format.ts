// Number and time formatting shared by reporters, tables and the dashboard.

export const int = (n: number): string => Math.round(n).toLocaleString('en-US');

export const fixed = (n: number | null | undefined, digits = 3): string => (n === null || n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits));

/** 75 -> "1m15s", 3700 -> "1h01m". */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Seconds left at the current rate. */
export const eta = (done: number, total: number, stepsPerSecond: number): number => (stepsPerSecond > 0 ? (total - done) / stepsPerSecond : NaN);

/** How a class-conditional model's test bits/dim are qualified wherever they are shown. */
export const CONDITIONAL = '(conditional on the class)';

/** How bits/dim of the averaged weights (train.ema) are qualified wherever they are shown. */
export const AVERAGED = '(averaged weights)';

/** A learning rate in three significant digits, e.g. 2.00e-3. */
export const learningRateText = (lr: number): string => lr.toExponential(2);
