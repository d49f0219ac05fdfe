// The connected dashboard: keys, terminal resizes, the run subscriber drawing to a terminal,
// and how `pxl run` picks a reporter and decides a stop.
import { render } from 'ink-testing-library';
import { Writable } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { isCI, pickReporter, stopper } from '../../src/cli/commands/run.js';
import { Dashboard, type StopKey } from '../../src/ui/dashboard/app.js';
import { createDashboard } from '../../src/ui/dashboard/index.js';
import { createRedrawPacer } from '../../src/ui/dashboard/redraw-pacer.js';
import { record, type Recording } from './record.js';

const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));
const plain = (s: string | undefined) => stripVTControlCharacters(s ?? '').split('\n').map((l) => l.trimEnd());

let run: Recording;
beforeAll(async () => {
  run = await record();
});

let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  vi.restoreAllMocks();
});

function mountApp(events = run.events) {
  const pacer = createRedrawPacer({ minMs: 10, maxMs: 10, budget: 1 });
  const keys: StopKey[] = [];
  const r = render(<Dashboard pacer={pacer} color={false} onStopKey={(k) => keys.push(k)} />);
  cleanup = r.unmount;
  for (const e of events) pacer.dispatch(e);
  return { r, keys, pacer };
}

describe('Dashboard', () => {
  it('turns q and Ctrl-C (a key in raw mode, not a signal) into stop requests', async () => {
    const { r, keys } = mountApp();
    await tick();
    r.stdin.write('q');
    r.stdin.write('\u0003');
    r.stdin.write('x');
    expect(keys).toEqual(['q', 'Ctrl-C']);
  });

  it('advances the busy sign at the redraw pace while the run samples, and stops it after', async () => {
    const upTo = run.events.findIndex((e) => e.type === 'sample-start');
    const { r, pacer } = mountApp(run.events.slice(0, upTo + 1));
    const signs = new Set<string>();
    for (let i = 0; i < 5; i++) {
      await tick(25);
      signs.add(plain(r.lastFrame()).at(-1)!.slice(0, 1));
    }
    expect(signs.size).toBeGreaterThan(1);
    expect(plain(r.lastFrame()).at(-1)).toMatch(/^. sampling 4 images \(cached\)/);
    pacer.dispatch(run.events[upTo + 1]); // the sample
    await tick(25);
    expect(plain(r.lastFrame()).at(-1)).toBe('training · q stop · Ctrl-C twice quit at once');
  });

  it('redraws to the new width when the terminal is resized', async () => {
    const { r } = mountApp();
    await tick();
    const wide = plain(r.lastFrame());
    expect(Math.max(...wide.map((l) => l.length))).toBeGreaterThan(90);
    Object.defineProperty(r.stdout, 'columns', { value: 60, configurable: true });
    r.stdout.emit('resize');
    await tick();
    const narrow = plain(r.lastFrame());
    expect(Math.max(...narrow.map((l) => l.length))).toBeLessThan(60);
    expect(narrow.find((l) => l.startsWith('samples'))).toContain('of 4 shown');
  });
});

/** A terminal that keeps what is written to it. */
function fakeTerminal(columns = 100, rows = 40) {
  let written = '';
  const out = new Writable({
    write(chunk, _enc, done) {
      written += String(chunk);
      done();
    },
  });
  return { out: Object.assign(out, { isTTY: true, columns, rows, hasColors: () => false }) as unknown as NodeJS.WriteStream, text: () => written };
}

describe('createDashboard', () => {
  it('draws from the first event on and leaves the final frame when closed', async () => {
    const term = fakeTerminal();
    const dash = createDashboard({ stdout: term.out, onStopKey: () => {}, patchConsole: false, links: [{ label: 'mlflow', url: 'http://127.0.0.1:5000/r/1' }] });
    expect(term.text()).toBe(''); // nothing before the run starts
    for (const e of run.events) await dash.listener(e);
    await dash.close();
    const lines = plain(term.text());
    expect(lines.some((l) => l.startsWith('pxl tiny · '))).toBe(true);
    expect(lines).toContain('mlflow http://127.0.0.1:5000/r/1');
    expect(lines.filter((l) => l === 'finished').length).toBeGreaterThan(0);
  });
});

describe('pxl run: reporter and stop', () => {
  it('shows the dashboard only in a terminal outside CI, unless told', () => {
    expect(pickReporter(undefined, true, {})).toBe('dashboard');
    expect(pickReporter(undefined, true, { CI: 'false' })).toBe('dashboard');
    expect(pickReporter(undefined, true, { CI: 'true' })).toBe('plain');
    expect(pickReporter(undefined, false, {})).toBe('plain');
    expect(pickReporter('dashboard', false, { CI: '1' })).toBe('dashboard');
    expect(pickReporter('json', true, {})).toBe('json');
    expect(() => pickReporter('fancy', true, {})).toThrow('--reporter must be dashboard, plain or json; found "fancy"');
    expect([isCI({ CONTINUOUS_INTEGRATION: 'yes' }), isCI({ CI: '0' })]).toEqual([true, false]);
  });

  it('stops gracefully on the first request and exits at once on a second forceful one', () => {
    const stop = { requested: false };
    const announced: string[] = [];
    const beforeExit = vi.fn();
    const request = stopper(stop, { announce: (s) => announced.push(s), beforeExit });
    const exit = vi.spyOn(process, 'exit').mockImplementation(((code: number) => {
      throw new Error(`exit ${code}`);
    }) as never);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    request('q', false);
    expect(stop.requested).toBe(true);
    expect(announced).toEqual(['q']);
    request('q', false); // a second q changes nothing
    expect(exit).not.toHaveBeenCalled();
    expect(() => request('Ctrl-C', true)).toThrow('exit 130');
    expect(beforeExit).toHaveBeenCalledOnce();
  });
});
