// `npm run test:gpu-build`: the tests of the GPU build (test/gpu-build), after the script has built it.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/gpu-build/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
  },
});
