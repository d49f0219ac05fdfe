// The table of a queued sweep: one line per member with its worker, step, loss, ETA and status.
import { duration, fixed } from '../ui/format.js';
import { textTable } from '../ui/table.js';
import type { MemberRow } from './sweep.js';

export function queueTable(rows: MemberRow[]): string {
  const lines = rows.map((r) => {
    const p = r.progress;
    const steps = p ? `${p.step}${p.totalSteps ? `/${p.totalSteps}` : ''}` : r.result ? String(r.result.summary.steps) : '-';
    const worker = r.result?.worker ?? p?.worker ?? '-';
    const note = r.status === 'finished' ? bpd(r.result?.summary.best_test_bits_per_dim) : r.message.split('\n')[0].slice(0, 80);
    return [String(r.index), r.member, r.status, worker, steps, fixed(p?.loss ?? null, 4), r.eta === null ? '-' : duration(r.eta), note];
  });
  return textTable(['#', 'member', 'status', 'worker', 'step', 'loss', 'ETA', ''], lines, ['r', 'l', 'l', 'l', 'r', 'r', 'r', 'l']);
}

const bpd = (v: number | null | undefined): string => (typeof v === 'number' ? `best test ${v.toFixed(4)} bits/dim` : '');

/** The counts line under the table: 2 finished, 1 running, ... */
export function queueCounts(rows: MemberRow[]): string {
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  return [...counts].map(([s, n]) => `${n} ${s}`).join(', ');
}
