// Vitest global setup: one real MLflow server for the whole test run, on a free
// port with a throwaway data dir, through the same script users run.
//
// The server boots in the background while tests run: suites that do not track
// need not wait ~10 s for it (or minutes, on a machine whose venv is not yet
// installed). Tests that need it call `waitForMlflow(inject('mlflow'))` in a beforeAll.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

export interface MlflowTestServer {
  uri: string;
  data: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    mlflow: MlflowTestServer;
  }
}

const SCRIPT = fileURLToPath(new URL('../../scripts/mlflow-server.mjs', import.meta.url));
const FAILED = 'start-failed.txt';

function runScript(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
  return { child, done };
}

/** Starts a server on `data` (port 0: any free port) and resolves with its URI once /health answers. */
export async function startMlflowServer(data: string, port = 0): Promise<string> {
  const { done } = runScript(['start', '--port', String(port), '--data', data]);
  const { code, stdout, stderr } = await done;
  if (code !== 0) throw new Error(`mlflow-server start failed (${code}):\n${stderr}`);
  return stdout.trim().split('\n').pop()!;
}

/** Stops the server on `data`; `force` kills it at once, like a crash. */
export async function stopMlflowServer(data: string, force = false): Promise<void> {
  const { code, stderr } = await runScript(['stop', '--data', data, ...(force ? ['--force'] : [])]).done;
  if (code !== 0) throw new Error(`mlflow-server stop failed (${code}):\n${stderr}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Waits until the shared server answers; fails at once with the script's output if it could not start. */
export async function waitForMlflow(server: MlflowTestServer, timeoutMs = 280_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const failed = join(server.data, FAILED);
    if (existsSync(failed)) throw new Error(`the test MLflow server did not start:\n${readFileSync(failed, 'utf8')}`);
    try {
      if ((await fetch(`${server.uri}/health`, { signal: AbortSignal.timeout(2000) })).ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`the test MLflow server at ${server.uri} was not ready after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const data = mkdtempSync(join(tmpdir(), 'pxl-mlflow-test-'));
  const uri = `http://127.0.0.1:${await freePort()}`;
  project.provide('mlflow', { uri, data });
  // A first install may take minutes: allow for it in the script's own readiness wait.
  const starter = runScript(['start', '--port', uri.split(':').pop()!, '--data', data, '--timeout', '600']);
  const started = starter.done.then(({ code, stderr }) => {
    if (code !== 0) writeFileSync(join(data, FAILED), stderr || `exit code ${code}`);
  });
  return async () => {
    // Still installing or booting (no test needed it): stop the starter, which cleans up after itself.
    if (starter.child.exitCode === null && starter.child.signalCode === null) starter.child.kill('SIGTERM');
    await started;
    await stopMlflowServer(data);
    rmSync(data, { recursive: true, force: true });
  };
}
