#!/usr/bin/env bash
# Compiles the backend benchmark with the project's TypeScript and runs it.
# Usage: bash bench/backend-run.sh [--full] [--step-only] [--steps N]
set -euo pipefail
cd "$(dirname "$0")/.."
out=.cache/bench-backend
rm -rf "$out"
npx tsc --outDir "$out" --rootDir . --module nodenext --moduleResolution nodenext --target es2022 \
  --strict --skipLibCheck --esModuleInterop bench/backend-conv-grads.ts
node "$out/bench/backend-conv-grads.js" "$@"
