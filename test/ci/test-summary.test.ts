// scripts/test-summary.mjs, the last line .ci/run prints: "N passed, N failed, N skipped",
// and its exit status, on reports in the shape vitest's JSON reporter writes.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir();

function summary(report: Record<string, unknown> | null): { status: number | null; last: string; stderr: string } {
  const file = join(dir, `report-${Math.random().toString(36).slice(2)}.json`);
  if (report) writeFileSync(file, JSON.stringify(report));
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/test-summary.mjs'), file], { encoding: 'utf8' });
  return { status: r.status, last: r.stdout.trim().split('\n').at(-1)!, stderr: r.stderr };
}

const file = (name: string, status: string, tests: string[]) => ({ name, status, message: '', assertionResults: tests.map((s) => ({ status: s })) });

describe('the CI summary line', () => {
  it('counts skipped tests after passed and failed', () => {
    const r = summary({ numPassedTests: 2, numFailedTests: 0, numPendingTests: 6, numTodoTests: 1, testResults: [file('a.test.ts', 'passed', ['passed', 'passed', 'skipped'])] });
    expect(r.last).toBe('2 passed, 0 failed, 7 skipped');
    expect(r.status).toBe(0);
  });

  it('fails when no test ran, even if some were skipped', () => {
    const r = summary({ numPassedTests: 0, numFailedTests: 0, numPendingTests: 5, numTodoTests: 0, testResults: [file('a.test.ts', 'passed', ['skipped'])] });
    expect(r.last).toBe('0 passed, 0 failed, 5 skipped');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('test-summary: no test ran (5 skipped)');
  });

  it('fails on a failed test, and counts a file that crashed before its tests as one failure', () => {
    const r = summary({
      numPassedTests: 3, numFailedTests: 1, numPendingTests: 0, numTodoTests: 0,
      testResults: [file('a.test.ts', 'failed', ['passed', 'failed']), { name: 'b.test.ts', status: 'failed', message: 'SyntaxError: x', assertionResults: [] }],
    });
    expect(r.last).toBe('3 passed, 2 failed, 0 skipped');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('b.test.ts failed to run: SyntaxError: x');
  });

  it('fails without a report', () => {
    const r = summary(null);
    expect(r.last).toBe('0 passed, 1 failed, 0 skipped');
    expect(r.status).toBe(1);
  });
});
