// Members a sweep runs side by side share the machine's memory: each plans its step in its part.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SweepState } from '../../src/sweep/state.js';
import { pxl, ROOT } from '../helpers/cli.js';
import { tempDir, writeFiles } from '../helpers/tmp.js';

const TINY = join(ROOT, 'test/fixtures/tiny.yaml');

describe('pxl sweep --parallel', () => {
  it("tells each member its share of the sweep's memory", () => {
    const dir = tempDir();
    writeFiles(dir, {
      'p.yaml': [`experiment: ${TINY}`, 'set: {backend: cpu, train.steps: 2, train.sample_every: 0}', 'variants:', '  a: {}', '  b: {model.hidden: 8}', ''].join('\n'),
    });
    // The sweep is given a sliver of the machine; each of its two members gets half of it, too little for a step.
    const r = pxl(['sweep', join(dir, 'p.yaml'), '--runs-dir', join(dir, 'runs'), '--parallel', '2'], { env: { MLFLOW_TRACKING_URI: '', PXL_MEMORY_SHARE: '0.0000002' } });
    expect(r.status, r.stderr).toBe(1);
    const state = JSON.parse(readFileSync(join(dir, 'runs', 'sweeps', 'p', 'state.json'), 'utf8')) as SweepState;
    for (const m of state.members) {
      expect(m.status).toBe('failed');
      expect(m.message).toContain("this run's share (PXL_MEMORY_SHARE=1e-7)");
    }
  }, 120_000);
});
