// The built `pxl` as a child process that leaves this process's event loop free, for tests
// that serve HTTP to it from here (spawnSync would block their server).
import { spawn, type SpawnOptions } from 'node:child_process';
import { PXL, type CliResult } from '../helpers/cli.js';

export function pxlAsync(args: string[], opts: SpawnOptions = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [PXL, ...args], { ...opts, env: { ...process.env, CI: 'true', NO_COLOR: '1', ...(opts.env ?? {}) } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}
