// A real redis-server for a test, on a free loopback port with its own folder (append-only
// file on, so a restart keeps the queue), stopped after the file's tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterAll } from 'vitest';

export interface TestRedis {
  url: string;
  port: number;
  /** Stops it (SIGTERM: it writes its append-only file first) and, `awayMs` later, starts it again on the same port and folder. */
  restart(awayMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function launch(port: number, dir: string, extra: string[]): Promise<ChildProcess> {
  // `extra` may name the port as PORT (say, --tls-port PORT with --port 0); later flags win.
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--dir', dir, ...extra.map((a) => (a === 'PORT' ? String(port) : a))];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}):\n${out}`)));
  });
}

const stopChild = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });

/** `extra`: more redis-server arguments (say, TLS); `scheme` goes into the URL. */
export async function startRedis(dir: string, extra: string[] = [], scheme = 'redis'): Promise<TestRedis> {
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  let child = await launch(port, dir, extra);
  const redis: TestRedis = {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    restart: async (awayMs = 0) => {
      await stopChild(child);
      await new Promise((resolve) => setTimeout(resolve, awayMs));
      child = await launch(port, dir, extra);
    },
    stop: () => stopChild(child),
  };
  afterAll(() => redis.stop());
  return redis;
}
