// What a worker reports about a member while it runs (the job's progress in Redis), and what
// it returns when the member is done: the sweep's table is drawn from these.
import type { RunSummary } from '../events/run-events.js';

export interface MemberProgress {
  /** host/pid#slot of the worker process running it. */
  worker: string;
  host: string;
  /** The member's run folder on that host. */
  runDir: string | null;
  step: number;
  totalSteps: number | null;
  loss: number | null;
  stepsPerSecond: number | null;
  /** The step of the last checkpoint uploaded to MLflow (null: none, or tracking off). */
  uploadedStep: number | null;
  resumedFromStep: number;
  /** ms since epoch: when this worker took the member, and when its first step ended. */
  startedAt: number;
  firstStepAt: number | null;
}

export interface MemberResult {
  status: 'finished';
  summary: RunSummary;
  worker: string;
  host: string;
  runDir: string;
  mlflowRunId: string | null;
}

/** The progress a job holds, when it is a worker's (a fresh job holds 0). */
export function asProgress(value: unknown): MemberProgress | null {
  return value && typeof value === 'object' && typeof (value as MemberProgress).worker === 'string' ? (value as MemberProgress) : null;
}

/** Seconds left at the member's pace, or null. */
export function etaSeconds(p: MemberProgress): number | null {
  if (!p.totalSteps || !p.stepsPerSecond || p.stepsPerSecond <= 0) return null;
  return Math.max(0, (p.totalSteps - p.step) / p.stepsPerSecond);
}

/** The Redis key `pxl sweep cancel` sets for a sweep; workers watch it. */
export const cancelKey = (sweep: string): string => `pxl:sweep:${sweep}:cancel`;
/** The Redis key holding a sweep's MLflow parent run (JSON), shared by every machine that enqueues it. */
export const parentKey = (sweep: string): string => `pxl:sweep:${sweep}:parent`;
