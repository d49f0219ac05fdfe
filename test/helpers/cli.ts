// Runs the built `pxl` command line as a user would, capturing its output and exit status.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const PXL = fileURLToPath(new URL('../../bin/pxl.js', import.meta.url));

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function pxl(args: string[], opts: SpawnSyncOptions = {}): CliResult {
  const r = spawnSync(process.execPath, [PXL, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    ...opts,
    env: { ...process.env, CI: 'true', NO_COLOR: '1', ...(opts.env ?? {}) },
  });
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}
