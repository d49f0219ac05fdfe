#!/usr/bin/env node
// Reads vitest's JSON report and prints, as its very last line, the line CI counts:
// "N passed, N failed, N skipped". Exits non-zero when the report is missing, a test failed,
// or none ran (every test skipped counts as none).
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? '.cache/vitest.json';
let report = null;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch (err) {
  console.error(`test-summary: cannot read vitest report ${file}: ${err.message}`);
}
const passed = report?.numPassedTests ?? 0;
// A test file that crashes before its tests run reports no tests: count it as one failure.
const crashed = (report?.testResults ?? []).filter((f) => f.status === 'failed' && (f.assertionResults ?? []).length === 0);
for (const f of crashed) console.error(`test-summary: ${f.name} failed to run: ${(f.message ?? '').split('\n')[0]}`);
const failed = (report?.numFailedTests ?? 0) + crashed.length + (report ? 0 : 1);
// vitest reports skipped tests as pending, and it.todo as todo.
const skipped = (report?.numPendingTests ?? 0) + (report?.numTodoTests ?? 0);
if (passed + failed === 0) console.error(`test-summary: no test ran${skipped ? ` (${skipped} skipped)` : ''}`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
