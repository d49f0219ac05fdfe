import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 60_000,
    hookTimeout: 300_000,
    // tfjs backends are process-global: isolate files in their own processes.
    pool: 'forks',
    // One real MLflow server for the run; it boots in the background (see the file).
    globalSetup: ['test/setup/mlflow-server.ts'],
  },
});
