// `pxl worker` processes for the queue tests: each with its own runs folder, its output kept.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll } from 'vitest';
import { PXL } from '../helpers/cli.js';

export interface TestWorker {
  child: ChildProcess;
  runsDir: string;
  output: () => string;
  /** Resolves once its output matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

const all: ChildProcess[] = [];
afterAll(() => {
  for (const c of all) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** A worker with a short lock, so that a dead one's member is taken over in seconds. */
export function startWorker(queue: string, runsDir: string, env: NodeJS.ProcessEnv = {}, args: string[] = []): TestWorker {
  const child = spawn(process.execPath, [PXL, 'worker', '--queue', queue, '--runs-dir', runsDir, ...args], {
    env: { ...process.env, CI: 'true', PXL_QUEUE_LOCK_MS: '10000', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  all.push(child);
  let out = '';
  const waiters: { pattern: RegExp; done: () => void }[] = [];
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.splice(0)) if (w.pattern.test(out)) w.done(); else waiters.push(w);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  return {
    child,
    runsDir,
    output: () => out,
    waitFor: (pattern, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        if (pattern.test(out)) return resolve();
        const timer = setTimeout(() => reject(new Error(`worker output never matched ${pattern}:\n${out}`)), timeoutMs);
        waiters.push({ pattern, done: () => (clearTimeout(timer), resolve()) });
      }),
  };
}
