// The memory a run plans its training step in: the machine's, or its share of it when a
// sweep runs members side by side (PXL_MEMORY_SHARE).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { smallModel } from '../helpers/models.js';
import { floorRefusal, memoryBudget, memoryShareFromEnv } from '../../src/train/memory.js';
import { memorySharePerMember } from '../../src/sweep/runner.js';
import { pxl, ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const GiB = 2 ** 30;

describe('the memory budget', () => {
  it('is three quarters of the machine, times the run’s share', () => {
    expect(memoryBudget('tensorflow', 1, 16 * GiB)).toBe(12 * GiB);
    expect(memoryBudget('tensorflow', 0.25, 16 * GiB)).toBe(3 * GiB);
    expect(memoryBudget('cpu', 0.5, 16 * GiB)).toBe(6 * GiB);
  });

  it('is at most 3.5 GiB on wasm, and less when the share is smaller', () => {
    expect(memoryBudget('wasm', 1, 64 * GiB)).toBe(3.5 * GiB);
    expect(memoryBudget('wasm', 0.25, 8 * GiB)).toBe(1.5 * GiB);
  });

  it('reads the share from PXL_MEMORY_SHARE and refuses a share outside (0, 1]', () => {
    expect(memoryShareFromEnv({})).toBe(1);
    expect(memoryShareFromEnv({ PXL_MEMORY_SHARE: '0.25' })).toBe(0.25);
    for (const bad of ['0', '-1', '2', 'half']) expect(() => memoryShareFromEnv({ PXL_MEMORY_SHARE: bad })).toThrow(/PXL_MEMORY_SHARE must be a fraction/);
  });

  it('is split between the members a sweep runs side by side', () => {
    expect(Number(memorySharePerMember(1))).toBe(1);
    expect(Number(memorySharePerMember(4))).toBe(0.25);
    expect(Number(memorySharePerMember(2, '0.5'))).toBe(0.25); // a sweep given half the machine
    expect(memorySharePerMember(2, 'half')).toBe('half'); // left for the member to report
  });

  it('refuses a step whose floor fits the machine but not the share', () => {
    const config = smallModel({ hidden: 8, blocks: { count: 2 } });
    const image = { height: 28, width: 28, channels: 1 };
    const machine = 16 * 2 ** 20; // 16 MiB: 12 MiB for the whole machine, 3 MiB for a quarter
    const at = (share: number) => floorRefusal(config, image, 10, 2, true, memoryBudget('tensorflow', share, machine), 'test');
    expect(at(1)).toBeNull();
    expect(at(0.25)).toMatch(/needs at least .* and 0\.0 GB is available \(test\)/);
  });
});

describe('a run given a share of the memory', () => {
  it('plans within its share and refuses, with exit 2, a step that does not fit it', () => {
    const runsDir = join(tempDir(), 'runs');
    const tiny = join(ROOT, 'test/fixtures/tiny.yaml');
    const r = pxl(['run', tiny, '--runs-dir', runsDir, '--reporter', 'plain'], { env: { PXL_MEMORY_SHARE: '0.0000001' } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("this run's share (PXL_MEMORY_SHARE=1e-7) gives it 0.0 GB");
    expect(existsSync(runsDir)).toBe(false);
  });
});
