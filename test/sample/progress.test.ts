// The progress line: in a terminal from the start, rewritten in place; in a log, silent while
// the work is quick, then a line now and then. Driven by a clock the test sets.
import { describe, expect, it } from 'vitest';
import { progressLine } from '../../src/cli/progress.js';

function fake(isTTY: boolean) {
  const writes: string[] = [];
  let t = 0;
  const out = { isTTY, write: (s: string) => void writes.push(s) };
  return { writes, out, at: (ms: number) => (t = ms), now: () => t };
}

describe('progressLine', () => {
  it('says nothing in a log while the work is quick', () => {
    const f = fake(false);
    const p = progressLine({ label: 'sampling 4 images', unit: 'row', out: f.out, now: f.now });
    for (let r = 1; r <= 28; r++) {
      f.at(r * 50);
      p.update(r, 28);
    }
    p.end();
    expect(f.writes).toEqual([]);
  });

  it('in a log, prints a line once the work has taken a while, then at most every 10 s', () => {
    const f = fake(false);
    const p = progressLine({ label: 'sampling 64 images', unit: 'row', out: f.out, now: f.now });
    for (let r = 1; r <= 28; r++) {
      f.at(r * 1000);
      p.update(r, 28);
    }
    p.end();
    expect(f.writes).toEqual([
      'sampling 64 images: row 3/28 (10%), 3s so far, about 25s left\n',
      'sampling 64 images: row 13/28 (46%), 13s so far, about 15s left\n',
      'sampling 64 images: row 23/28 (82%), 23s so far, about 5s left\n',
    ]);
  });

  it('in a terminal, rewrites one line from the first update and ends it', () => {
    const f = fake(true);
    const p = progressLine({ label: 'sampling 2 images', unit: 'row', out: f.out, now: f.now });
    f.at(10);
    p.update(1, 2);
    f.at(20);
    p.update(2, 2);
    p.end();
    expect(f.writes).toEqual(['\r\x1b[Ksampling 2 images: row 1/2 (50%), 0s so far, about 0s left', '\r\x1b[Ksampling 2 images: row 2/2 (100%), 0s so far', '\n']);
  });
});
