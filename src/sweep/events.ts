// The sweep's typed events, like a run's (events/run-events.ts): the sweep runner emits them
// and knows none of its subscribers (plain or json lines now, the dashboard later).
// Each member's own run events arrive wrapped in member-run events.
import type { RunEvent, RunStatus, RunSummary } from '../events/run-events.js';

/** Where a member stands: not started yet, running, or how its run ended. */
export type MemberStatus = RunStatus | 'pending' | 'running';

/** How a whole sweep ended: finished only when every member finished. */
export type SweepStatus = 'finished' | 'interrupted' | 'failed';

export interface SweepMemberInfo {
  name: string;
  experiment: string;
  status: MemberStatus;
  runDir: string | null;
}

export interface SweepStartEvent {
  type: 'sweep-start';
  time: number;
  name: string;
  dir: string; // the sweep folder
  file: string; // the sweep file
  total: number; // members
  toRun: number; // members not finished earlier
  parallel: number;
  members: SweepMemberInfo[];
}

/** MLflow: the parent run's page, or why there is none. */
export interface SweepTrackingEvent {
  type: 'sweep-tracking';
  time: number;
  enabled: boolean;
  link: string | null;
  message: string;
}

export interface MemberSkipEvent {
  type: 'member-skip';
  time: number;
  index: number; // 1-based
  total: number;
  member: string;
  runDir: string;
  summary: RunSummary | null;
}

export interface MemberStartEvent {
  type: 'member-start';
  time: number;
  index: number;
  total: number;
  member: string;
  experiment: string;
  /** The run folder continued from its checkpoint; null for a new run. */
  resume: string | null;
}

/** One event of a member's run, as its `pxl run --reporter json` reported it. */
export interface MemberRunEvent {
  type: 'member-run';
  time: number;
  index: number;
  member: string;
  event: RunEvent;
}

export interface MemberEndEvent {
  type: 'member-end';
  time: number;
  index: number;
  total: number;
  member: string;
  status: RunStatus;
  runDir: string | null;
  summary: RunSummary | null;
  message: string;
}

export interface SweepWarningEvent {
  type: 'sweep-warning';
  time: number;
  message: string;
}

export interface SweepEndEvent {
  type: 'sweep-end';
  time: number;
  status: SweepStatus;
  counts: Record<MemberStatus, number>;
  seconds: number;
  dir: string;
  /** The comparison of the members' runs as a text table, and the files written. */
  table: string;
  files: { markdown: string; csv: string; figure: string | null };
  message: string;
}

export type SweepEvent =
  | SweepStartEvent
  | SweepTrackingEvent
  | MemberSkipEvent
  | MemberStartEvent
  | MemberRunEvent
  | MemberEndEvent
  | SweepWarningEvent
  | SweepEndEvent;

export type SweepListener = (event: SweepEvent) => void | Promise<void>;
