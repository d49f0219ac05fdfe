// `pxl sweep FILE --queue URL`, `pxl sweep status FILE --queue URL`, `pxl sweep cancel FILE --queue URL`:
// a sweep whose members run on `pxl worker`s (see docs/distributed.md).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Writable } from 'node:stream';
import { parseQueueUrl } from '../../queue/connection.js';
import { QueuedSweep, settled, type MemberRow } from '../../queue/sweep.js';
import { queueCounts, queueTable } from '../../queue/table.js';
import type { SweepDefinition } from '../../sweep/definition.js';
import { EXIT } from '../common.js';

export type QueueAction = 'run' | 'status' | 'cancel';

export interface QueueCommand {
  action: QueueAction;
  def: SweepDefinition;
  url: string;
  runsDir: string;
  detach: boolean;
  json: boolean;
}

const POLL_MS = 1000;

export async function queueSweep(c: QueueCommand): Promise<number> {
  const conn = parseQueueUrl(c.url);
  const q = new QueuedSweep(c.def, conn, c.runsDir);
  const out = process.stdout;
  const say = (line: string) => void (c.json ? out.write(`${JSON.stringify({ type: 'message', message: line })}\n`) : out.write(`${line}\n`));
  const warn = (m: string) => say(`warning: ${m}`);
  try {
    await q.connect(conn.display);
    if (c.action === 'status') return await status(q, c, out, warn);
    if (c.action === 'cancel') {
      const { removed, stopping } = await q.cancel();
      say(`sweep ${c.def.name}: cancelled; ${removed} queued member${removed === 1 ? '' : 's'} taken off the queue, ${stopping} running stop${stopping === 1 ? 's' : ''} after ${stopping === 1 ? 'its' : 'their'} step with a checkpoint`);
      await follow(q, c, out, warn, (rows) => !rows.some((r) => r.status === 'running'));
      say(`run \`pxl sweep ${c.def.file} --queue ${parseQueueUrl(c.url).display}\` to go on where it stopped`);
      return EXIT.ok;
    }
    const counts = await q.enqueue(warn);
    say(`sweep ${c.def.name}: ${c.def.members.length} members on ${parseQueueUrl(c.url).display}: ${counts.added} enqueued, ${counts.requeued} put back after a cancel, ${counts.already} already there`);
    if (c.detach) {
      say(`following stopped (--detach); \`pxl sweep status ${c.def.file} --queue …\` shows where it stands`);
      return EXIT.ok;
    }
    return await follow(q, c, out, warn, settled);
  } finally {
    await q.close();
  }
}

async function status(q: QueuedSweep, c: QueueCommand, out: Writable, warn: (m: string) => void): Promise<number> {
  const rows = await q.rows();
  if (c.json) out.write(`${JSON.stringify({ type: 'sweep-status', sweep: c.def.name, members: rows })}\n`);
  else out.write(`sweep ${c.def.name}: ${queueCounts(rows)}\n\n${queueTable(rows)}`);
  if (settled(rows)) await recordResults(q, rows, c, out, warn);
  return EXIT.ok;
}

/** Draws the table until `done(rows)`; Ctrl-C stops the following, never the members. */
async function follow(q: QueuedSweep, c: QueueCommand, out: Writable, warn: (m: string) => void, done: (rows: MemberRow[]) => boolean): Promise<number> {
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const view = c.json ? jsonView(out) : out === process.stdout && process.stdout.isTTY ? liveView(out) : changesView(out);
  try {
    let away = false;
    for (;;) {
      let rows: MemberRow[];
      try {
        rows = await q.rows();
      } catch (err) {
        // Redis restarting: the members go on; so does the following, once it is back.
        if (!away) warn(`the queue cannot be read (${(err as Error).message}); trying again`);
        away = true;
        if (interrupted) return EXIT.interrupted;
        await sleep(POLL_MS);
        continue;
      }
      away = false;
      view(rows);
      if (done(rows)) {
        if (!settled(rows)) return EXIT.ok;
        return await recordResults(q, rows, c, out, warn);
      }
      if (interrupted) {
        out.write(c.json ? `${JSON.stringify({ type: 'following-stopped' })}\n` : `\nstopped following; the members go on. \`pxl sweep status ${c.def.file} --queue …\` shows where they stand\n`);
        return EXIT.interrupted;
      }
      await sleep(POLL_MS);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function recordResults(q: QueuedSweep, rows: MemberRow[], c: QueueCommand, out: Writable, warn: (m: string) => void): Promise<number> {
  const r = await q.record(rows, warn);
  if (c.json) out.write(`${JSON.stringify({ type: 'sweep-end', status: r.status, members: rows, files: r.files })}\n`);
  else out.write(`\nsweep ${r.status}: ${queueCounts(rows)}\n\n${r.table}\nresults  ${r.files.join(', ')}\n`);
  return r.status === 'finished' ? EXIT.ok : r.status === 'interrupted' ? EXIT.interrupted : EXIT.failure;
}

/** A terminal: the table redrawn in place. */
function liveView(out: Writable): (rows: MemberRow[]) => void {
  let height = 0;
  return (rows) => {
    const text = queueTable(rows);
    out.write(`${height ? `\x1b[${height}A\x1b[J` : ''}${text}`);
    height = text.split('\n').length - 1;
  };
}

/** A log: one line each time a member's status or worker changes. */
function changesView(out: Writable): (rows: MemberRow[]) => void {
  const seen = new Map<string, string>();
  return (rows) => {
    for (const r of rows) {
      const worker = r.result?.worker ?? r.progress?.worker ?? '';
      const key = `${r.status} ${worker}`;
      if (seen.get(r.member) === key) continue;
      seen.set(r.member, key);
      const where = worker ? ` on ${worker}` : '';
      const why = r.message && r.status !== 'running' ? `: ${r.message.split('\n')[0]}` : '';
      out.write(`[${r.index}/${rows.length}] ${r.member}: ${r.status}${where}${why}\n`);
    }
  };
}

function jsonView(out: Writable): (rows: MemberRow[]) => void {
  const seen = new Map<string, string>();
  return (rows) => {
    for (const r of rows) {
      const key = `${r.status} ${r.progress?.worker ?? ''} ${r.attempts}`;
      if (seen.get(r.member) === key) continue;
      seen.set(r.member, key);
      out.write(`${JSON.stringify({ type: 'member-status', ...r })}\n`);
    }
  };
}
