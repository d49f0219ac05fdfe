// Colour samples on the dashboard in a real terminal: tmux runs test/ui/colour-dashboard.mjs
// (a dashboard fed a colour sample event) under three terminals, and capture-pane -e reads
// the screen with its colours. Needs the build (dist/) and tmux (scripts/setup-system.sh).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

// A tmux server of its own for each test, never the user's: a server told to stop may still be
// exiting when the next test starts, and a new session on its socket would then fail.
let tests = 0;
let socket = '';
const tmux = (...args: string[]) => {
  const r = spawnSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  if (r.error) throw new Error(`tmux is needed for this test (scripts/setup-system.sh installs it): ${r.error.message}`);
  return r;
};
const ESC = '\x1b';
beforeEach(() => void (socket = `pxl-colour-test-${process.pid}-${++tests}`));
afterEach(() => void spawnSync('tmux', ['-L', socket, 'kill-server']));

/** The sample rows on screen (with their escape sequences) once the sample is drawn, in a terminal set up by `env`. */
async function sampleRows(env: string): Promise<string[]> {
  const script = join(ROOT, 'test/ui/colour-dashboard.mjs');
  // CI is unset so Ink draws live as in a user's terminal; colour settings come from `env` alone.
  const command = `env -u CI -u CONTINUOUS_INTEGRATION -u COLORTERM -u NO_COLOR -u FORCE_COLOR ${env} ${process.execPath} '${script}'`;
  const started = tmux('new-session', '-d', '-x', '100', '-y', '30', '-s', 'pxl', command);
  expect(started.status, started.stderr).toBe(0);
  const until = Date.now() + 60_000;
  for (;;) {
    const screen = tmux('capture-pane', '-e', '-p', '-t', 'pxl').stdout;
    const lines = screen.split('\n');
    const title = lines.findIndex((l) => l.includes('4 of 4 shown'));
    if (title >= 0) return lines.slice(title + 1, title + 4);
    if (Date.now() > until) throw new Error(`timed out waiting for the samples; last screen:\n${screen}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// Image 0 is red over blue, split at pixel row 3: the second row of cells is half red, half blue.
describe('colour samples in a terminal', () => {
  it('draws 24-bit half blocks where the terminal declares COLORTERM=truecolor', async () => {
    const rows = await sampleRows('COLORTERM=truecolor TERM=xterm-256color');
    expect(rows[0]).toContain(`${ESC}[38;2;255;0;0m${ESC}[48;2;255;0;0m▀`);
    expect(rows[1]).toMatch(new RegExp(`^${ESC}\\[38;2;255;0;0m${ESC}\\[48;2;0;0;255m▀{8}`));
    expect(rows[2]).toMatch(new RegExp(`^${ESC}\\[38;2;0;0;255m${ESC}\\[48;2;0;0;255m▀`));
    expect(rows[1]).toContain(`${ESC}[38;2;0;255;0m${ESC}[48;2;255;0;255m▀`); // image 1: green over magenta
  }, 90_000);

  it('falls back to the 256-colour palette in a 256-colour terminal', async () => {
    const rows = await sampleRows('TERM=xterm-256color');
    expect(rows[1]).toMatch(new RegExp(`^${ESC}\\[38;5;196m${ESC}\\[48;5;21m▀{8}`)); // red over blue in the 6x6x6 cube
    expect(rows.join('')).not.toContain('38;2;');
  }, 90_000);

  it('falls back to grey shades without colour (NO_COLOR)', async () => {
    const rows = await sampleRows('NO_COLOR=1 TERM=xterm-256color');
    const plain = rows.map((r) => r.replace(/\x1b\[[0-9;]*m/g, ''));
    // Red and blue are a third bright (░); image 2's white bottom is full (█).
    expect(plain[1]).toMatch(/^░{8} {2}/);
    expect(plain[2]).toMatch(/^░{8} {2}.{8} {2}█{8}/);
    expect(rows.join('')).not.toMatch(/38;[25];|▀/);
  }, 90_000);
});
