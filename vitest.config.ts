import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    // The GPU build's own tests need it built (2.4 GB of downloads): `npm run test:gpu-build`.
    exclude: [...configDefaults.exclude, 'test/gpu-build/**'],
    testTimeout: 60_000,
    hookTimeout: 300_000,
    // tfjs backends are process-global: isolate files in their own processes.
    pool: 'forks',
    // Vitest's default is one file at a time on 2 cores (cores - 1); many files here wait on
    // child processes and servers (pxl commands, MLflow, Redis), so two at once use both cores.
    maxWorkers: 2,
    // Test files run side by side, each training tiny models: one wasm thread each (and in
    // the runs they start) instead of one per core. Tests of threads ask for them.
    env: { PXL_WASM_THREADS: '1' },
    // One real MLflow server for the run; it boots in the background (see the file).
    globalSetup: ['test/setup/mlflow-server.ts'],
  },
});
