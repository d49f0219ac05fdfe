// src/config/types.ts is generated from the schema (scripts/gen-config-types.mjs, run by
// npm run build and npm test): a schema change without a regeneration fails here.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../scripts/gen-config-types.mjs', import.meta.url));

describe('config types', () => {
  it('are what the schema generates', () => {
    const r = spawnSync(process.execPath, [script, '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
