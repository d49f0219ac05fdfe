// One sweep member as a child `pxl run --reporter json`: its events are read from its
// stdout, one JSON object per line. Every member runs this way, one or many at a time,
// so a member's run is exactly what `pxl run` does on its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { EndEvent, RunEvent } from '../events/run-events.js';

export const PXL_BIN = fileURLToPath(new URL('../../bin/pxl.js', import.meta.url));

/** Names the process that started a `pxl run`; the run stops with a checkpoint when it is gone. */
export const PARENT_PID_ENV = 'PXL_PARENT_PID';

export interface MemberProcess {
  /** Resolves once the process has exited and its output is read. */
  done: Promise<MemberExit>;
  /** Sends SIGINT: the first stops the run after its step with a checkpoint, a second at once. */
  interrupt(): void;
}

export interface MemberExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  end: EndEvent | null;
  /** The last lines it wrote to stderr: why it failed, when it did before its run began. */
  stderr: string;
}

const STDERR_KEEP = 4000;

export function spawnMember(args: string[], env: NodeJS.ProcessEnv, onEvent: (e: RunEvent) => void): MemberProcess {
  // Its own process group: a Ctrl-C in the terminal reaches the sweep alone, which passes it on once.
  // PXL_PARENT_PID: a member whose sweep is killed outright (SIGKILL) stops itself, see `pxl run`.
  const child = spawn(process.execPath, [PXL_BIN, ...args], { env: { ...env, [PARENT_PID_ENV]: String(process.pid) }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let end: EndEvent | null = null;
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-STDERR_KEEP);
  });
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    const event = parseEvent(line);
    if (!event) return;
    if (event.type === 'end') end = event;
    onEvent(event);
  });
  const closed = new Promise<void>((done) => lines.once('close', done));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
    child.once('error', (err) => {
      stderr += `\n${err.message}`;
      done({ code: null, signal: null });
    });
    child.once('exit', (code, signal) => done({ code, signal }));
  });
  watch(child);
  const done = Promise.all([exited, closed]).then(([status]) => {
    live.delete(child);
    return { ...status, end, stderr: stderr.trim() };
  });
  return {
    done,
    interrupt: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    },
  };
}

// Should the sweep itself end abruptly, no member keeps running on its own.
const live = new Set<ChildProcess>();
let hooked = false;
function watch(child: ChildProcess): void {
  live.add(child);
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  });
}

function parseEvent(line: string): RunEvent | null {
  try {
    const e = JSON.parse(line) as RunEvent;
    return e && typeof e === 'object' && typeof e.type === 'string' ? e : null;
  } catch {
    return null; // not an event line
  }
}
