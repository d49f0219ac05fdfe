// Pieces shared by the command modules: exit codes, option helpers, the package version.
import { readFileSync } from 'node:fs';

export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

/** A mistake in how pxl was called or in its input: printed without a stack, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * The exit status of an expected error (one whose message says it all): errors that set
 * `badInput: true` (a bad dataset file, a model too large to train) are bad input, 2;
 * the others (a missing package, an unreadable file, a failing disk) are environment problems, 1.
 */
export function expectedErrorStatus(err: Error): number {
  return (err as { badInput?: unknown }).badInput === true ? EXIT.usage : EXIT.failure;
}

let cachedVersion: string | undefined;
export function version(): string {
  cachedVersion ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cachedVersion;
}

/** commander accumulator for repeatable options such as --set. */
export const collect = (value: string, previous: string[]): string[] => [...previous, value];

export const SET_HELP = 'override a setting, e.g. --set model.hidden=64 (repeatable; the value is read as YAML)';

let outputClosed: (() => void) | null = null;

/**
 * What to do when stdout's reader goes away (EPIPE): by default exit 0, as `pxl … | head`
 * expects; a run instead stops with a checkpoint. Returns the function that restores the default.
 */
export function onOutputClosed(handler: () => void): () => void {
  outputClosed = handler;
  return () => {
    if (outputClosed === handler) outputClosed = null;
  };
}

let outputGone = false;

/** The EPIPE handler main installs on stdout and stderr. */
export function outputError(err: NodeJS.ErrnoException): void {
  if (err.code !== 'EPIPE') throw err;
  if (outputGone) return; // handled once: the command finishes and sets its own exit status
  outputGone = true;
  if (outputClosed) outputClosed();
  else process.exit(EXIT.ok);
}
