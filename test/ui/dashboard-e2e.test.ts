// `pxl run` with its dashboard in a real terminal: tmux runs it, capture-pane reads the screen,
// send-keys presses q. tmux comes from scripts/setup-system.sh; without it this test fails.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PXL, ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const SOCKET = `pxl-test-${process.pid}`; // a tmux server of its own, never the user's
const tmux = (...args: string[]) => {
  const r = spawnSync('tmux', ['-L', SOCKET, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  if (r.error) throw new Error(`tmux is needed for this test (scripts/setup-system.sh installs it): ${r.error.message}`);
  return r;
};
const screen = () => tmux('capture-pane', '-p', '-t', 'pxl').stdout;
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Polls until `test` holds, failing with the last value read after `seconds`. */
async function waitFor<T>(read: () => T, test: (v: T) => boolean, seconds: number, what: string): Promise<T> {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const v = read();
    if (test(v)) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}; last read:\n${String(v)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

afterAll(() => void spawnSync('tmux', ['-L', SOCKET, 'kill-server']));

describe('pxl run dashboard in a terminal', () => {
  it('shows progress, loss and samples; q stops with a checkpoint and exit status 130', async () => {
    const dir = tempDir();
    const runsDir = join(dir, 'runs');
    const codeFile = join(dir, 'exit-code');
    const args = [
      'run', join(ROOT, 'test/fixtures/tiny.yaml'), '--set', 'backend=wasm', '--runs-dir', runsDir,
      // Long enough to be stopped by hand; samples and evaluations early and often.
      '--set', 'train.steps=100000', '--set', 'train.sample_every=10', '--set', 'train.eval_every=10', '--set', 'train.checkpoint_every=0',
    ];
    // CI is unset so the dashboard is chosen as in a user's terminal; the exit status goes to a file.
    const command = `env -u CI -u CONTINUOUS_INTEGRATION TERM=xterm-256color ${[process.execPath, PXL, ...args].map(quote).join(' ')}; echo $? > ${quote(codeFile)}`;
    expect(tmux('new-session', '-d', '-x', '110', '-y', '40', '-s', 'pxl', command, ';', 'set-option', '-t', 'pxl', 'remain-on-exit', 'on').status).toBe(0);

    const live = await waitFor(screen, (s) => /samples step \d+ · cached/.test(s) && /test \d\.\d{3} at step/.test(s), 120, 'samples and a test evaluation on screen');
    expect(live).toMatch(/^pxl tiny · \d{8}-\d{6}-[0-9a-f]{4} · [\d,]+ parameters$/m);
    expect(live).toMatch(/^run +\S+ +[\d,]+\/100,000 +\d+%$/m);
    expect(live).toMatch(/^[\d.]+ steps\/s · [\d,]+ img\/s · (lr \S+ · )?elapsed \d+s · eta /m);
    expect(live).toMatch(/^train bits\/dim \d\.\d{3} /m);
    expect(live).toMatch(/^ +\d\.\d{3}[┤┼]/m); // the chart's axis
    expect(live).toMatch(/[░▒▓█]{3}/); // sampled digits
    expect(live).toContain('q stop');

    tmux('send-keys', '-t', 'pxl', 'q');
    const code = await waitFor(() => (existsSync(codeFile) ? readFileSync(codeFile, 'utf8').trim() : ''), (c) => c !== '', 60, 'pxl to exit');
    const final = screen();
    expect(code).toBe('130');
    expect(final).toMatch(/^interrupted: \d+ steps in \d+s; train \d\.\d{3} bits\/dim/m);
    expect(final).toContain('resume with: pxl run --resume');

    const [experiment] = readdirSync(runsDir);
    const [id] = readdirSync(join(runsDir, experiment));
    const run = join(runsDir, experiment, id);
    const summary = JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8'));
    expect(summary.status).toBe('interrupted');
    expect(summary.steps).toBeGreaterThan(0);
    expect(readdirSync(join(run, 'checkpoints'))).toContain(`step-${String(summary.steps).padStart(8, '0')}`);
  }, 240_000); // the waits above are the real limits
});
